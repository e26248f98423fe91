"""CloudWatch metric alarms evaluated as the CloudWatch User Guide documents them, for replaying
simulated metric streams through the stack's own alarms.

Sources (Amazon CloudWatch User Guide, "Using Amazon CloudWatch alarms"):
- "Evaluating an alarm": each period gives one datapoint; an alarm goes to ALARM when at least
  Datapoints to Alarm (M) of the last Evaluation Periods (N) datapoints breach, not necessarily
  consecutive; M defaults to N.
- "How alarm state is evaluated when data is missing": CloudWatch retrieves more datapoints than
  N (the evaluation range; "the exact number ... depends on the length of the alarm period";
  its two tables retrieve N + 2, which this models). With at least N real datapoints in the
  range it evaluates the most recent N and ignores the missing-data setting. With fewer, it
  fills in missing datapoints as the setting says, "only as few times as possible", keeping
  every real one; `missing` and `ignore` fill in nothing: no datapoint at
  all gives INSUFFICIENT_DATA (`missing`) or the current state (`ignore`), any real
  non-breaching one gives OK, and real breaching ones alone give ALARM only with `missing` and
  when the oldest is at least M periods old (the tables' last rows: "the oldest evaluated data
  point is breaching and there aren't any non-breaching data points"), else INSUFFICIENT_DATA
  or the current state. Both tables are tests (tests/unit/test_cloudwatch_alarms.py).
- "Percentile-based CloudWatch alarms and low data samples": with fewer than 10 / (1 - p)
  samples (p above 0.5) the alarm is evaluated anyway unless EvaluateLowSampleCountPercentile is
  `ignore`, when its state does not change.
- "Alarms invoke actions for sustained state changes only": an SNS action is sent once per
  change into the state it is attached to (AlarmActions for ALARM, OKActions for OK).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
TreatMissing = Literal["missing", "ignore", "breaching", "notBreaching"]
# A datapoint, or None for a period without one.
Datapoint = float | None

_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
# The documented examples' evaluation range: N + 2 datapoints for N evaluation periods.
EXTRA_RETRIEVED = 2


@dataclass(frozen=True)
class AlarmRule:
    """What decides an alarm's state from its datapoints."""

    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: TreatMissing = "missing"

    def breaching(self, value: float) -> bool:
        return bool(_COMPARISONS[self.comparison](value, self.threshold))

    @property
    def evaluation_range(self) -> int:
        return self.evaluation_periods + EXTRA_RETRIEVED


def evaluate(rule: AlarmRule, retrieved: Sequence[Datapoint], current: State) -> State:
    """The state after one evaluation of `retrieved`, the evaluation range's datapoints, oldest
    first (None where a period has none)."""
    window = list(retrieved)[-rule.evaluation_range:]
    real = [(age, value) for age, value in zip(range(len(window), 0, -1), window, strict=True)
            if value is not None]
    needed, at_least = rule.evaluation_periods, rule.datapoints_to_alarm
    if len(real) >= needed:  # enough real datapoints: the setting is not needed
        breaching = sum(rule.breaching(value) for _, value in real[-needed:])
        return "ALARM" if breaching >= at_least else "OK"
    breaching = sum(rule.breaching(value) for _, value in real)
    filler = needed - len(real)
    if rule.treat_missing_data == "breaching":
        return "ALARM" if breaching + filler >= at_least else "OK"
    if rule.treat_missing_data == "notBreaching":
        return "ALARM" if breaching >= at_least else "OK"
    # missing, ignore: nothing is filled in.
    if not real:
        return "INSUFFICIENT_DATA" if rule.treat_missing_data == "missing" else current
    if breaching >= at_least:
        return "ALARM"
    if breaching < len(real):  # a real non-breaching datapoint
        return "OK"
    oldest_breaching_age = real[0][0]
    if rule.treat_missing_data == "missing":
        return "ALARM" if oldest_breaching_age >= at_least else "INSUFFICIENT_DATA"
    return current


def statistic(samples: Sequence[float] | np.ndarray, name: str) -> Datapoint:
    """One period's datapoint from its samples (None without any): Sum, Average, SampleCount,
    Minimum, Maximum or a percentile pNN.

    Percentiles: the nearest rank, the smallest sample with at least p of the samples at or
    below it (CloudWatch does not document its interpolation; with the replay's hundreds of
    samples a period the choice moves a p99 by one sample).
    """
    if len(samples) == 0:
        return None
    values = np.asarray(samples, dtype=np.float64)
    if name == "Sum":
        return float(values.sum())
    if name == "Average":
        return float(values.mean())
    if name == "SampleCount":
        return float(len(values))
    if name == "Minimum":
        return float(values.min())
    if name == "Maximum":
        return float(values.max())
    if name.startswith("p"):
        return float(np.percentile(values, float(name[1:]), method="inverted_cdf"))
    raise ValueError(f"unsupported statistic {name!r}")


def low_sample_count(percentile: str, samples: int) -> bool:
    """Whether a period with `samples` samples is too few for the percentile `pNN`: fewer than
    10 / (1 - p) for p above 0.5, 10 / p below."""
    p = float(percentile[1:]) / 100
    # Rounded: 10 / (1 - 0.9) is 100.00000000000001 in binary floating point.
    return samples < round(10 / (1 - p) if p > 0.5 else 10 / p, 9)


@dataclass
class AlarmHistory:
    """An alarm's states evaluation by evaluation, and the notifications it sent."""

    rule: AlarmRule
    state: State = "INSUFFICIENT_DATA"
    # (evaluation index, new state), for every change.
    changes: list[tuple[int, State]] = field(default_factory=list)

    def run(self, datapoints: Sequence[Datapoint]) -> AlarmHistory:
        """Evaluate once per period over `datapoints` (one per period, oldest first)."""
        for index in range(len(datapoints)):
            start = max(0, index + 1 - self.rule.evaluation_range)
            new = evaluate(self.rule, datapoints[start:index + 1], self.state)
            if new != self.state:
                self.changes.append((index, new))
                self.state = new
        return self

    def run_each_minute(self, series: Sequence[Sequence[Datapoint]], period_minutes: int,
                        minutes: int) -> AlarmHistory:
        """Evaluate every minute, each time on the periods that end at that minute (the alarm's
        periods slide with its evaluations). `series[o]` holds the datapoints of the periods
        that start at minute o + k * period_minutes; changes are stamped with the minute."""
        span = self.rule.evaluation_range
        for minute in range(period_minutes, minutes + 1):
            offset = minute % period_minutes
            last = (minute - offset) // period_minutes - 1  # the period ending at `minute`
            window = series[offset][max(0, last + 1 - span):last + 1]
            new = evaluate(self.rule, window, self.state)
            if new != self.state:
                self.changes.append((minute, new))
                self.state = new
        return self

    def notifications(self, states: Sequence[State] = ("ALARM", "OK")) -> list[tuple[int, State]]:
        """The changes that page: into ALARM, and back to OK after an ALARM. CloudWatch also
        sends the first OK after INSUFFICIENT_DATA (OK actions run on a change from any state),
        once, when the alarm is created or its metric returns; that is not a page about the
        service, and the replay does not count it."""
        sent, previous = [], "INSUFFICIENT_DATA"
        for index, state in self.changes:
            if state in states and not (state == "OK" and previous != "ALARM"):
                sent.append((index, state))
            previous = state
        return sent


def rule_of(properties: dict[str, Any]) -> AlarmRule:
    """The evaluation settings of an AWS::CloudWatch::Alarm's properties."""
    periods = int(properties["EvaluationPeriods"])
    return AlarmRule(
        threshold=float(properties["Threshold"]),
        comparison=str(properties["ComparisonOperator"]),
        evaluation_periods=periods,
        datapoints_to_alarm=int(properties.get("DatapointsToAlarm", periods)),
        treat_missing_data=properties.get("TreatMissingData", "missing"),
    )


def period_of(properties: dict[str, Any]) -> int:
    """The alarm's period in seconds: its own, or its metric math inputs' (they share one)."""
    if "Period" in properties:
        return int(properties["Period"])
    periods = {int(m["MetricStat"]["Period"]) for m in properties.get("Metrics", [])
               if "MetricStat" in m}
    if len(periods) != 1:
        raise ValueError(f"an alarm's metrics must share one period, not {sorted(periods)}")
    return periods.pop()


def alarms_in(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every metric alarm of a template, by logical id."""
    return {logical_id: resource["Properties"]
            for logical_id, resource in template.get("Resources", {}).items()
            if resource.get("Type") == "AWS::CloudWatch::Alarm"}



# Metric math ------------------------------------------------------------------------------
# As the User Guide's "Using metric math" documents it, for the expressions an alarm may use
# (tests/infra/test_cloudwatch_alarms.py holds its examples):
# - arithmetic (+ - * / ^): "Missing values in a time series are treated as 0"; a timestamp no
#   operand has stays missing, and a data point that would divide by zero is dropped;
# - comparisons (== != <= >= < >) give 1 or 0, "the missing value in the other time series"
#   read as 0; AND (&&) and OR (||) combine them;
# - IF(condition, a[, b]): a where the condition is not 0 (0 where a is a metric without a data
#   point there), else b; dropped where the condition has no data point, or where it is 0 and
#   b is missing or omitted;
# - FILL(m, value): m with every missing value filled in.
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.LtE: operator.le, ast.GtE: operator.ge,
    ast.Lt: operator.lt, ast.Gt: operator.gt}


def metric_math(expression: str, series: Mapping[str, np.ndarray]) -> np.ndarray:
    """The expression's value at each timestamp of `series` (one value per period, NaN where
    a metric has no datapoint; NaN in the result where the expression has none)."""
    python = re.sub(r"\bAND\b|&&", " and ", expression)
    python = re.sub(r"\bOR\b|\|\|", " or ", python).replace("^", "**")
    tree = ast.parse(python, mode="eval")
    length = len(next(iter(series.values())))
    never = np.zeros(length, dtype=bool)
    # Each node's value: (values with missing read as 0, where it has no data point).
    Value = tuple[np.ndarray, np.ndarray]

    def value(node: ast.AST) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return np.full(length, float(node.value)), never
        if isinstance(node, ast.Name):
            data = series[node.id]
            return np.nan_to_num(data, nan=0.0), np.isnan(data)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand, missing = value(node.operand)
            return -operand, missing
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            (left, left_missing), (right, right_missing) = value(node.left), value(node.right)
            with np.errstate(all="ignore"):
                result = np.asarray(_ARITHMETIC[type(node.op)](left, right), dtype=float)
            missing = left_missing & right_missing
            if isinstance(node.op, ast.Div):
                missing = missing | (right == 0)
            return result, missing
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            (left, left_missing), (right, right_missing) = (
                value(node.left), value(node.comparators[0]))
            result = _COMPARE[type(node.ops[0])](left, right)
            return np.asarray(result, dtype=float), left_missing & right_missing
        if isinstance(node, ast.BoolOp):
            parts = [value(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            truth = combine.reduce([part != 0 for part, _ in parts])
            return (np.asarray(truth, dtype=float),
                    np.logical_and.reduce([missing for _, missing in parts]))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            arguments = node.args
            if node.func.id == "IF" and len(arguments) in (2, 3):
                condition, condition_missing = value(arguments[0])
                then, _ = value(arguments[1])  # a metric without a data point gives 0
                if len(arguments) == 3:
                    otherwise, otherwise_missing = value(arguments[2])
                else:
                    otherwise, otherwise_missing = np.zeros(length), ~never
                chosen = condition != 0
                return (np.where(chosen, then, otherwise),
                        condition_missing | (~chosen & otherwise_missing))
            if node.func.id == "FILL" and len(arguments) == 2 and isinstance(arguments[0], ast.Name):
                raw = series[arguments[0].id]
                filler, _ = value(arguments[1])
                return np.where(np.isnan(raw), filler, raw), never
        raise ValueError(f"metric math the replay does not model: {ast.unparse(node)} "
                         f"in {expression!r}")

    result, missing = value(tree.body)
    return np.where(missing | ~np.isfinite(result), np.nan, result)
