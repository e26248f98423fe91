"""Facts the service and its infrastructure must agree on, each written once.

Standard library only, so that everything can import it without importing anything else: the
service to name what it writes, the pre-traffic hook, `infra/` for the dashboard and alarms, the
tests. (The stack does load the model, through chalicelib.model_package, so that a model that
could not serve fails `cdk synth`; its names and limits it reads from here.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

# app.py, chalicelib/ and model/ sit side by side both in the repository and in the image
# (/var/task); in the repository, infra/, tests/ and docs/ beside them.
PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
# The model the image ships and `chalice local` serves unless SLEEP_ADVISOR_MODEL_DIR says
# otherwise.
BUNDLED_MODEL_DIR: Final = PROJECT_ROOT / "model"

# The Chalice app name; also the Powertools service name (a dimension of every custom metric)
# and the prefix of every AWS resource name a stage creates: sleep-advisor-<stage>-...
SERVICE_NAME: Final = "sleep-advisor"
# CloudWatch namespace of the custom metrics; a deployed stage writes to <namespace>/<stage>.
METRICS_NAMESPACE: Final = "SleepAdvisor"
METRICS_NAMESPACE_VARIABLE: Final = "POWERTOOLS_METRICS_NAMESPACE"
# The API Gateway stage Chalice deploys the API to (the first path segment of every URL).
API_STAGE_NAME: Final = "api"

# Custom metrics cost $0.30 a month each, so the function writes one (CloudWatch Embedded
# Metric Format): the one its alarms read. Everything else the dashboard draws comes from
# Logs Insights queries over the JSON log lines below and Lambda's own platform.report lines.
PREDICTION_PROBABILITY: Final = "PredictionProbability"
SERVICE_DIMENSION: Final = "service"
MODEL_VERSION_DIMENSION: Final = "ModelVersion"
# The Lambda version that answered (AWS_LAMBDA_FUNCTION_VERSION), in a second dimension set of
# the same metric: the rollout alarm judges the version being rolled out, and nothing else.
FUNCTION_VERSION_DIMENSION: Final = "FunctionVersion"

# The pre-traffic hook's golden questions carry this in the invocation's client context
# (Lambda's ClientContext, which only a direct invoke can set, never API Gateway): they are
# answered exactly as /predict answers, but counted in no metric and no dashboard series.
GOLDEN_CHECK_CONTEXT: Final = {"sleep-advisor-check": "golden"}

# The `message` of each function log line a dashboard query reads.
PREDICTION_LOG: Final = "prediction"
REJECTION_LOG: Final = "request rejected"
MODEL_LOADED_LOG: Final = "model loaded"
GOLDEN_CHECK_LOG: Final = "golden check answered"
# Counts of nights per feature bin and answers per class (chalicelib.drift), never a value: what
# the scheduled drift check reads. Written by a logger of its own, so that none of a request's
# keys (its ids, its trace) can reach such a line.
AGGREGATE_LOG: Final = "night aggregate"
AGGREGATE_LOGGER: Final = f"{SERVICE_NAME}-aggregates"
# The drift check's line: every feature's distance from the training baseline.
DRIFT_CHECK_LOG: Final = "drift check"
# Its one metric: the largest distance (PSI) of any feature or of the answer mix.
DRIFT_SCORE: Final = "DriftScore"

# NFR-5: every prediction, cold start included, within 10 s.
LATENCY_OBJECTIVE_MS: Final = 10_000
# API Gateway's REST integration timeout: an answer later than this reaches nobody.
API_GATEWAY_TIMEOUT_S: Final = 29

# Request limits. The stack hands the stage's values to the function (as these environment
# variables) and to API Gateway's request model, so the two can never disagree.
ENVIRONMENT_PREFIX: Final = "SLEEP_ADVISOR_"
# What the stack tells the functions that write to on-call (the pre-traffic hook, its failure
# reporter, the drift check): the alerts topic and the stage's name.
ALERTS_TOPIC_VARIABLE: Final = ENVIRONMENT_PREFIX + "ALERTS_TOPIC"
STAGE_VARIABLE: Final = ENVIRONMENT_PREFIX + "STAGE"
# 100 nights covers a quarter of history in one call while bounding one request's work; it is
# also the most values one EMF document may carry for a metric.
MAX_BATCH_INSTANCES: Final = 100
# A full batch of the bundled model's 100 nights is at most 33 KiB of JSON
# (schemas.largest_body_bytes); 64 KiB leaves room for spacing and for wider models.
MAX_BODY_BYTES: Final = 64 * 1024
# Lambda's limit on a synchronous invocation's payload: no body limit can be above it.
LAMBDA_SYNC_PAYLOAD_BYTES: Final = 6 * 1024 * 1024

# A container answers one request at a time, so BLAS/OpenMP thread pools have nothing to share
# out (and below 1,769 MB, one vCPU, they compete for a fraction of one). Lambda has no
# /dev/shm, where joblib's probe would log a warning at every cold start. The image sets these
# (Dockerfile ENV, checked against this by a test); the model loader caps thread pools at this
# many threads on any host whose environment does not.
THREADS: Final = 1
SINGLE_THREADED_ENVIRONMENT: Final = {
    "OMP_NUM_THREADS": str(THREADS),
    "OPENBLAS_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
    "JOBLIB_MULTIPROCESSING": "0",
}


def stack_name(stage: str) -> str:
    """The CloudFormation stack of a stage (also Chalice's stage name: the construct id)."""
    return f"SleepAdvisor-{stage}"


def resource_name(stage: str, *parts: str) -> str:
    """The name of a stage's AWS resource: sleep-advisor-<stage>[-part...]."""
    return "-".join((SERVICE_NAME, stage, *parts))


def bounded_name(name: str, limit: int) -> str:
    """`name`, or where AWS allows fewer characters, its start and 8 hex digits of its sha256:
    still unique per stage, and the same at every synth."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:limit - 9]}-{digest}"


def stage_namespace(stage: str) -> str:
    return f"{METRICS_NAMESPACE}/{stage}"
