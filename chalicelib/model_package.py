"""A model package as the service serves it: verified, unpickled, and checked against its golden
answers, in this one place.

Every caller that must agree with the deployed function loads through `load_model_package`: the
app at initialisation, `make check-model`, `cdk synth`, and `save_model` before it keeps what it
wrote.

The model is served by the runtime its metadata names (save_model chose it): the compiled graph
through ONNX Runtime when it answered exactly as scikit-learn, else the pickled estimator. Each
runtime's libraries are imported only when it serves: an image holds only its own.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chalicelib import contract, golden
from chalicelib.advisor import Predictor, ScikitLearnPredictor, SleepAdvisor
from chalicelib.drift import DriftBaseline, ModelCard, read_baseline
from chalicelib.golden import GoldenAnswers
from chalicelib.metadata import (
    ONNX_RUNTIME,
    ModelLoadError,
    ModelMetadata,
    Runtime,
    read_verified_bytes,
)
from chalicelib.pickled import installed_version
from chalicelib.schemas import RequestSchema

__all__ = ["ModelLoadError", "ModelPackage", "RuntimeChoice", "load_model_package", "unpickle"]

# "model": the runtime the metadata names; otherwise that runtime, for a data scientist who
# wants the scikit-learn path locally (SLEEP_ADVISOR_RUNTIME=scikit-learn).
RuntimeChoice = Literal["model", "onnxruntime", "scikit-learn"]


@dataclass(frozen=True)
class ModelPackage:
    advisor: SleepAdvisor
    request_schema: RequestSchema
    golden: GoldenAnswers
    baseline: DriftBaseline

    def model_card(self) -> ModelCard:
        """What GET /model serves: the metadata, and the drift baseline it references."""
        return ModelCard(**self.advisor.metadata.model_dump(), drift_baseline=self.baseline)


def unpickle(model_dir: Path, metadata: ModelMetadata) -> object:
    """The estimator of `model_dir`, unpickled only once its hash and scikit-learn version match.

    Unpickling runs code, so the hash is checked first, of the very bytes unpickled; the version
    is checked because a model pickled under another scikit-learn may load and answer wrongly.
    """
    try:
        import joblib
        import sklearn
    except ImportError as error:
        raise ModelLoadError(
            f"{model_dir}: scikit-learn is not installed ({error}); this image serves the "
            "compiled model, so it holds only ONNX Runtime") from None
    artifact_path = model_dir / metadata.artifact
    pickled = read_verified_bytes(artifact_path, metadata.artifact_sha256, "pickled model")
    for library, version in metadata.libraries.items():
        installed = installed_version(library)
        if installed is None:
            raise ModelLoadError(
                f"{artifact_path}: needs {library}=={version}, which is not installed here; pin "
                f"it in requirements/model-libraries.txt and run `make lock` (model/README.md, "
                f"\"Using another library\")")
        if installed != version:
            raise ModelLoadError(
                f"{artifact_path}: saved with {library} {version} but {installed} is installed; "
                "save the model again, or pin the same version")
    if metadata.sklearn_version != sklearn.__version__:
        raise ModelLoadError(
            f"{artifact_path}: trained with scikit-learn {metadata.sklearn_version} but "
            f"{sklearn.__version__} is installed; retrain or pin the same version"
        )
    try:
        estimator: object = joblib.load(io.BytesIO(pickled))
    except Exception as error:  # an unpickling failure can raise almost anything
        raise ModelLoadError(f"{artifact_path}: cannot be unpickled: {error!r}") from None
    # The image's ENV makes every thread pool single-threaded from the start (measured: the
    # limits call then costs a cold start 21 ms for nothing); another host (chalice local, a
    # test) gets the same single-threaded model through it.
    if not _single_threaded_by_environment():
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=contract.THREADS)
    return estimator


def _single_threaded_by_environment() -> bool:
    return all(os.environ.get(name) == value
               for name, value in contract.SINGLE_THREADED_ENVIRONMENT.items())


def load_predictor(model_dir: Path, metadata: ModelMetadata, runtime: Runtime) -> Predictor:
    """What computes the probabilities of `model_dir` in `runtime`, its artifact verified."""
    if runtime == ONNX_RUNTIME:
        try:
            from chalicelib.compiled import load_compiled
        except ImportError as error:
            raise ModelLoadError(
                f"{model_dir}: ONNX Runtime is not installed ({error}); this image serves the "
                "model with scikit-learn") from None
        return load_compiled(model_dir, metadata)
    return ScikitLearnPredictor(unpickle(model_dir, metadata), metadata,
                                model_dir / metadata.artifact)


def load_model_package(
    model_dir: Path,
    *,
    max_batch_instances: int = contract.MAX_BATCH_INSTANCES,
    max_body_bytes: int = contract.MAX_BODY_BYTES,
    runtime: RuntimeChoice = "model",
) -> ModelPackage:
    """Load `model_dir` as the function does; ModelLoadError if it must not serve.

    Order matters: the artifact's hash and library version are checked before it is loaded
    (unpickling runs code), the golden answers' hash before they are trusted, the golden
    questions asked through the same request schema that /predict uses, of the runtime that
    will serve; the drift baseline is read last.
    """
    metadata = ModelMetadata.read(model_dir)
    serving: Runtime = metadata.serving.runtime if runtime == "model" else runtime
    advisor = SleepAdvisor(metadata, load_predictor(model_dir, metadata, serving))
    answers = golden.read_golden(model_dir, metadata)
    schema = RequestSchema(metadata, max_batch_instances=max_batch_instances,
                           max_body_bytes=max_body_bytes)
    golden.verify(advisor, schema, answers)
    baseline = read_baseline(model_dir, metadata)
    return ModelPackage(advisor=advisor, request_schema=schema, golden=answers,
                        baseline=baseline)
