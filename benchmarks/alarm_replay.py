"""Every alarm of the synthesized stack replayed over a simulated week of its metrics: how often
each pages on-call for nothing, and how long each takes to notice the fault it exists for.

    python -m benchmarks.alarm_replay             # beta and 10x: docs/monitoring.md, benchmarks.json
    python -m benchmarks.alarm_replay --days 3 --json   # print the figures, write nothing

The alarms are read from the template `cdk synth` writes (threshold, comparison, period,
statistic or metric math, evaluation periods, datapoints to alarm, missing data, actions, and
which ones CodeDeploy watches) and evaluated by harness/cloudwatch_alarms.py as the CloudWatch
User Guide documents. Their metrics are generated request by request from the bill's traffic
(benchmarks.cost.Profile: its volume, its two peaks, its cold starts and deploys), then each
period's datapoint is the alarm's statistic of the samples CloudWatch would have in it.

What a period's datapoint is made of:
- Lambda (through the live alias): one Invocations sample per invocation, Errors 1 or 0 for
  it, Throttles 1 per throttled request (no invocation); a period without any request has no
  datapoint. With ExecutedVersion, the invocations of one version: a rollout alarm's own, or
  for a service alarm the newest deploy's (the template names the version being deployed).
- API Gateway: Count, 5XXError (1 or 0 per request: Lambda's errors answer 502, its throttles
  500, the function's own 500s) and Latency per request; none in a period without requests.
- PredictionProbability: one value per answered night (the function writes each night's
  probability), drawn from the model's own answers to nights like its training data; with
  FunctionVersion, those of the version being deployed.
- DriftScore: the drift check's datapoints from the drift simulation (benchmarks/drift_week.py,
  docs/benchmarks.json `drift_simulation`), healthy or shifted; the drift check's own Errors:
  one invocation an hour.

What is assumed, not measured here (no AWS account): API Gateway's and Lambda's own latency
(WARM_LATENCY_MS), a container image's cold start (COLD_START_MS), and one failed invocation
in BACKGROUND_FAILURES_PER_INVOCATION of healthy traffic (a platform fault, a container that
dies).

CloudWatch evaluates an alarm every minute; the replay does too, each time on the periods that
end at that minute (so a five-minute period's boundaries move with each evaluation, and an
hourly one's with the drift check's datapoint, as chalicelib/drift_check.py stamps it), and
counts a page a minute after the evaluation that changed the state. The User Guide does not
say how periods are aligned; with one-minute periods, as the service's alarms have, it does
not matter.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cost import Profile
from benchmarks.drift_week import WEEK_BATCH_SHARE, WEEK_NIGHTS
from harness import REPO_ROOT
from harness.cloudwatch_alarms import (
    AlarmHistory,
    AlarmRule,
    Datapoint,
    alarms_in,
    metric_math,
    period_of,
    rule_of,
    statistic,
)

DAYS = 7
MINUTES_PER_DAY = 1440
VOLUMES = {"beta": 1.0, "10× beta": 10.0}
# On-call's night, when a page wakes someone: 23:00 to 07:00 (UTC, the traffic model's clock).
NIGHT_STARTS, NIGHT_ENDS = 23 * 60, 7 * 60
# Where each fault starts, once a day: the two peaks' tops and the quietest hours.
ONSETS = {"morning peak": 7 * 60, "evening peak": 22 * 60 + 30, "night": 3 * 60}
PEAK_ONSETS = ("morning peak", "evening peak")
# The targets at beta volume.
FALSE_PAGES_PER_WEEK = 1
DETECT_IN_PEAKS_MIN = 15
DETECT_AT_NIGHT_MIN = 120
PAGES_PER_FAULT = 2
# CloudWatch evaluates an alarm about a minute after its period ends.
EVALUATION_DELAY_MIN = 1

# Assumed (see the module's docstring): lognormal, median and sigma.
WARM_LATENCY_MS = (35.0, 0.35)
COLD_START_MS = (2_000.0, 0.35)
BACKGROUND_FAILURES_PER_INVOCATION = 1 / 50_000
# A weekday afternoon, about once a week (Profile.deploys_per_month is 4).
DEPLOY_DAYS, DEPLOY_MINUTE = (1,), 14 * 60
# When every container is replaced (a deploy's full shift), one cold start per this many
# requests a minute, at least one.
REQUESTS_PER_MINUTE_PER_CONTAINER = 10

OK, FUNCTION_ERROR, THROTTLED, APP_500 = 0, 1, 2, 3
SECTION_START, SECTION_END = "<!-- alarm-replay:start -->", "<!-- alarm-replay:end -->"


@dataclass(frozen=True)
class Fault:
    """What goes wrong from an onset, for `minutes`, and the alarms that exist to notice it."""

    name: str
    minutes: int
    meant_for: tuple[str, ...]
    # A share of invocations that fail in Lambda; of requests throttled; of requests slow.
    failing: float = 0.0
    # A share of requests the function answers 500 itself (an exception Chalice caught).
    app_500: float = 0.0
    throttled: float = 0.0
    slow: float = 0.0
    slow_ms: tuple[float, float] = (10_500.0, 14_000.0)
    silent: bool = False
    # The answers' average probability this far below the low-probability threshold.
    unsure_by: float | None = None
    # The version deployed at the onset fails this share of its invocations (the golden check
    # passed: it fails on nights the golden questions do not ask).
    bad_version: float | None = None


FAULTS = (
    Fault("5 % errors for 20 min", 20, ("function-errors",), failing=0.05),
    Fault("5 % answered 500 by the app for 20 min", 20, ("api-5xx",), app_500=0.05),
    Fault("latency objective crossed for 30 min", 30, ("latency-p99",), slow=0.02),
    Fault("throttling for 15 min", 15, ("throttles",), throttled=0.25),
    Fault("confidence drops for 3 h", 180, ("low-probability",), unsure_by=0.05),
    Fault("no traffic for 14 h", 14 * 60, ("no-traffic",), silent=True),
    Fault("bad canary (20 % of its invocations fail)", 60,
          ("rollout-errors", "function-errors"), bad_version=0.2),
)
# A deploy of a version as good as the last: any rollback or page it causes is a false one.
HEALTHY_DEPLOY = Fault("healthy deploy", 60, (), bad_version=0.0)
# The drift simulation's shifts start on day 4 at 06:00: the check's datapoints replace the
# healthy week's for these, once.
DRIFT_FAULT = "drift ({})"
DRIFT_ONSET, DRIFT_DAYS = 3 * MINUTES_PER_DAY + 6 * 60, 4
DRIFT_ONSET_NAME = "day 4, 06:00"

# Where no setting meets every target, the one chosen and what it costs (VARIANTS replays the
# settings not chosen, docs/monitoring.md shows both). Keys: (the start of the fault's name,
# its onset).
ACCEPTED_MISSES = {
    ("no traffic for 14 h", "morning peak"): "30 minutes of silence; 15 or 20 minutes would "
    "page for nothing in quiet hours",
    ("no traffic for 14 h", "evening peak"): "as at the morning peak",
    # The drift check runs hourly (every shift: the key is the start of the fault's name).
    ("drift (", DRIFT_ONSET_NAME): "two hours over the line, not one, so that a shift "
    "hovering at the line does not page again and again",
}


@dataclass(frozen=True)
class Variant:
    """A setting not chosen: one alarm's properties changed, replayed on its own faults."""

    alarm: str
    change: str
    properties: dict[str, int | str]
    fault: str


VARIANTS = (
    Variant("no-traffic", "a 15-minute period", {"Period": 900}, "no traffic for 14 h"),
    Variant("no-traffic", "a 20-minute period", {"Period": 1200}, "no traffic for 14 h"),
    Variant("function-errors", "1 failed minute in the hour", {"DatapointsToAlarm": 1},
            "5 % errors for 20 min"),
    Variant("function-errors", "3 failed minutes in the hour", {"DatapointsToAlarm": 3},
            "5 % errors for 20 min"),
    Variant("function-errors", "counting the version being rolled out",
            {"Expression": "IF(invocations > 0, 100 * errors / invocations, 0)"},
            "bad canary (20 % of its invocations fail)"),
    Variant("input-drift", "1 hour of 2", {"DatapointsToAlarm": 1, "EvaluationPeriods": 2},
            "drift"),
)


def with_variant(template: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """`template` with `variant`'s alarm changed (a metric math alarm's inputs get the period)."""
    changed = copy.deepcopy(template)
    found = 0
    for resource in changed["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::CloudWatch::Alarm" or short_name(
                properties["AlarmName"]) != variant.alarm:
            continue
        found += 1
        for key, value in variant.properties.items():
            if key in ("Period", "Expression") and "Metrics" in properties:
                for metric in properties["Metrics"]:
                    if key == "Period" and "MetricStat" in metric:
                        metric["MetricStat"]["Period"] = value
                    if key == "Expression" and "Expression" in metric:
                        metric["Expression"] = value
            else:
                properties[key] = value
    if found != 1:
        raise ValueError(f"no single alarm {variant.alarm!r} in the template")
    return changed


def short_name(alarm_name: str) -> str:
    """sleep-advisor-<stage>-<short name>[-<fingerprint>] → short name."""
    name = re.sub(r"^sleep-advisor-[a-z0-9]+-", "", alarm_name)
    return re.sub(r"-[0-9a-f]{10}$", "", name)


# The template's alarms --------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    """One metric an alarm reads, as its MetricStat names it."""

    namespace: str
    name: str
    dimensions: frozenset[str]
    stat: str
    period_s: int
    # The drift check's function rather than the service's.
    drift_check: bool = False

    @property
    def of_deployed_version(self) -> bool:
        """Lambda's ExecutedVersion or the function's FunctionVersion: one version's samples."""
        return bool(self.dimensions & {"ExecutedVersion", "FunctionVersion"})


@dataclass(frozen=True)
class ReplayedAlarm:
    name: str
    rule: AlarmRule
    period_s: int
    metrics: dict[str, Metric]  # by metric math id ("m" for a plain metric alarm)
    expression: str | None
    pages: bool  # it has an ALARM action
    watched_by_codedeploy: bool


def read_alarms(template: dict[str, Any]) -> list[ReplayedAlarm]:
    resources = template["Resources"]
    watched = {ref["Ref"] for r in resources.values()
               if isinstance(r.get("Properties"), dict)
               for ref in r["Properties"].get("DeploymentPreference", {}).get("Alarms", [])}
    # The service's function is the one CodeDeploy shifts; another function's metric is the
    # drift check's (the stack has those two).
    service = {logical_id for logical_id, r in resources.items()
               if isinstance(r.get("Properties"), dict)
               and "DeploymentPreference" in r["Properties"]}

    def metric(spec: dict[str, Any], stat: str, period: int) -> Metric:
        dimensions = {d["Name"]: d["Value"] for d in spec.get("Dimensions", [])}
        function = dimensions.get("FunctionName")
        return Metric(spec["Namespace"], spec["MetricName"], frozenset(dimensions), stat,
                      period, drift_check=isinstance(function, dict)
                      and function.get("Ref") not in service)

    alarms = []
    for logical_id, properties in alarms_in(template).items():
        period = period_of(properties)
        if "Metrics" in properties:
            metrics = {m["Id"]: metric(m["MetricStat"]["Metric"], m["MetricStat"]["Stat"],
                                       int(m["MetricStat"]["Period"]))
                       for m in properties["Metrics"] if "MetricStat" in m}
            [expression] = [m["Expression"] for m in properties["Metrics"] if "Expression" in m]
        else:
            stat = properties.get("Statistic") or properties["ExtendedStatistic"]
            metrics, expression = {"m": metric(properties, stat, period)}, None
        alarms.append(ReplayedAlarm(
            name=short_name(properties["AlarmName"]), rule=rule_of(properties),
            period_s=period, metrics=metrics, expression=expression,
            pages=bool(properties.get("AlarmActions")),
            watched_by_codedeploy=logical_id in watched))
    return sorted(alarms, key=lambda a: a.name)


def deployment_shift(template: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """The share of traffic the new version gets, minutes after the deploy starts, for the
    function's CodeDeploy configuration (Canary<p>Percent<m>Minutes, Linear<p>PercentEvery<m>
    Minute(s), AllAtOnce)."""
    [preference] = [r["Properties"]["DeploymentPreference"]["Type"]
                    for r in template["Resources"].values()
                    if isinstance(r.get("Properties"), dict)
                    and "DeploymentPreference" in r["Properties"]]
    if canary := re.fullmatch(r"Canary(\d+)Percent(\d+)Minutes", preference):
        share, minutes = int(canary[1]) / 100, int(canary[2])
        return lambda t: np.where(t < minutes, share, 1.0)
    if linear := re.fullmatch(r"Linear(\d+)PercentEvery(\d+)Minutes?", preference):
        step, minutes = int(linear[1]) / 100, int(linear[2])
        return lambda t: np.minimum(1.0, step * (np.floor(t / minutes) + 1))
    return lambda t: np.ones_like(t)


def shifting_minutes(shift: Callable[[np.ndarray], np.ndarray]) -> int:
    """How long the deploy shifts traffic (CodeDeploy watches the alarms meanwhile)."""
    minutes = np.arange(0, 240)
    return int(np.argmax(shift(minutes.astype(float)) >= 1.0))


# Traffic -----------------------------------------------------------------------------------

@dataclass
class Week:
    """A week's requests, one entry each (minute of the week, float), and its answers."""

    minutes: int
    request_minute: np.ndarray
    outcome: np.ndarray
    latency_ms: np.ndarray
    version: np.ndarray  # which deploy's version served it (0: the one live at the start)
    answer_minute: np.ndarray
    answer_probability: np.ndarray
    answer_version: np.ndarray
    drift_datapoints: list[tuple[int, float]]
    deploys: list[int]  # the minute each deploy starts
    rolled_back: dict[int, int] = field(default_factory=dict)  # deploy index → minute
    # Per request: whether the fault changed its answer (failed, throttled, slow, unsure).
    affected: np.ndarray = field(default_factory=lambda: np.array([], dtype=bool))
    # Per minute: the requests a silence kept away (expected).
    silenced: np.ndarray = field(default_factory=lambda: np.array([]))

    def affected_between(self, start: int, end: int) -> int:
        within = (self.request_minute >= start) & (self.request_minute < end)
        return int((self.affected & within).sum() + round(self.silenced[start:end].sum()))


@dataclass(frozen=True)
class Model:
    """What the replay needs of the served model: its answers' probabilities on nights like
    its training data, its low-probability threshold, and the least probability an answer can
    have (chance, 1/k for k classes; with a decision threshold t, min(t, 1 - t))."""

    name: str
    probabilities: np.ndarray
    low_probability: float
    least: float


def load_model(model_dir: Path, nights: int = 20_000, seed: int = 5) -> Model:
    from benchmarks.drift_week import nights_like_training
    from chalicelib.advisor import advised_columns
    from chalicelib.model_package import load_model_package

    package = load_model_package(model_dir)
    advisor, metadata = package.advisor, package.advisor.metadata
    rows = nights_like_training(metadata.name, nights, seed)
    probabilities = advisor.predictor.predict_proba(rows)
    columns = advised_columns(probabilities, [c.id for c in metadata.classes], metadata)
    chosen = probabilities[np.arange(len(rows)), columns]
    threshold = metadata.decision_threshold
    least = (1 / len(metadata.classes) if threshold is None
             else min(threshold.probability, 1 - threshold.probability))
    return Model(f"{metadata.name} {metadata.version}", np.asarray(chosen, dtype=float),
                 metadata.low_probability_threshold, least)


@dataclass(frozen=True)
class Injection:
    fault: Fault
    onsets: tuple[int, ...]  # minutes of the week


def simulate_week(profile: Profile, model: Model, template: dict[str, Any], *,
                  volume: float = 1.0, days: int = DAYS, injection: Injection | None = None,
                  drift_datapoints: list[tuple[int, float]] | None = None,
                  seed: int = 3, rollback: Callable[[Week], dict[int, int]] | None = None,
                  ) -> Week:
    """Requests minute by minute from `profile` at `volume` times its traffic, with
    `injection`'s fault at each of its onsets; a deploy's version is rolled back where
    `rollback` (CodeDeploy watching the rollout alarms) says so."""
    rng = np.random.default_rng(seed)
    minutes = days * MINUTES_PER_DAY
    rates = np.tile(np.asarray(profile.per_minute_rates()) * 60 * volume, days)
    fault = injection.fault if injection else None
    onsets = injection.onsets if injection else ()
    during = np.zeros(minutes, dtype=bool)
    for onset in onsets:
        during[onset:onset + injection.fault.minutes] = True  # type: ignore[union-attr]
    if fault is not None and fault.silent:
        rates = np.where(during, 0.0, rates)
    per_minute = rng.poisson(rates)
    request_minute = np.repeat(np.arange(minutes), per_minute) + rng.random(per_minute.sum())
    count = len(request_minute)
    hit = during[request_minute.astype(int)]
    # Every random draw first, so that a rollback changes which version answers, not the draws.
    draws = {name: rng.random(count) for name in (
        "version", "background", "failing", "app", "throttled", "slow", "nights")}
    warm = rng.lognormal(math.log(WARM_LATENCY_MS[0]), WARM_LATENCY_MS[1], count)
    cold_ms = rng.lognormal(math.log(COLD_START_MS[0]), COLD_START_MS[1], count)
    throttled_ms, slow_ms = rng.uniform(5, 20, count), rng.uniform(*(
        fault.slow_ms if fault else (0.0, 0.0)), count)
    starts = np.cumsum(rng.exponential(MINUTES_PER_DAY / (profile.cold_starts_per_day * volume),
                                       int(days * profile.cold_starts_per_day * volume * 2) + 10))
    nights = np.where(draws["nights"] < WEEK_BATCH_SHARE, WEEK_NIGHTS, 1)
    probability_draws = rng.choice(model.probabilities, int(nights.sum()))

    # Deploys: the version being deployed takes a growing share, then all of it.
    shift = deployment_shift(template)
    total = shifting_minutes(shift)
    deploys = sorted({d * MINUTES_PER_DAY + DEPLOY_MINUTE for d in DEPLOY_DAYS if d < days}
                     | (set(onsets) if fault and fault.bad_version else set()))
    bad_versions = [deploys.index(o) + 1 for o in onsets] if fault and fault.bad_version else []
    deploy_start = np.array([-np.inf, *deploys])  # by version
    version = np.zeros(count, dtype=int)
    for index, start in enumerate(deploys, start=1):
        since = request_minute - start
        version = np.where((since >= 0) & (draws["version"] < shift(np.maximum(since, 0.0))),
                           index, version)

    def assemble(version: np.ndarray, rolled_back: dict[int, int]) -> Week:
        # Cold starts: the profile's (more containers at more volume), and new containers for
        # each version's first request and at its full shift.
        cold = np.zeros(count, dtype=bool)
        cold[np.searchsorted(request_minute, starts[starts < minutes]).clip(0, count - 1)] = True
        for index, start in enumerate(deploys, start=1):
            first = np.flatnonzero(version == index)
            if len(first):
                cold[first[0]] = True
            full = int(np.searchsorted(request_minute, start + total))
            containers = max(1, math.ceil(rates[min(start + total, minutes - 1)]
                                          / REQUESTS_PER_MINUTE_PER_CONTAINER))
            cold[full:full + containers] = True
        latency = warm + np.where(cold, cold_ms, 0.0)
        outcome = np.where(draws["background"] < BACKGROUND_FAILURES_PER_INVOCATION,
                           FUNCTION_ERROR, OK)
        if fault is not None:
            outcome = np.where(hit & (draws["failing"] < fault.failing), FUNCTION_ERROR, outcome)
            outcome = np.where(hit & (draws["app"] < fault.app_500), APP_500, outcome)
            # The bad version until on-call rolls it back by hand, at the fault's end.
            since_deploy = request_minute - deploy_start[version]
            bad = np.isin(version, bad_versions) & (since_deploy < fault.minutes) & (
                draws["failing"] < (fault.bad_version or 0.0))
            outcome = np.where(bad, FUNCTION_ERROR, outcome)
            throttled = hit & (draws["throttled"] < fault.throttled)
            outcome = np.where(throttled, THROTTLED, outcome)
            latency = np.where(throttled, throttled_ms, latency)
            slow = hit & (draws["slow"] < fault.slow)
            latency = np.where(slow, slow_ms, latency)
            affected = (hit & (outcome != OK)) | slow
            if fault.unsure_by is not None:
                affected = hit & (outcome == OK)
        else:
            affected = np.zeros(count, dtype=bool)
        answered = np.where(outcome == OK, nights, 0)
        # Each request keeps its own draws, whether it is answered or not.
        probability = probability_draws[np.repeat(outcome == OK, nights)]
        answer_minute = np.repeat(request_minute, answered)
        if fault is not None and fault.unsure_by is not None:
            # Pulled toward the least an answer can have, so that their average sits
            # `unsure_by` below the threshold.
            least, target = model.least, model.low_probability - fault.unsure_by
            factor = (target - least) / (float(model.probabilities.mean()) - least)
            unsure = during[answer_minute.astype(int)]
            probability = np.where(unsure, least + (probability - least) * factor, probability)
        return Week(minutes, request_minute, outcome, latency, version, answer_minute,
                    probability, np.repeat(version, answered), list(drift_datapoints or []),
                    deploys, rolled_back, affected=affected,
                    # Silence: every request that would have come.
                    silenced=np.where(during, np.tile(np.asarray(
                        profile.per_minute_rates()) * 60 * volume, days), 0.0)
                    if fault is not None and fault.silent else np.zeros(minutes))

    week = assemble(version, {})
    if rollback is None:
        return week
    rolled_back = rollback(week)
    if not rolled_back:
        return week
    for index, minute in rolled_back.items():
        version = np.where((version == index) & (request_minute >= minute), index - 1, version)
    return assemble(version, rolled_back)


# Datapoints --------------------------------------------------------------------------------

def _per_period(minutes: np.ndarray, values: np.ndarray, period_min: int, periods: int,
                stat: str, offset: int) -> np.ndarray:
    """The statistic of the samples stamped in each period starting at minute
    offset + k * period_min (NaN for a period without any)."""
    index = np.floor((minutes - offset) / period_min).astype(int)
    keep = (index >= 0) & (index < periods)
    index, values = index[keep], values[keep]
    if stat in ("Sum", "Average", "SampleCount"):
        counts = np.bincount(index, minlength=periods)
        sums = np.bincount(index, weights=values, minlength=periods)
        value = {"Sum": sums, "SampleCount": counts.astype(float)}.get(
            stat, sums / np.maximum(counts, 1))
        return np.where(counts > 0, value, np.nan)
    result = np.full(periods, np.nan)
    order = np.argsort(index, kind="stable")
    index, values = index[order], values[order]
    bounds = np.searchsorted(index, np.arange(periods + 1))
    for period in np.flatnonzero(np.diff(bounds)):
        result[period] = statistic(values[bounds[period]:bounds[period + 1]], stat)
    return result


def _version_filter(metric: Metric, week: Week, version: int | None, minutes: np.ndarray,
                    versions: np.ndarray) -> np.ndarray:
    """Which samples a metric of one version has: that deploy's (`version`, for its rollout
    alarms), else the newest deploy's at each sample's minute (the template names the version
    being deployed, so a service alarm's version dimension moves with each deploy)."""
    if not metric.of_deployed_version:
        return np.ones(len(minutes), dtype=bool)
    if version is None:
        newest = np.searchsorted(np.asarray(week.deploys, dtype=float), minutes, side="right")
        return versions == newest  # type: ignore[no-any-return]
    return versions == version  # type: ignore[no-any-return]


def _samples(metric: Metric, week: Week, version: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(minute, value) of every sample CloudWatch gets for `metric` over the week. `version`:
    the rollout alarms' deploy (see _version_filter)."""
    if metric.namespace == "AWS/Lambda" and metric.drift_check:
        # The check runs at 05 past every hour and does not fail in these weeks.
        hours = np.arange(week.minutes // 60) * 60 + 5.0
        return hours, np.zeros(len(hours))
    if metric.name == "PredictionProbability":
        chosen = _version_filter(metric, week, version, week.answer_minute, week.answer_version)
        return week.answer_minute[chosen], week.answer_probability[chosen]
    if metric.name == "DriftScore":
        points = np.array(week.drift_datapoints, dtype=float).reshape(-1, 2)
        return points[:, 0], points[:, 1]
    served = _version_filter(metric, week, version, week.request_minute, week.version)
    minute, outcome = week.request_minute[served], week.outcome[served]
    if metric.namespace == "AWS/Lambda":
        invoked = outcome != THROTTLED
        return {"Invocations": (minute[invoked], np.ones(int(invoked.sum()))),
                "Errors": (minute[invoked], (outcome[invoked] == FUNCTION_ERROR) * 1.0),
                "Throttles": (minute, (outcome == THROTTLED) * 1.0)}[metric.name]
    if metric.namespace == "AWS/ApiGateway":
        return minute, {"Count": np.ones(len(minute)),
                        "5XXError": (outcome != OK) * 1.0,
                        "4XXError": np.zeros(len(minute)),
                        "Latency": week.latency_ms[served]}[metric.name]
    raise ValueError(f"no samples for {metric}")


def alarm_series(alarm: ReplayedAlarm, week: Week, version: int | None = None,
                 ) -> list[list[Datapoint]]:
    """The alarm's datapoints for each minute its periods may start at (the alarm's periods
    slide with its evaluation every minute): [offset][period]."""
    period_min = alarm.period_s // 60
    periods = week.minutes // period_min
    samples = {key: _samples(metric, week, version) for key, metric in alarm.metrics.items()}
    series = []
    for offset in range(period_min):
        values = {key: _per_period(minute, value, period_min, periods, alarm.metrics[key].stat,
                                   offset) for key, (minute, value) in samples.items()}
        combined = (values["m"] if alarm.expression is None
                    else metric_math(alarm.expression, values))
        series.append([None if math.isnan(v) else float(v) for v in combined])
    return series


# Replaying ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    alarm: str
    minute: int  # of the week, when on-call's phone goes off
    state: str  # ALARM or OK; "ROLLBACK" for CodeDeploy's failure message


def is_night(minute: float) -> bool:
    of_day = minute % MINUTES_PER_DAY
    return of_day >= NIGHT_STARTS or of_day < NIGHT_ENDS


def _history(alarm: ReplayedAlarm, week: Week, version: int | None = None) -> AlarmHistory:
    return AlarmHistory(alarm.rule).run_each_minute(
        alarm_series(alarm, week, version), alarm.period_s // 60, week.minutes)


def _page_minute(minute: int) -> int:
    return minute + EVALUATION_DELAY_MIN


def rollbacks(alarms: list[ReplayedAlarm], template: dict[str, Any]) -> Callable[[Week], dict[int, int]]:
    """CodeDeploy: a deploy whose rollout alarm is in ALARM while traffic shifts is rolled back
    at that minute. Each version's rollout alarms are its own, created at its deploy."""
    watched = [a for a in alarms if a.watched_by_codedeploy]
    window = shifting_minutes(deployment_shift(template)) + EVALUATION_DELAY_MIN

    def decide(week: Week) -> dict[int, int]:
        decided: dict[int, int] = {}
        for index, start in enumerate(week.deploys, start=1):
            for alarm in watched:
                history = _history(alarm, week, version=index)
                for change, state in history.changes:
                    minute = _page_minute(change)
                    if state == "ALARM" and start < minute <= start + window:
                        decided[index] = min(decided.get(index, minute), minute)
        return decided

    return decide


def pages_of(alarms: list[ReplayedAlarm], week: Week) -> list[Page]:
    """Every notification on-call gets: each paging alarm's ALARM and OK, and CodeDeploy's
    message for each rollback."""
    pages = [Page("rollback", minute, "ROLLBACK") for minute in week.rolled_back.values()]
    for alarm in (a for a in alarms if a.pages):
        for index, state in _history(alarm, week).notifications():
            pages.append(Page(alarm.name, _page_minute(index), state))
    return sorted(pages, key=lambda p: p.minute)


def rollout_flaps(alarms: list[ReplayedAlarm], week: Week) -> dict[str, int]:
    """How often each rollout alarm goes to ALARM over the week (on the live version between
    deploys): the dashboard shows it; nobody is notified."""
    flaps = {}
    for alarm in (a for a in alarms if a.watched_by_codedeploy):
        latest = int(week.version.max()) if len(week.version) else 0
        flaps[alarm.name] = sum(state == "ALARM" for _, state in
                                _history(alarm, week, version=latest).changes)
    return flaps


@dataclass
class Detection:
    fault: str
    onset: str
    minutes_to_detect: list[int | None]  # per injection
    pages: list[int]  # notifications per injection, every alarm counted
    affected: list[int]  # requests the fault changed, per injection
    by: list[str | None]  # which alarm (or the rollback) noticed first
    # The changed requests the alarms meant for it need (their datapoints to alarm: M
    # breaching one-minute periods need M requests; of several alarms, the most demanding).
    noticeable_from: int = 1
    unit: str = "requests changed"


def _attributed(pages: list[Page], onset: int, fault: Fault,
                horizon: int = MINUTES_PER_DAY) -> list[Page]:
    """The notifications an injection causes: from its onset to two hours after it ends (the
    alarms' OK: the longest window is an hour), no further than `horizon` (the next day's
    onset)."""
    end = onset + fault.minutes + 120
    return [p for p in pages if onset <= p.minute < min(end, onset + horizon)]


def replay(profile: Profile, model: Model, template: dict[str, Any], *, volume: float = 1.0,
           days: int = DAYS, drift: dict[str, list[tuple[int, float]]] | None = None,
           faults: tuple[Fault, ...] = (*FAULTS, HEALTHY_DEPLOY)) -> dict[str, Any]:
    """Healthy weeks' false pages, and each fault's time to detect at each onset. The drift
    check's weeks are at least DRIFT_DAYS long (their shifts start on day 4)."""
    alarms = read_alarms(template)
    decide = rollbacks(alarms, template)
    drift = drift or {}
    healthy = simulate_week(profile, model, template, volume=volume, days=days,
                            drift_datapoints=drift.get("healthy"), rollback=decide)
    healthy_pages = pages_of(alarms, healthy)
    per_week = DAYS / days
    false_pages: dict[str, dict[str, float]] = {
        a.name: {"day": 0.0, "night": 0.0} for a in alarms if a.pages}
    false_pages["rollback"] = {"day": 0.0, "night": 0.0}
    for page in (p for p in healthy_pages if p.state in ("ALARM", "ROLLBACK")):
        false_pages[page.alarm]["night" if is_night(page.minute) else "day"] += per_week
    detections = []
    for fault in faults:
        for onset_name, minute_of_day in ONSETS.items():
            onsets = tuple(d * MINUTES_PER_DAY + minute_of_day for d in range(days))
            week = simulate_week(profile, model, template, volume=volume, days=days,
                                 injection=Injection(fault, onsets), rollback=decide,
                                 drift_datapoints=drift.get("healthy"))
            pages = pages_of(alarms, week)
            meant = [a.rule.datapoints_to_alarm for a in alarms if a.name in fault.meant_for]
            detection = Detection(fault.name, onset_name, [], [], [], [],
                                  noticeable_from=max(meant, default=1))
            for onset in onsets:
                caused = _attributed(pages, onset, fault)
                first = next((p for p in caused if p.state in ("ALARM", "ROLLBACK")
                              and (p.alarm in fault.meant_for or p.alarm == "rollback")), None)
                detection.minutes_to_detect.append(None if first is None
                                                   else first.minute - onset)
                detection.by.append(None if first is None else first.alarm)
                detection.pages.append(len(caused))
                detection.affected.append(week.affected_between(onset, onset + fault.minutes))
            detections.append(detection)
    for scenario, points in drift.items():
        if scenario == "healthy":
            continue
        week = simulate_week(profile, model, template, volume=volume,
                             days=max(days, DRIFT_DAYS), drift_datapoints=points,
                             rollback=decide)
        onset = DRIFT_ONSET
        fault = Fault(DRIFT_FAULT.format(scenario), week.minutes - onset, ("input-drift",))
        # A shift lasts the rest of the week: every page from its start is its own.
        caused = _attributed(pages_of(alarms, week), onset, fault, horizon=fault.minutes)
        first = next((p for p in caused if p.alarm == "input-drift" and p.state == "ALARM"),
                     None)
        # What the drift alarm can see: the hours the check's datapoint reached its line (a
        # shift in the moderate band is the dashboard's, not a page).
        [drift_alarm] = [a for a in alarms if a.name == "input-drift"]
        rule = drift_alarm.rule
        over = {m // 60 for m, v in points if m >= onset and rule.breaching(v)}
        # The most hours over the line within any of the alarm's windows.
        breaching = max((sum(h + k in over for k in range(rule.evaluation_periods))
                         for h in over), default=0)
        detections.append(Detection(
            fault.name, DRIFT_ONSET_NAME, minutes_to_detect=[None if first is None
                                                           else first.minute - onset],
            pages=[len(caused)], affected=[breaching],
            by=[None if first is None else "input-drift"],
            noticeable_from=drift_alarm.rule.datapoints_to_alarm, unit="hours over its line"))
    return {
        "volume": volume, "days": days, "requests": len(healthy.request_minute),
        "deploys": len(healthy.deploys), "rolled_back": len(healthy.rolled_back),
        "false_pages_per_week": false_pages,
        "false_pages_total": sum(v["day"] + v["night"] for v in false_pages.values()),
        "rollout_alarm_flaps": rollout_flaps(alarms, healthy),
        "detections": [dataclasses.asdict(d) for d in detections],
        "alarms": [{"name": a.name, "period_s": a.period_s, **dataclasses.asdict(a.rule),
                    "pages": a.pages, "watched_by_codedeploy": a.watched_by_codedeploy}
                   for a in alarms],
    }


def misses(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(fault, onset, what) wherever `result` misses a target (set for beta volume). An
    injection that changed fewer requests than its alarms can notice is not counted (a quiet
    night's 20 minutes may fail one request, or none)."""
    found = []
    if result["false_pages_total"] > FALSE_PAGES_PER_WEEK:
        found.append(("healthy", "week", f"{result['false_pages_total']:.1f} false pages a week"))
    for d in result["detections"]:
        if d["fault"] == HEALTHY_DEPLOY.name:
            if any(d["pages"]):
                found.append((d["fault"], d["onset"], f"paged {sum(d['pages'])} times in "
                              f"{len(d['pages'])} deploys"))
            continue
        limit = DETECT_IN_PEAKS_MIN if d["onset"] in PEAK_ONSETS else DETECT_AT_NIGHT_MIN
        slow = [t for t, n in zip(d["minutes_to_detect"], d["affected"], strict=True)
                if n >= d["noticeable_from"] and (t is None or t > limit)]
        if slow:
            found.append((d["fault"], d["onset"], f"{len(slow)} of {len(d['affected'])} not "
                          f"detected within {limit} min"))
        if max(d["pages"]) > PAGES_PER_FAULT:
            found.append((d["fault"], d["onset"], f"up to {max(d['pages'])} pages"))
    return found


def unaccepted(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The misses that are not a stated trade-off (ACCEPTED_MISSES)."""
    return [m for m in misses(result) if accepted(m[0], m[1]) is None]


def accepted(fault: str, onset: str) -> str | None:
    """Why a miss of `fault` at `onset` is the trade-off chosen, if it is one."""
    return next((reason for (name, at), reason in ACCEPTED_MISSES.items()
                 if fault.startswith(name) and onset == at), None)


# The week's figures -------------------------------------------------------------------------

def drift_datapoints(figures: dict[str, Any], model: Model) -> dict[str, list[tuple[int, float]]]:
    """The drift check's datapoints of the drift simulation's weeks (docs/benchmarks.json):
    "healthy" is the served model's healthy week; every shift of every simulated model is a
    drift fault (the drift alarm reads only the check's largest distance, whatever the model)."""
    points: dict[str, list[tuple[int, float]]] = {"healthy": []}
    for simulated in figures.get("drift_simulation", []):
        for name, scenario in simulated["scenarios"].items():
            values = sorted((int(m), float(v)) for m, v in scenario.get("datapoints", {}).items())
            if name != "healthy":
                points[f"{simulated['model'].split()[0]}: {name}"] = values
            elif simulated["model"] == model.name:
                points["healthy"] = values
    return points


def synthesized_template() -> dict[str, Any]:
    import contextlib
    import sys
    import tempfile

    from benchmarks.cost import _infra_importable
    from harness.cdk import in_process_synth

    _infra_importable()
    with tempfile.TemporaryDirectory() as workdir, contextlib.redirect_stdout(sys.stderr):
        return in_process_synth(Path(workdir)).template


def run(days: int = DAYS, volumes: dict[str, float] | None = None) -> dict[str, Any]:
    from chalicelib.contract import BUNDLED_MODEL_DIR

    figures = json.loads((REPO_ROOT / "docs" / "benchmarks.json").read_text())
    template = synthesized_template()
    model = load_model(REPO_ROOT / BUNDLED_MODEL_DIR)
    drift = drift_datapoints(figures, model)
    volumes = volumes or VOLUMES
    results = {name: replay(Profile(), model, template, volume=volume, days=days, drift=drift)
               for name, volume in volumes.items()}
    variants = []
    for variant in VARIANTS:
        faults = tuple(f for f in FAULTS if f.name == variant.fault)
        shifts = drift if variant.fault == "drift" else {}
        changed = with_variant(template, variant)
        variants.append({**dataclasses.asdict(variant), "results": {
            name: replay(Profile(), model, changed, volume=volume, days=days, faults=faults,
                         drift=shifts)
            for name, volume in volumes.items()}})
    return {"model": model.name, "low_probability": model.low_probability,
            "results": results, "variants": variants,
            "misses": {name: [list(m) for m in misses(r)] for name, r in results.items()}}


def _clock(minutes: list[int | None], affected: list[int], noticeable_from: int,
           unit: str) -> str:
    found = sorted(t for t in minutes if t is not None)
    untouched = sum(1 for t, n in zip(minutes, affected, strict=True)
                    if t is None and n < noticeable_from)
    missed = len(minutes) - len(found) - untouched
    text = "not detected" if not found else (
        f"{found[len(found) // 2]} min" if found[0] == found[-1]
        else f"{found[len(found) // 2]} min ({found[0]}–{found[-1]})")
    notes = ([f"missed {missed} of {len(minutes)}"] if missed else []) + (
        [f"{untouched} with fewer than {noticeable_from} {unit}"] if untouched else [])
    return text + (f"; {', '.join(notes)}" if notes else "")


def render(figures: dict[str, Any]) -> str:
    lines = [SECTION_START,
             "Written by `make bench` (`python -m benchmarks.alarm_replay`), which also writes "
             "`alarm_replay` in `docs/benchmarks.json`. Model "
             f"{figures['model']}; each fault is injected once a day at each onset "
             f"(morning peak {ONSETS['morning peak'] // 60:02d}:00, evening peak "
             f"{ONSETS['evening peak'] // 60}:{ONSETS['evening peak'] % 60:02d}, night "
             f"{ONSETS['night'] // 60:02d}:00); night is {NIGHT_STARTS // 60}:00 to "
             f"{NIGHT_ENDS // 60:02d}:00. Targets at beta volume: at most "
             f"{FALSE_PAGES_PER_WEEK} false page a week, detection within "
             f"{DETECT_IN_PEAKS_MIN} min in the peaks and {DETECT_AT_NIGHT_MIN} min at night, at "
             f"most {PAGES_PER_FAULT} pages per fault."]
    for volume, result in figures["results"].items():
        lines += ["", f"**{volume}**: {result['requests']:,} requests in {result['days']} days; "
                  "false pages a week in healthy traffic, day / night:", "",
                  "| alarm | day | night |", "|---|---|---|"]
        for alarm, counts in result["false_pages_per_week"].items():
            lines.append(f"| `{alarm}` | {counts['day']:.1f} | {counts['night']:.1f} |")
        lines += [f"| **all** | | **{result['false_pages_total']:.1f}** |", "",
                  "| fault | onset | time to detect: median (range) | noticed by | pages, most |",
                  "|---|---|---|---|---|"]
        for d in result["detections"]:
            by = sorted({b for b in d["by"] if b})
            detected = (f"rolled back {d['by'].count('rollback')} of {len(d['by'])}"
                        if d["fault"] == HEALTHY_DEPLOY.name else
                        _clock(d["minutes_to_detect"], d["affected"], d["noticeable_from"],
                               d["unit"]))
            lines.append(f"| {d['fault']} | {d['onset']} | {detected} | "
                         f"{', '.join(by) or '—'} | {max(d['pages'])} |")
        flaps = ", ".join(f"`{n}` {c}" for n, c in result["rollout_alarm_flaps"].items())
        lines += ["", f"The rollout alarms, which notify nobody, went to ALARM on the live "
                  f"version between deploys: {flaps} times in the week."]
        missed = figures["misses"][volume]
        if missed:
            lines += ["", "Targets missed:" if volume == next(iter(figures["results"]))
                      else "Targets missed (they are set for beta volume):"]
            for fault, onset, what in missed:
                reason = accepted(fault, onset)
                lines.append(f"- {fault}, {onset}: {what}"
                             + (f" (chosen: {reason})" if reason else ""))
    lines += ["", "The settings not chosen, replayed on the same weeks (each with the faults "
              "it is about): median minutes to detect per onset, and the most pages one fault "
              "caused.", "",
              "| alarm | instead | volume | false pages a week | detection | pages, most |",
              "|---|---|---|---|---|---|"]
    for variant in figures["variants"]:
        for volume, result in variant["results"].items():
            medians = []
            for d in result["detections"]:
                found = sorted(t for t in d["minutes_to_detect"] if t is not None)
                medians.append(f"{d['fault']}, {d['onset']}: "
                               f"{found[len(found) // 2] if found else 'not detected'}")
            pages = max((max(d["pages"]) for d in result["detections"]), default=0)
            lines.append(f"| `{variant['alarm']}` | {variant['change']} | {volume} | "
                         f"{result['false_pages_total']:.1f} | {'; '.join(medians)} | {pages} |")
    lines.append(SECTION_END)
    return "\n".join(lines)


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures as docs/benchmarks.json keeps them: per fault and onset, the median, fastest
    and slowest minutes to detect, the injections missed and too slight to notice, the most
    pages; the false pages a week per alarm; the misses."""
    def detection(d: dict[str, Any]) -> dict[str, Any]:
        found = sorted(t for t in d["minutes_to_detect"] if t is not None)
        slight = [n < d["noticeable_from"] for n in d["affected"]]
        return {"fault": d["fault"], "onset": d["onset"], "injections": len(d["affected"]),
                "median_minutes": found[len(found) // 2] if found else None,
                "fastest_minutes": found[0] if found else None,
                "slowest_minutes": found[-1] if found else None,
                "missed": sum(t is None and not s for t, s in zip(
                    d["minutes_to_detect"], slight, strict=True)),
                "too_slight": sum(slight), "most_pages": max(d["pages"]),
                "noticed_by": sorted({b for b in d["by"] if b})}

    def result(r: dict[str, Any]) -> dict[str, Any]:
        return {"requests": r["requests"], "days": r["days"],
                "false_pages_per_week": r["false_pages_per_week"],
                "false_pages_total": r["false_pages_total"],
                "rollout_alarm_flaps": r["rollout_alarm_flaps"],
                "detections": [detection(d) for d in r["detections"]]}

    return {"model": figures["model"], "misses": figures["misses"],
            "results": {name: result(r) for name, r in figures["results"].items()},
            "variants": [{k: v for k, v in variant.items() if k != "results"}
                         | {"results": {name: result(r)
                                        for name, r in variant["results"].items()}}
                         for variant in figures["variants"]]}


def write(figures: dict[str, Any]) -> None:
    path = REPO_ROOT / "docs" / "monitoring.md"
    text = path.read_text(encoding="utf-8")
    start, end = text.index(SECTION_START), text.index(SECTION_END) + len(SECTION_END)
    text = text[:start] + render(figures) + text[end:]
    path.write_text(text, encoding="utf-8")
    measured_path = REPO_ROOT / "docs" / "benchmarks.json"
    measured = json.loads(measured_path.read_text())
    measured["alarm_replay"] = summary(figures)
    measured_path.write_text(json.dumps(measured, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--json", action="store_true", help="print the figures, write nothing")
    args = parser.parse_args()
    figures = run(args.days)
    if args.json:
        print(json.dumps(figures))
        return
    write(figures)
    print(render(figures))
    for volume, result in figures["results"].items():
        for miss in misses(result):
            print(f"{volume}: misses a target: {miss}")


if __name__ == "__main__":
    main()
