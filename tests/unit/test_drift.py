"""The drift baseline, the per-container tally and the distance: what save_model records, what a
container may write, and PSI against an independent implementation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import entropy

from chalicelib import drift
from chalicelib.drift import (
    AGGREGATE_MIN_INTERVAL_S,
    AGGREGATE_MIN_NIGHTS,
    AGGREGATE_MIN_REQUESTS,
    NightTally,
    feature_baseline,
    population_stability_index,
    read_baseline,
)
from chalicelib.metadata import BASELINE_FILENAME, FeatureSpec, ModelLoadError, sha256_of
from chalicelib.model_package import load_model_package
from harness.samples import BASELINE, MODEL, MODEL_DIR
from tests.unit.test_model_package import rehash

NUMBER = FeatureSpec(name="latency", type="number", unit="min", minimum=0, maximum=240,
                     description="")
COUNT = FeatureSpec(name="awakenings", type="integer", unit="count", minimum=0, maximum=30,
                    description="")


def test_a_number_is_binned_by_deciles_with_open_ends() -> None:
    values = np.random.default_rng(0).lognormal(2.7, 0.7, 10_000)

    baseline = feature_baseline(NUMBER, values)

    assert len(baseline.edges) == 9 and len(baseline.shares) == 10
    assert baseline.shares == pytest.approx([0.1] * 10, abs=1e-3)
    # Every value the API accepts has a bin, the declared extremes included.
    assert baseline.bin_of(NUMBER.lowest) == 0 and baseline.bin_of(NUMBER.highest) == 9
    assert baseline.describe_bin(0).startswith("at most ")
    assert baseline.describe_bin(9) == f"above {baseline.edges[-1]:g} min"


def test_a_mostly_zero_feature_keeps_its_zeros_in_one_bin() -> None:
    values = np.where(np.arange(1000) < 550, 0.0, np.arange(1000, dtype=float))

    baseline = feature_baseline(NUMBER, values)

    assert baseline.edges[0] == 0 and baseline.shares[0] == pytest.approx(0.55)
    assert math.fsum(baseline.shares) == pytest.approx(1)


def test_a_count_with_few_values_is_binned_by_value() -> None:
    baseline = feature_baseline(COUNT, [0, 1, 1, 2, 2, 2, 3, 9])

    assert baseline.values == (0, 1, 2, 3, 9)
    assert [baseline.bin_of(v) for v in (0, 1, 2, 3, 4, 9, 30)] == [0, 1, 2, 3, 3, 4, 4]
    assert baseline.shares == pytest.approx([1 / 8, 2 / 8, 3 / 8, 1 / 8, 1 / 8])
    assert [baseline.describe_bin(i) for i in (0, 2, 4)] == ["at most 0", "at 2", "at least 9"]


def test_every_saved_model_carries_its_baseline(tmp_path: Path) -> None:
    served = load_model_package(MODEL_DIR)

    assert served.baseline == BASELINE
    assert [f.name for f in BASELINE.features] == list(MODEL.feature_names)
    assert set(BASELINE.answers) == set(MODEL.class_ids)
    assert math.fsum(BASELINE.answers.values()) == pytest.approx(1)
    assert BASELINE.training_rows == MODEL.metrics.train_rows
    assert BASELINE.held_out_rows == MODEL.metrics.test_rows
    assert MODEL.baseline.sha256 == sha256_of(MODEL_DIR / BASELINE_FILENAME)


def test_an_altered_baseline_stops_the_function(model_copy: Path) -> None:
    path = model_copy / BASELINE_FILENAME
    document = json.loads(path.read_text())
    document["features"][0]["shares"][0] += 0.01
    path.write_text(json.dumps(document))

    with pytest.raises(ModelLoadError, match="drift baseline file is truncated, corrupted or was changed"):
        load_model_package(model_copy)
    # With its hash updated it loads: the hash is what makes it tamper-evident.
    rehash(model_copy, baseline=sha256_of(path))
    assert load_model_package(model_copy).baseline.features[0].shares[0] == pytest.approx(
        BASELINE.features[0].shares[0] + 0.01)


def test_a_baseline_of_other_features_is_refused(model_copy: Path) -> None:
    path = model_copy / BASELINE_FILENAME
    document = json.loads(path.read_text())
    document["features"] = document["features"][::-1]
    path.write_text(json.dumps(document))
    rehash(model_copy, baseline=sha256_of(path))

    with pytest.raises(ModelLoadError, match="other features or classes"):
        read_baseline(model_copy, MODEL.model_copy(update={"baseline": MODEL.baseline.model_copy(
            update={"sha256": sha256_of(path)})}))


# The distance ------------------------------------------------------------------------------

histograms = st.lists(st.integers(min_value=0, max_value=10_000), min_size=2, max_size=12)


@given(histograms, st.data())
def test_psi_is_the_symmetric_kullback_leibler_divergence_scipy_computes(
    training: list[int], data: st.DataObject,
) -> None:
    recent = data.draw(st.lists(st.integers(min_value=0, max_value=10_000),
                                min_size=len(training), max_size=len(training)))
    if sum(training) == 0 or sum(recent) == 0:
        return
    expected, actual = drift.shares_of(training), drift.shares_of(recent)

    # PSI = sum (a - e) ln(a / e) = KL(a || e) + KL(e || a), by scipy's own implementation.
    assert population_stability_index(training, recent) == pytest.approx(
        entropy(actual, expected) + entropy(expected, actual), rel=1e-9, abs=1e-12)


def test_psi_bands_on_a_textbook_shift() -> None:
    training = [0.1] * 10
    assert population_stability_index(training, [100] * 10) == pytest.approx(0)
    # A fifth of the nights moved from the middle to the top bin: a moderate shift.
    moderate = [100, 100, 100, 100, 50, 50, 100, 100, 100, 200]
    assert drift.MODERATE_SHIFT <= population_stability_index(training, moderate) < 0.25
    # Everything in one bin: far beyond the significant band.
    assert population_stability_index(training, [0] * 9 + [1000]) > drift.SIGNIFICANT_SHIFT


def test_the_report_names_the_feature_and_the_bins_that_moved() -> None:
    counts = drift.Counts.empty(BASELINE)
    shifted = {f.name: [round(1000 * s) for s in f.shares] for f in BASELINE.features}
    first = BASELINE.features[0]
    shifted[first.name] = [0] * (len(first.shares) - 1) + [1000]
    answers = {c: round(1000 * s) for c, s in BASELINE.answers.items()}
    total = sum(answers.values())
    aggregate = {"nights": total, "bins": {n: _rescale(b, total) for n, b in shifted.items()},
                 "answers": answers}
    assert drift.valid_aggregate(aggregate, BASELINE)

    report = drift.compare(BASELINE, counts.add(aggregate))

    assert report.largest.name == first.name and report.band() == "significant"
    moved = report.largest.moved[0]
    assert moved.bin == first.describe_bin(len(first.shares) - 1)
    assert moved.recent_share == 1 and moved.training_share == first.shares[-1]
    assert report.largest.summary().startswith(f"{first.name}: PSI ")
    assert f"100% of nights {moved.bin}, {first.shares[-1]:.0%} in training" in (
        report.largest.summary())


def _rescale(bins: list[int], total: int) -> list[int]:
    scaled = [b * total // max(sum(bins), 1) for b in bins]
    scaled[int(np.argmax(scaled))] += total - sum(scaled)
    return scaled


# The tally: what a container may write -------------------------------------------------------

ALLOWED_KEYS = {"nights", "requests", "bins", "answers"}


@given(st.lists(st.tuples(st.integers(min_value=1, max_value=100),
                          st.floats(min_value=0, max_value=900)), min_size=1, max_size=80))
def test_no_aggregate_describes_fewer_nights_or_requests_than_the_minimum(
    requests: list[tuple[int, float]],
) -> None:
    clock = [0.0]
    tally = NightTally(BASELINE, clock=lambda: clock[0])
    night = [f.edges[0] for f in BASELINE.features]
    lines, last_line_at, answered = [], -math.inf, 0
    for size, seconds_later in requests:
        clock[0] += seconds_later
        answered += size
        aggregate = tally.add([night] * size, [MODEL.class_ids[0]] * size)
        if aggregate is not None:
            lines.append(aggregate)
            assert clock[0] - last_line_at >= AGGREGATE_MIN_INTERVAL_S
            last_line_at = clock[0]

    for aggregate in lines:
        assert set(aggregate) == ALLOWED_KEYS
        assert aggregate["nights"] >= AGGREGATE_MIN_NIGHTS
        assert aggregate["requests"] >= AGGREGATE_MIN_REQUESTS
        assert drift.valid_aggregate(aggregate, BASELINE)
        # Counts only: one integer per bin and class, no value of any night.
        assert all(isinstance(n, int) for bins in aggregate["bins"].values() for n in bins)
    # Nothing is counted twice: what was written and what waits add up to what was answered.
    assert sum(a["nights"] for a in lines) + tally.nights == answered


def test_a_window_waits_for_both_minimums_and_the_interval() -> None:
    clock = [0.0]
    tally = NightTally(BASELINE, clock=lambda: clock[0])
    night = [f.edges[0] for f in BASELINE.features]
    advice = [MODEL.class_ids[0]]

    # Twenty nights in one request: one user's history, not written.
    assert tally.add([night] * AGGREGATE_MIN_NIGHTS, advice * AGGREGATE_MIN_NIGHTS) is None
    for _ in range(AGGREGATE_MIN_REQUESTS - 2):
        assert tally.add([night], advice) is None
    first = tally.add([night], advice)
    assert first is not None and first["requests"] == AGGREGATE_MIN_REQUESTS
    # The next window is full at once, but a line per interval at most.
    for _ in range(30):
        assert tally.add([night], advice) is None
    clock[0] += AGGREGATE_MIN_INTERVAL_S
    second = tally.add([night], advice)
    assert second is not None and second["nights"] == 31


def test_an_aggregate_of_another_shape_is_left_out() -> None:
    good: dict[str, Any] = {
        "nights": 20, "bins": {f.name: [20] + [0] * (len(f.shares) - 1) for f in BASELINE.features},
        "answers": {MODEL.class_ids[0]: 20}}
    assert drift.valid_aggregate(good, BASELINE)
    small = {**good, "nights": 19}
    wrong_bins = {**good, "bins": {**good["bins"], BASELINE.features[0].name: [20]}}
    unknown_class = {**good, "answers": {"sleep_more": 20}}
    for bad in (small, wrong_bins, unknown_class, {"nights": "many"}, {}):
        assert not drift.valid_aggregate(bad, BASELINE), bad
    assert drift.sum_counts([good, small, good], BASELINE).nights == 40
