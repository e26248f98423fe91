"""A model package as the service serves it: verified, unpickled, and checked against its golden
answers, in this one place.

Every caller that must agree with the deployed function loads through `load_model_package`: the
app at initialisation, `make check-model`, `cdk synth`, and `save_model` before it keeps what it
wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import joblib
import sklearn
from threadpoolctl import threadpool_limits

from chalicelib import contract, golden
from chalicelib.advisor import SleepAdvisor
from chalicelib.drift import DriftBaseline, ModelCard, read_baseline
from chalicelib.golden import GoldenAnswers
from chalicelib.metadata import ModelLoadError, ModelMetadata, sha256_of
from chalicelib.schemas import RequestSchema

__all__ = ["ModelLoadError", "ModelPackage", "load_model_package", "unpickle"]


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

    Unpickling runs code, so the hash is checked first; the version is checked because a model
    pickled under another scikit-learn may load and answer wrongly.
    """
    artifact_path = model_dir / metadata.artifact
    if not artifact_path.is_file():
        raise ModelLoadError(f"{artifact_path}: model artifact is missing")
    actual_sha256 = sha256_of(artifact_path)
    if actual_sha256 != metadata.artifact_sha256:
        raise ModelLoadError(
            f"{artifact_path}: sha256 {actual_sha256} does not match "
            f"{metadata.artifact_sha256} in the metadata; the artifact is truncated, corrupted "
            "or was changed after training"
        )
    if metadata.sklearn_version != sklearn.__version__:
        raise ModelLoadError(
            f"{artifact_path}: trained with scikit-learn {metadata.sklearn_version} but "
            f"{sklearn.__version__} is installed; retrain or pin the same version"
        )
    try:
        estimator: object = joblib.load(artifact_path)
    except Exception as error:  # an unpickling failure can raise almost anything
        raise ModelLoadError(f"{artifact_path}: cannot be unpickled: {error!r}") from None
    # The image's ENV makes every thread pool single-threaded from the start (measured: the
    # limits call then costs a cold start 21 ms for nothing); another host (chalice local, a
    # test) gets the same single-threaded model through it.
    if not _single_threaded_by_environment():
        threadpool_limits(limits=contract.THREADS)
    return estimator


def _single_threaded_by_environment() -> bool:
    return all(os.environ.get(name) == value
               for name, value in contract.SINGLE_THREADED_ENVIRONMENT.items())


def load_model_package(
    model_dir: Path,
    *,
    max_batch_instances: int = contract.MAX_BATCH_INSTANCES,
    max_body_bytes: int = contract.MAX_BODY_BYTES,
) -> ModelPackage:
    """Load `model_dir` as the function does; ModelLoadError if it must not serve.

    Order matters: the artifact's hash and library version are checked before unpickling
    (which runs code), the golden answers' hash before they are trusted, the golden questions
    asked through the same request schema that /predict uses; the drift baseline is read last.
    """
    metadata = ModelMetadata.read(model_dir)
    advisor = SleepAdvisor(metadata, unpickle(model_dir, metadata), model_dir / metadata.artifact)
    answers = golden.read_golden(model_dir, metadata)
    schema = RequestSchema(metadata, max_batch_instances=max_batch_instances,
                           max_body_bytes=max_body_bytes)
    golden.verify(advisor, schema, answers)
    baseline = read_baseline(model_dir, metadata)
    return ModelPackage(advisor=advisor, request_schema=schema, golden=answers,
                        baseline=baseline)
