"""Every alarm of the synthesized stack replayed through CloudWatch's rules over a short
simulated week at beta volume, healthy and with each fault injected at the peaks and at night
(benchmarks/alarm_replay.py). `make bench` replays the full week at beta and 10x and writes the
figures into docs/monitoring.md; here an alarm change that breaks a target fails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import alarm_replay
from benchmarks.cost import Profile
from harness import REPO_ROOT
from harness.cdk import Synthesis
from harness.samples import MODEL_DIR

DAYS = 3  # each fault three times at each onset; the drift weeks are four days


@pytest.fixture(scope="module")
def model() -> alarm_replay.Model:
    return alarm_replay.load_model(MODEL_DIR)


@pytest.fixture(scope="module")
def drift(model: alarm_replay.Model) -> dict[str, list[tuple[int, float]]]:
    figures = json.loads((REPO_ROOT / "docs" / "benchmarks.json").read_text())
    return alarm_replay.drift_datapoints(figures, model)


@pytest.fixture(scope="module")
def replayed(synthesis: Synthesis, model: alarm_replay.Model,
             drift: dict[str, list[tuple[int, float]]]) -> dict[str, Any]:
    return alarm_replay.replay(Profile(), model, synthesis.template, days=DAYS, drift=drift)


def test_the_replay_reads_every_alarm_from_the_template(synthesis: Synthesis) -> None:
    alarms = alarm_replay.read_alarms(synthesis.template)

    assert {a.name for a in alarms} == {
        "function-errors", "latency-p99", "throttles", "api-5xx", "low-probability",
        "input-drift", "drift-check-failed", "no-traffic", "rollout-errors",
        "rollout-low-probability"}
    # CodeDeploy watches the rollout alarms, which notify nobody; the others page.
    assert {a.name for a in alarms if a.watched_by_codedeploy} == {
        "rollout-errors", "rollout-low-probability"}
    assert {a.name for a in alarms if a.pages} == {
        a.name for a in alarms if not a.watched_by_codedeploy}
    # The drift check's own errors are its function's, every other Lambda metric the service's.
    assert {a.name for a in alarms for m in a.metrics.values() if m.drift_check} == {
        "drift-check-failed"}
    # Every fault names alarms that exist.
    assert {n for f in alarm_replay.FAULTS for n in f.meant_for} <= {a.name for a in alarms}


def test_a_healthy_week_pages_nobody_for_nothing(replayed: dict[str, Any]) -> None:
    assert replayed["false_pages_total"] <= alarm_replay.FALSE_PAGES_PER_WEEK
    assert replayed["rolled_back"] == 0  # its deploy is not rolled back either
    healthy_deploys = [d for d in replayed["detections"]
                       if d["fault"] == alarm_replay.HEALTHY_DEPLOY.name]
    assert healthy_deploys and not any(p for d in healthy_deploys for p in d["pages"])


def test_every_fault_meets_the_targets_or_is_a_stated_trade_off(
    replayed: dict[str, Any],
) -> None:
    assert alarm_replay.unaccepted(replayed) == []


def test_each_fault_at_a_peak_is_noticed_by_the_alarm_that_exists_for_it(
    replayed: dict[str, Any],
) -> None:
    at_peaks = [d for d in replayed["detections"] if d["onset"] in alarm_replay.PEAK_ONSETS
                and d["fault"] != alarm_replay.HEALTHY_DEPLOY.name]

    assert len(at_peaks) == 2 * len(alarm_replay.FAULTS)
    for detection in at_peaks:
        fault = next(f for f in alarm_replay.FAULTS if f.name == detection["fault"])
        assert all(t is not None for t in detection["minutes_to_detect"]), detection
        assert set(detection["by"]) <= {*fault.meant_for, "rollback"}, detection
        assert max(detection["pages"]) <= alarm_replay.PAGES_PER_FAULT, detection


def test_the_drift_check_datapoints_page_for_a_significant_shift(
    replayed: dict[str, Any],
) -> None:
    drifts = [d for d in replayed["detections"] if d["fault"].startswith("drift (")]

    assert drifts  # the drift simulation's weeks are in docs/benchmarks.json
    for detection in drifts:
        [minutes], [hours_over] = detection["minutes_to_detect"], detection["affected"]
        if hours_over >= detection["noticeable_from"]:
            # The check's second hour over the line, a minute for CloudWatch, one to page.
            assert minutes is not None and minutes <= 3 * 60, detection


def test_a_detuned_alarm_fails_the_targets(synthesis: Synthesis, model: alarm_replay.Model,
                                           ) -> None:
    """The check can fail: no-traffic on 15-minute periods pages in quiet hours."""
    [variant] = [v for v in alarm_replay.VARIANTS if v.properties == {"Period": 900}]
    [fault] = [f for f in alarm_replay.FAULTS if f.name == variant.fault]

    result = alarm_replay.replay(
        Profile(), model, alarm_replay.with_variant(synthesis.template, variant), days=DAYS,
        faults=(fault,))

    assert result["false_pages_per_week"]["no-traffic"]["day"] > 0
    assert ("healthy", "week") in {(f, o) for f, o, _ in alarm_replay.unaccepted(result)}
