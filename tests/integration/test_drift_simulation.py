"""The drift simulation on a short, quieter week: the real app's aggregate lines and the real
check, hour by hour. `make drift-simulation` runs the full week at the bill's volume and writes
its figures into docs/monitoring.md; this keeps the same code and its targets honest."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from benchmarks import drift_week
from benchmarks.cost import Profile
from harness.samples import MODEL

# Four days at 30 % of the bill's volume: the shifts start on day 4 at 06:00.
DAYS = 4
VOLUME = 60_000


@pytest.fixture(scope="module")
def simulated(app_module: ModuleType) -> Iterator[dict[str, Any]]:
    kept = vars(app_module)["tally"]
    yield drift_week.simulate(Profile(requests=VOLUME), days=DAYS)
    vars(app_module)["tally"] = kept


def test_a_healthy_week_never_pages(simulated: dict[str, Any]) -> None:
    healthy = simulated["scenarios"]["healthy"]

    assert healthy["false_pages"] == healthy["pages"] == 0
    assert healthy["largest_distance_healthy_max"] < 0.1  # not even the moderate band
    assert healthy["hours_with_datapoint"] == 0  # and so no metric is billed


def test_each_shift_is_detected_within_hours_naming_its_feature(
    simulated: dict[str, Any],
) -> None:
    shifts = {n: s for n, s in simulated["scenarios"].items() if s["shift"] is not None}

    assert len(shifts) == len(drift_week.SHIFTS[MODEL.name])
    for name, scenario in shifts.items():
        assert scenario["false_pages"] == 0, name
        # One page (the alarm) and one message, while the shift lasts.
        assert scenario["pages"] == 1, name
        # Two significant hours of three, at a third of the bill's volume: within four hours.
        assert scenario["minutes_to_detect"] is not None and scenario["minutes_to_detect"] <= 240
        assert scenario["messages"] == 1, name
        assert scenario["named_first"] == scenario["shift"]["feature"], name
        assert scenario["shift"]["feature"] in scenario["message_description"], name


def test_no_container_writes_a_line_below_the_minimum(simulated: dict[str, Any]) -> None:
    healthy = simulated["scenarios"]["healthy"]

    # What ends with a container is at most its last window: a few percent of the nights.
    assert 0 < healthy["nights_answered"] - healthy["nights_in_aggregates"] < (
        0.15 * healthy["nights_answered"])
    assert healthy["aggregate_lines"] > 0
