"""Feature transforms for sleep models, usable in a scikit-learn pipeline (a worked example of a
model's own code: tests/models/components_train.py fits a model whose pickle refers to it)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin

MINUTES_PER_HOUR = 60.0


def log_minutes(values: ArrayLike) -> np.ndarray:
    """Durations in minutes on a log scale: a 30-minute wait differs from a 10-minute one more
    than a 130-minute one does from a 110-minute one."""
    result: np.ndarray = np.log1p(np.clip(np.asarray(values, dtype=np.float64), 0.0, None))
    return result


class SleepDebt(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Appends the hours a night fell short of `target_hours` (column `hours_column` holds the
    night's sleep): a pipeline step of the team's own, which records nothing when fitted."""

    def __init__(self, hours_column: int = 0, target_hours: float = 8.0) -> None:
        self.hours_column = hours_column
        self.target_hours = target_hours

    def fit(self, nights: ArrayLike, advice: ArrayLike | None = None) -> SleepDebt:
        return self

    def transform(self, nights: ArrayLike) -> np.ndarray:
        rows = np.asarray(nights, dtype=np.float64)
        debt = np.maximum(0.0, self.target_hours - rows[:, self.hours_column])
        result: np.ndarray = np.column_stack([rows, debt])
        return result
