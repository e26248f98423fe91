"""Feature transforms for sleep models, usable in a scikit-learn pipeline (a worked example of a
model's own code: tests/models/components_train.py fits a model whose pickle refers to it)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

MINUTES_PER_HOUR = 60.0


def log_minutes(values: ArrayLike) -> np.ndarray:
    """Durations in minutes on a log scale: a 30-minute wait differs from a 10-minute one more
    than a 130-minute one does from a 110-minute one."""
    result: np.ndarray = np.log1p(np.clip(np.asarray(values, dtype=np.float64), 0.0, None))
    return result
