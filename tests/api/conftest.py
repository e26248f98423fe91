"""Fixtures of the API layer's drift tests."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from chalicelib.drift import NightTally


@pytest.fixture
def flushing_tally(app_module: ModuleType) -> Iterator[NightTally]:
    """The app's tally replaced by a new container's, whose clock lets every window be written
    (each reading is 1,000 s after the last, beyond the interval between lines)."""
    ticks = iter(range(0, 10**9, 1000))
    tally = NightTally(app_module.package.baseline, clock=lambda: float(next(ticks)))
    # The app reads its module-level tally at each request.
    kept, vars(app_module)["tally"] = vars(app_module)["tally"], tally
    yield tally
    vars(app_module)["tally"] = kept
