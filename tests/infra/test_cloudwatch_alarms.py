"""The alarm evaluator against the CloudWatch User Guide's own examples ("Using Amazon
CloudWatch alarms": "Evaluating an alarm", the two tables of "How alarm state is evaluated when
data is missing", and "Percentile-based CloudWatch alarms and low data samples"; "Using metric
math": its comparison and IF tables), and against the stack's synthesized alarms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.cdk import Synthesis
from harness.cloudwatch_alarms import (
    AlarmHistory,
    AlarmRule,
    Datapoint,
    State,
    alarms_in,
    evaluate,
    low_sample_count,
    metric_math,
    period_of,
    rule_of,
    statistic,
)

TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
# The tables' threshold is implicit: X breaches, 0 does not. Any current state shows "Retain".
RETAIN = "retain"


def datapoints(row: str) -> list[Datapoint]:
    return [{"0": 0.0, "X": 1.0, "-": None}[mark] for mark in row.split()]


# The first table: Datapoints to Alarm and Evaluation Periods both 3; the 5 most recent
# datapoints retrieved. Columns: MISSING, IGNORE, BREACHING, NOT BREACHING.
THREE_OF_THREE = [
    ("0 - X - X", ("OK", "OK", "OK", "OK")),
    ("0 - - - -", ("OK", "OK", "OK", "OK")),
    ("- - - - -", ("INSUFFICIENT_DATA", RETAIN, "ALARM", "OK")),
    ("0 X X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("- - - - X", ("INSUFFICIENT_DATA", RETAIN, "ALARM", "OK")),
    ("X - - - -", ("ALARM", RETAIN, "ALARM", "OK")),
]
# The second table: 2 out of 3.
TWO_OF_THREE = [
    ("0 - X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 0 X 0 X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 - X - -", ("OK", "OK", "ALARM", "OK")),
    ("- - - - 0", ("OK", "OK", "ALARM", "OK")),
    ("- - - - X", ("INSUFFICIENT_DATA", RETAIN, "ALARM", "OK")),
]


def documented_cases() -> list[Any]:
    cases = []
    for alarm_on, table in ((3, THREE_OF_THREE), (2, TWO_OF_THREE)):
        for row, expected in table:
            for treatment, state in zip(TREATMENTS, expected, strict=True):
                cases.append(pytest.param(alarm_on, row, treatment, state,
                                          id=f"{alarm_on}of3 [{row}] {treatment}"))
    return cases


@pytest.mark.parametrize(("alarm_on", "row", "treatment", "expected"), documented_cases())
@pytest.mark.parametrize("current", ["OK", "ALARM", "INSUFFICIENT_DATA"])
def test_the_documented_missing_data_tables(alarm_on: int, row: str, treatment: Any,
                                            expected: str, current: State) -> None:
    rule = AlarmRule(threshold=0.5, comparison="GreaterThanThreshold", evaluation_periods=3,
                     datapoints_to_alarm=alarm_on, treat_missing_data=treatment)

    assert evaluate(rule, datapoints(row), current) == (current if expected == RETAIN
                                                          else expected)


def test_the_documented_figure_three_of_three_above_three_units() -> None:
    # "when all three datapoints in the most recent three consecutive periods are above the
    # threshold, the alarm goes to the ALARM state ... this happens in the third through fifth
    # time periods. At period six, the value dips below ... the alarm state changes to OK.
    # During the ninth time period, the threshold is breached again, but for only one period."
    values: list[Datapoint] = [1, 2, 4, 4, 5, 2, 1, 2, 4, 2]
    rule = AlarmRule(threshold=3, comparison="GreaterThanThreshold", evaluation_periods=3,
                     datapoints_to_alarm=3)

    history = AlarmHistory(rule).run(values)

    # Periods are counted from 1 in the figure, from 0 here.
    assert history.changes == [(0, "OK"), (4, "ALARM"), (5, "OK")]
    assert history.notifications() == [(4, "ALARM"), (5, "OK")]


def test_m_out_of_n_needs_m_breaching_in_the_last_n_not_consecutive() -> None:
    rule = AlarmRule(threshold=0, comparison="GreaterThanThreshold", evaluation_periods=5,
                     datapoints_to_alarm=4)

    assert evaluate(rule, [0, 1, 1, 0, 1, 1], "OK") == "ALARM"
    assert evaluate(rule, [1, 1, 0, 0, 1, 1], "OK") == "OK"  # the older 1s are out of the 5


@pytest.mark.parametrize(("percentile", "samples", "low"), [
    ("p99", 999, True), ("p99", 1000, False),  # "fewer than 1000 samples for ... p99"
    ("p90", 99, True), ("p90", 100, False),
    ("p10", 99, True), ("p10", 100, False),  # 10 / p below one half
])
def test_the_low_sample_rule_for_percentiles(percentile: str, samples: int, low: bool) -> None:
    assert low_sample_count(percentile, samples) is low


def test_statistics_of_a_period() -> None:
    samples = [float(v) for v in range(1, 101)]

    assert statistic(samples, "Sum") == 5050
    assert statistic(samples, "Average") == 50.5
    assert statistic(samples, "SampleCount") == 100
    assert statistic(samples, "Maximum") == 100
    assert statistic(samples, "p99") == 99
    assert statistic(samples, "p50") == 50
    assert statistic([], "Sum") is None  # a period without samples has no datapoint


def test_every_alarm_in_the_stack_is_read_from_the_template(synthesis: Synthesis) -> None:
    alarms = alarms_in(synthesis.template)

    assert len(alarms) >= 8
    for logical_id, properties in alarms.items():
        rule = rule_of(properties)
        assert 1 <= rule.datapoints_to_alarm <= rule.evaluation_periods, logical_id
        assert period_of(properties) in (60, 300, 900, 1800, 3600), logical_id
        assert rule.treat_missing_data in TREATMENTS, logical_id


MISSING = np.nan
# "Comparison and logical operators": metric1 [30, 20, 0, 0], metric2 [20, -, 20, -].
COMPARED = {"metric1": np.array([30.0, 20, 0, 0]), "metric2": np.array([20, MISSING, 20, MISSING])}
# "Using IF expressions": metric1 [1, 1, 0, 0, -], metric2 [30, -, 0, 0, 30],
# metric3 [0, 0, 20, -, 20].
CHOSEN = {"metric1": np.array([1.0, 1, 0, 0, MISSING]),
          "metric2": np.array([30, MISSING, 0, 0, 30]),
          "metric3": np.array([0, 0, 20, MISSING, 20])}


@pytest.mark.parametrize(("expression", "series", "expected"), [
    ("(metric1 < metric2)", COMPARED, [0, 0, 1, 0]),
    ("(metric1 >= 30)", COMPARED, [1, 0, 0, 0]),
    ("(metric1 > 15 AND metric2 > 15)", COMPARED, [1, 0, 0, 0]),
    ("IF(metric1, metric2, metric3)", CHOSEN, [30, 0, 20, None, None]),
    ("IF(metric1, 5, metric3)", CHOSEN, [5, 5, 20, None, None]),
    ("IF(metric1, metric2, 5)", CHOSEN, [30, 0, 5, 5, None]),
], ids=lambda value: value if isinstance(value, str) else "")
def test_the_documented_metric_math_examples(expression: str, series: dict[str, np.ndarray],
                                             expected: list[float | None]) -> None:
    result = metric_math(expression, series)

    assert [None if np.isnan(v) else float(v) for v in result] == expected


def test_metric_math_arithmetic_reads_missing_as_zero_and_drops_division_by_zero() -> None:
    # "Missing values in a time series are treated as 0. If the value of a data point causes
    # a function to attempt to divide by zero, the data point is dropped."
    series = {"m1": np.array([4.0, MISSING, 6, MISSING]), "m2": np.array([2.0, 3, 0, MISSING])}

    assert [None if np.isnan(v) else v for v in metric_math("m1 / m2", series)] == [
        2, 0, None, None]
    assert [None if np.isnan(v) else v for v in metric_math("m1 - m2", series)] == [
        2, -3, 6, None]  # a timestamp neither metric has stays without one
    assert list(metric_math("FILL(m1, 0)", series)) == [4, 0, 6, 0]
    assert [None if np.isnan(v) else v for v in metric_math("IF(m2 > 1, m1)", series)] == [
        4, 0, None, None]  # without a false value the datapoint is dropped


def test_metric_math_refuses_what_it_does_not_model() -> None:
    with pytest.raises(ValueError, match="ANOMALY_DETECTION_BAND"):
        metric_math("ANOMALY_DETECTION_BAND(m1)", {"m1": np.array([1.0])})


def test_an_alarm_evaluated_every_minute_judges_the_periods_ending_then() -> None:
    # Five-minute periods starting at every minute: series[o] holds the periods that start at
    # minute o, 5 + o, ...; the breaching one is [8, 13), judged only at minute 13.
    rule = AlarmRule(threshold=1, comparison="GreaterThanOrEqualToThreshold",
                     evaluation_periods=1, datapoints_to_alarm=1,
                     treat_missing_data="notBreaching")
    series: list[list[Datapoint]] = [[0.0] * 4 for _ in range(5)]
    series[3][1] = 1.0

    history = AlarmHistory(rule).run_each_minute(series, period_minutes=5, minutes=20)

    assert history.changes == [(5, "OK"), (13, "ALARM"), (14, "OK")]
