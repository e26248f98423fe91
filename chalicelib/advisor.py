"""The sleep-advice model asked for advice, through whichever runtime serves it.

The scikit-learn predictor builds rows as the estimator was fitted on them; the compiled one is
chalicelib.compiled's. Loading (hashes, versions, unpickling) is chalicelib.model_package's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from chalicelib.metadata import SCIKIT_LEARN, FeatureSpec, ModelLoadError, ModelMetadata, Runtime


def serving_problem(estimator: object, metadata: ModelMetadata) -> str | None:
    """Why the service could not serve `estimator` as `metadata` describes it, or None.

    Checked when a model is saved and again when it is loaded, so a model that slipped past
    the first (written by hand, say) still never serves.
    """
    if not callable(getattr(estimator, "predict_proba", None)):
        return (f"{type(estimator).__name__} has no predict_proba; the service answers with "
                "class probabilities, so use a classifier that has one")
    labels = np.asarray(getattr(estimator, "classes_", [])).tolist()
    if not all(isinstance(label, str) for label in labels):
        return (f"the estimator was trained on labels {labels}, not on the class ids "
                f"{list(metadata.class_ids)}; train on the class ids (strings) so each "
                "answer names its advice")
    if sorted(labels) != sorted(metadata.class_ids):
        return (f"estimator classes {labels} do not match the metadata classes "
                f"{list(metadata.class_ids)}")
    fitted_names = getattr(estimator, "feature_names_in_", None)
    fitted_on = "array" if fitted_names is None else "dataframe"
    if metadata.input != fitted_on:
        return (f"the metadata says the model takes {metadata.input!r} input but the estimator "
                f"was fitted on {'a DataFrame' if fitted_names is not None else 'an array'}")
    if fitted_names is not None and list(fitted_names) != list(metadata.feature_names):
        return (f"the estimator was fitted on the columns {list(fitted_names)} but the metadata "
                f"lists the features {list(metadata.feature_names)}; names and order must be "
                "the same, because the service builds each row in the metadata's order")
    # A pipeline whose first step is the team's own transformer may not record how many
    # columns it was fitted on; the golden answers, asked as requests, then check the width.
    fitted_width = getattr(estimator, "n_features_in_", None)
    if fitted_width is not None and fitted_width != len(metadata.features):
        return (f"estimator expects {fitted_width} features, the metadata describes "
                f"{len(metadata.features)}")
    return None


Rows = Callable[[Sequence[Sequence[float]] | np.ndarray], Any]


def category_strings(spec: FeatureSpec, codes: np.ndarray) -> np.ndarray:
    """A category column's codes as the strings they stand for (an object array, the form
    scikit-learn's encoders and ONNX Runtime's string tensors take)."""
    return np.asarray(spec.categories, dtype=object)[codes.astype(np.intp)]


def _row_builder(metadata: ModelMetadata, *, dataframe: bool) -> Rows:
    """Rows as the estimator was fitted on them.

    An estimator fitted on a pandas DataFrame records its column names (`feature_names_in_`)
    and may select columns by name (a ColumnTransformer), so it gets a DataFrame with the
    metadata's columns and dtypes, a category as its strings; anything else gets a float64
    array, a category as its codes. pandas is imported only for such a model, so the array
    path pays nothing for it at start-up.
    """
    if not dataframe:
        return lambda nights: np.asarray(nights, dtype=np.float64)
    import pandas as pd

    def frame(nights: Sequence[Sequence[float]] | np.ndarray) -> Any:
        matrix = np.asarray(nights, dtype=np.float64).reshape(-1, len(metadata.features))
        return pd.DataFrame({
            spec.name: (category_strings(spec, column) if spec.categories is not None
                        else column.astype(np.int64) if spec.type == "integer" else column)
            for spec, column in zip(metadata.features, matrix.T, strict=True)})

    return frame


class Predictor(Protocol):
    """What computes the probabilities: scikit-learn's estimator or the compiled graph."""

    runtime: Runtime
    # The order of the probability columns.
    classes: tuple[str, ...]

    def predict_proba(self, nights: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """One row of class probabilities per night (feature values in the metadata's order)."""
        ...


class ScikitLearnPredictor:
    """The unpickled estimator, given rows as it was fitted on them."""

    runtime: Runtime = SCIKIT_LEARN

    def __init__(self, estimator: object, metadata: ModelMetadata, source: Path) -> None:
        problem = serving_problem(estimator, metadata)
        if problem is not None:
            raise ModelLoadError(f"{source}: {problem}")
        self.estimator = estimator
        self.classes = tuple(str(c) for c in getattr(estimator, "classes_", []))
        # Fitted on a DataFrame: it recorded its column names and may select columns by name.
        self.takes_dataframe = metadata.input == "dataframe"
        self._rows = _row_builder(metadata, dataframe=self.takes_dataframe)

    def predict_proba(self, nights: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        probabilities: np.ndarray = self.estimator.predict_proba(  # type: ignore[attr-defined]
            self._rows(nights))
        return probabilities


def advised_columns(probabilities: np.ndarray, classes: Sequence[str],
                    metadata: ModelMetadata) -> np.ndarray:
    """The advised class's column of each row of probabilities (columns in `classes` order).

    The first of equal probabilities wins, in the estimator's class order, as scikit-learn's
    predict does; both runtimes share this one rule. A model of two classes with a decision
    threshold advises its class from the threshold on instead.
    """
    threshold = metadata.decision_threshold
    if threshold is None:
        best: np.ndarray = probabilities.argmax(axis=1)
        return best
    column = list(classes).index(threshold.advice_id)
    return np.where(probabilities[:, column] >= threshold.probability, column, 1 - column)


@dataclass(frozen=True)
class Advice:
    advice_id: str
    advice: str
    probability: float
    probabilities: dict[str, float]


class SleepAdvisor:
    """A verified model, whichever runtime computes it, and the metadata that describes it."""

    def __init__(self, metadata: ModelMetadata, predictor: Predictor) -> None:
        self.metadata = metadata
        self.predictor = predictor
        self._classes = list(predictor.classes)
        if sorted(self._classes) != sorted(metadata.class_ids):
            raise ModelLoadError(f"the {predictor.runtime} model answers for the classes "
                                 f"{self._classes}, the metadata declares "
                                 f"{list(metadata.class_ids)}")
        self._advice_text = {c.id: c.advice for c in metadata.classes}

    @property
    def runtime(self) -> Runtime:
        return self.predictor.runtime

    def advise(self, nights: Sequence[Sequence[float]]) -> list[Advice]:
        """Advice for each row of feature values, given in the metadata's feature order."""
        probabilities = self.predictor.predict_proba(nights)
        best = advised_columns(probabilities, self._classes, self.metadata)
        class_order = self.metadata.class_ids
        results = []
        for row, best_index in zip(probabilities, best, strict=True):
            by_class = dict(zip(self._classes, row.tolist(), strict=True))
            advice_id = self._classes[best_index]
            results.append(
                Advice(
                    advice_id=advice_id,
                    advice=self._advice_text[advice_id],
                    probability=by_class[advice_id],
                    probabilities={c: by_class[c] for c in class_order},
                )
            )
        return results
