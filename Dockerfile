# The function's container image, built by `cdk deploy` (a DockerImageAsset in infra/).
# AWS Lambda's Python 3.12 base image, pinned by digest; refresh the digest with
# `docker buildx imagetools inspect public.ecr.aws/lambda/python:3.12` and rerun the tests.
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12@sha256:92c88c1adc374b073b07b12bd4045497af7da68230d47c2b330423115c5850dc
FROM ${BASE_IMAGE}

COPY requirements/runtime.lock requirements/runtime-no-deps.lock requirements/scikit-learn.lock \
     requirements/onnxruntime.lock requirements/dataframe.lock requirements/model-libraries.lock \
     requirements/lambda-platform requirements/install-runtime.sh /tmp/requirements/
RUN PIP_NO_CACHE_DIR=1 sh /tmp/requirements/install-runtime.sh "${LAMBDA_TASK_ROOT}" /tmp/requirements

# The runtime that serves the shipped model, read from its metadata: ONNX Runtime when its
# compiled graph answers exactly as scikit-learn (then the image holds no scikit-learn, SciPy,
# joblib or pandas), else scikit-learn (and pandas for a model fitted on a DataFrame). A
# separate step, so a new model leaves the layer above cached.
COPY model/metadata.json /tmp/requirements/model-metadata.json
RUN PIP_NO_CACHE_DIR=1 sh /tmp/requirements/install-runtime.sh "${LAMBDA_TASK_ROOT}" /tmp/requirements \
        /tmp/requirements/model-metadata.json \
    && rm -rf /tmp/requirements

# A container answers one request at a time, so BLAS/OpenMP thread pools have nothing to share
# out; below 1,769 MB (one vCPU) they compete for a fraction of one.
# Lambda has no /dev/shm, so joblib would warn (a non-JSON log line) at every cold start that it
# falls back to serial mode; the service never uses joblib's parallelism, so say so up front.
ENV OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 JOBLIB_MULTIPROCESSING=0

COPY app.py ${LAMBDA_TASK_ROOT}/
COPY chalicelib/ ${LAMBDA_TASK_ROOT}/chalicelib/
# The model's own code (see model/components/__init__.py), as importable in
# the function as in the training script.
COPY model/components/ ${LAMBDA_TASK_ROOT}/model/components/
# The task root is read-only in Lambda: Python cannot cache what it compiles there, so the
# service's own modules would be compiled again at every cold start. Compile them here
# (unchecked-hash: valid whatever the file times; the dependencies got theirs above).
RUN python3 -m compileall -q --invalidation-mode unchecked-hash \
        "${LAMBDA_TASK_ROOT}/app.py" "${LAMBDA_TASK_ROOT}/chalicelib" \
        "${LAMBDA_TASK_ROOT}/model/components" >/dev/null
# The saved model package: model.joblib and, when it converted exactly, model.onnx.
COPY model/model.* model/metadata.json model/golden.json model/baseline.json \
     ${LAMBDA_TASK_ROOT}/model/

CMD ["app.app"]
