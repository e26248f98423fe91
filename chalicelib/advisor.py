"""The sleep-advice model: verified and loaded once per container, then asked for advice."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import sklearn
from pydantic import ValidationError
from threadpoolctl import threadpool_limits

from chalicelib import contract
from chalicelib.metadata import METADATA_FILENAME, ModelMetadata, sha256_of


class ModelLoadError(RuntimeError):
    """The artifact or its metadata cannot be trusted; the service must not start."""


@dataclass(frozen=True)
class Advice:
    advice_id: str
    advice: str
    probability: float
    probabilities: dict[str, float]


class SleepAdvisor:
    """A verified scikit-learn classifier and the metadata that describes it."""

    def __init__(self, metadata: ModelMetadata, estimator: object, source: Path) -> None:
        self.metadata = metadata
        self._estimator = estimator
        estimator_classes = [str(c) for c in getattr(estimator, "classes_", [])]
        if sorted(estimator_classes) != sorted(metadata.class_ids):
            raise ModelLoadError(
                f"{source}: estimator classes {estimator_classes} do not match the metadata "
                f"classes {list(metadata.class_ids)}"
            )
        expected_features = len(metadata.features)
        if getattr(estimator, "n_features_in_", None) != expected_features:
            raise ModelLoadError(
                f"{source}: estimator expects {getattr(estimator, 'n_features_in_', '?')} "
                f"features, the metadata describes {expected_features}"
            )
        if not callable(getattr(estimator, "predict_proba", None)):
            raise ModelLoadError(f"{source}: estimator has no predict_proba")
        self._estimator_classes = estimator_classes
        self._advice_text = {c.id: c.advice for c in metadata.classes}

    @classmethod
    def load(cls, model_dir: Path) -> SleepAdvisor:
        """Verify the artifact against its metadata, then unpickle it.

        Unpickling runs code, so the hash is checked first; the scikit-learn version is
        checked because a model pickled under another version may load and answer wrongly.
        """
        metadata_path = model_dir / METADATA_FILENAME
        try:
            metadata = ModelMetadata.model_validate(
                json.loads(metadata_path.read_text(encoding="utf-8"))
            )
        except FileNotFoundError:
            raise ModelLoadError(f"{metadata_path}: metadata file is missing") from None
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as error:
            raise ModelLoadError(f"{metadata_path}: metadata is invalid: {error}") from None

        artifact_path = model_dir / metadata.artifact
        if not artifact_path.is_file():
            raise ModelLoadError(f"{artifact_path}: model artifact is missing")
        actual_sha256 = sha256_of(artifact_path)
        if actual_sha256 != metadata.artifact_sha256:
            raise ModelLoadError(
                f"{artifact_path}: sha256 {actual_sha256} does not match "
                f"{metadata.artifact_sha256} in {metadata_path.name}; the artifact is "
                "truncated, corrupted or was changed after training"
            )
        if metadata.sklearn_version != sklearn.__version__:
            raise ModelLoadError(
                f"{artifact_path}: trained with scikit-learn {metadata.sklearn_version} but "
                f"{sklearn.__version__} is installed; retrain or pin the same version"
            )
        try:
            estimator = joblib.load(artifact_path)
        except Exception as error:  # an unpickling failure can raise almost anything
            raise ModelLoadError(f"{artifact_path}: cannot be unpickled: {error!r}") from None
        # Lambda gets a fraction of a vCPU: thread pools only add contention there.
        threadpool_limits(limits=contract.THREADS)
        return cls(metadata, estimator, artifact_path)

    def advise(self, nights: Sequence[Sequence[float]]) -> list[Advice]:
        """Advice for each row of feature values, given in the metadata's feature order."""
        rows = np.asarray(nights, dtype=np.float64)
        probabilities = self._estimator.predict_proba(rows)  # type: ignore[attr-defined]
        best = probabilities.argmax(axis=1)
        class_order = self.metadata.class_ids
        results = []
        for row, best_index in zip(probabilities, best, strict=True):
            by_class = dict(zip(self._estimator_classes, row.tolist(), strict=True))
            advice_id = self._estimator_classes[best_index]
            results.append(
                Advice(
                    advice_id=advice_id,
                    advice=self._advice_text[advice_id],
                    probability=by_class[advice_id],
                    probabilities={c: by_class[c] for c in class_order},
                )
            )
        return results
