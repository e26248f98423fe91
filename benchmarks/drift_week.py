"""A simulated week of traffic through the real app and the real drift check.

    python -m benchmarks.drift_week                 # both models, writes docs/monitoring.md
    python -m benchmarks.drift_week --model-dir tests/models/bedroom --json

Each simulated request goes through the app's Lambda handler (an API Gateway proxy event, the
model of SLEEP_ADVISOR_MODEL_DIR), so the aggregate lines are the ones the function really
writes; each is kept with its simulated time in a log group that answers FilterLogEvents as
CloudWatch Logs documents it (harness/cloudwatch_logs.py). The drift check's own code then runs
at 05 past every simulated hour, and the drift alarm is evaluated on the datapoints it wrote:
a 1-hour period, Maximum, at or above the significant band, 1 of 1, missing as not breaching.

Traffic is the bill's (benchmarks.cost.Profile: its two peaks, its volume, its cold starts,
each of which is a new container and so a new tally; one container at a time). Nights are drawn
from the model's own training generator; 7 in 9 requests carry one night, 2 in 9 a week. The
shifted weeks share the healthy week's first three days and change from day 4 at 06:00.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cost import Profile
from chalicelib.saving import feature_matrix, request_value
from harness import REPO_ROOT
from harness.cloudwatch_logs import FakeLogGroup, FakeTopic

START = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)  # a Monday, 00:00 UTC
DAYS = 7
ONSET_MINUTE = 3 * 1440 + 6 * 60  # day 4, 06:00
WEEK_NIGHTS = 7
WEEK_BATCH_SHARE = 2 / 9
LOG_GROUP = "/aws/lambda/sleep-advisor-sim"
SECTION_START, SECTION_END = "<!-- drift-simulation:start -->", "<!-- drift-simulation:end -->"
MODELS = (REPO_ROOT / "model", REPO_ROOT / "tests" / "models" / "bedroom")


@dataclass(frozen=True)
class Shift:
    """What changes at the onset: `feature` of a `share` of the requests goes through `change`."""

    name: str
    feature: str
    share: float
    change: Callable[[np.ndarray], np.ndarray]


def nights_like_training(model_name: str, rows: int, seed: int) -> np.ndarray:
    """Nights drawn as the model's training data was (its own generator), features in order."""
    if model_name == "sleep-advice":
        from model.train import generate_nights
        return np.asarray(generate_nights(rows, seed).features, dtype=np.float64)
    if model_name == "bedroom-check":
        from tests.models.bedroom_train import FEATURES, generate_rooms
        return feature_matrix(generate_rooms(rows, seed)[0], FEATURES)
    raise SystemExit(f"no traffic generator for model {model_name!r}: the simulation knows the "
                     "two committed models")


SHIFTS = {
    "sleep-advice": (
        Shift("sleep latency 40 min longer for a third of users", "sleep_latency_minutes", 1 / 3,
              lambda v: v + 40),
        Shift("caffeine sent in grams by a client release", "caffeine_after_14h_mg", 1.0,
              lambda v: v / 1000),
    ),
    "bedroom-check": (
        Shift("rooms 4 °C warmer for a third of users", "room_temperature_celsius", 1 / 3,
              lambda v: v + 4),
        Shift("light sent in kilolux by a client release", "light_lux", 1.0, lambda v: v / 1000),
        # A category: a heat wave, and half the users sleep with the window open (code 2).
        Shift("windows open on half of the nights in a heat wave", "window", 1 / 2,
              lambda v: np.full_like(v, 2.0)),
    ),
}


@dataclass
class Traffic:
    """A week of requests: minute of the week, and the rows of nights each carries."""

    minutes: np.ndarray
    offsets: np.ndarray  # request i carries rows offsets[i]:offsets[i + 1]
    nights: np.ndarray
    shifted: np.ndarray  # per night: whether a shift that hits `share` of users applies
    cold_starts: np.ndarray  # minutes of the week at which a new container starts


def week_of_traffic(model_name: str, profile: Profile, seed: int = 11,
                    days: int = DAYS) -> Traffic:
    rng = np.random.default_rng(seed)
    rates = np.array(profile.per_minute_rates() * days) * 60
    per_minute = rng.poisson(rates)
    minutes = np.repeat(np.arange(len(rates)), per_minute) + rng.random(per_minute.sum())
    sizes = np.where(rng.random(len(minutes)) < WEEK_BATCH_SHARE, WEEK_NIGHTS, 1)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    nights = nights_like_training(model_name, int(offsets[-1]), seed)
    # A user is shifted or not for all their nights: drawn per request.
    shifted = np.repeat(rng.random(len(minutes)), sizes)
    starts = np.cumsum(rng.exponential(1440 / profile.cold_starts_per_day, 4 * days * 40))
    return Traffic(minutes, offsets, nights, shifted, starts[starts < len(rates)])


class SimulatedStage:
    """The app in this process, its lines kept in a log group with their simulated times."""

    def __init__(self) -> None:
        import app  # the model of SLEEP_ADVISOR_MODEL_DIR
        from chalicelib import contract
        from chalicelib.drift import NightTally
        from chalicelib.proxy_event import api_gateway_event
        from harness.lambda_context import LambdaContext

        self.app, self.contract = app, contract
        self.metadata = app.advisor.metadata
        self.now_s = 0.0
        self._baseline, self._tally_class = app.package.baseline, NightTally
        self._event, self._context = api_gateway_event, LambdaContext
        self.log_group = FakeLogGroup(LOG_GROUP)
        self.answered = self.counted = 0

    def new_container(self) -> None:
        self.app.tally = self._tally_class(self._baseline, clock=lambda: self.now_s)

    def request(self, minute: float, nights: np.ndarray) -> None:
        self.now_s = minute * 60
        names = self.metadata.feature_names
        specs = self.metadata.features
        instances = [{n: request_value(s, v) for n, s, v in zip(names, specs, row, strict=True)}
                     for row in nights]
        body: dict[str, Any] = (
            {"features": instances[0]} if len(instances) == 1 else {"instances": instances})
        event = self._event("POST", "/predict", json.dumps(body),
                            headers={"content-type": "application/json"})
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            response = self.app.app(event, self._context())
        if response["statusCode"] != 200:
            raise RuntimeError(f"the simulated request was refused: {response['body']}")
        self.answered += len(instances)
        text = output.getvalue()
        if self.contract.AGGREGATE_LOG in text:
            for line in text.splitlines():
                if self.contract.AGGREGATE_LOG in line:
                    self.counted += json.loads(line)["nights"]
                    self.log_group.put(int((START.timestamp() + self.now_s) * 1000), line)

    def snapshot(self) -> dict[str, Any]:
        return {"events": list(self.log_group.events), "tally": copy.deepcopy(self.app.tally),
                "answered": self.answered, "counted": self.counted}

    def restore(self, state: dict[str, Any]) -> None:
        self.log_group.events = list(state["events"])
        self.app.tally = copy.deepcopy(state["tally"])
        self.answered, self.counted = state["answered"], state["counted"]


def _feature_rows(traffic: Traffic, stage: SimulatedStage, shift: Shift | None) -> np.ndarray:
    if shift is None:
        return traffic.nights
    rows = traffic.nights.copy()
    index = stage.metadata.feature_names.index(shift.feature)
    spec = stage.metadata.features[index]
    after = np.repeat(traffic.minutes >= ONSET_MINUTE, np.diff(traffic.offsets))
    hit = after & (traffic.shifted < shift.share)
    changed = np.clip(shift.change(rows[hit, index]), spec.lowest, spec.highest)
    rows[hit, index] = changed.round(0) if spec.discrete else changed
    return rows


def _serve(stage: SimulatedStage, traffic: Traffic, rows: np.ndarray, first: int,
           last: int) -> None:
    # The cold starts after the last request already served.
    since = traffic.minutes[first - 1] if first > 0 else -np.inf
    cold = iter(traffic.cold_starts[traffic.cold_starts > since])
    next_cold = next(cold, np.inf)
    for i in range(first, last):
        while traffic.minutes[i] >= next_cold:
            stage.new_container()
            next_cold = next(cold, np.inf)
        stage.request(float(traffic.minutes[i]), rows[traffic.offsets[i]:traffic.offsets[i + 1]])


def scheduled_event(at: dt.datetime) -> dict[str, Any]:
    """EventBridge's scheduled event for `at`, as the hourly rule sends it."""
    return {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {},
            "time": at.isoformat().replace("+00:00", "Z")}


def alarm_event(at: dt.datetime) -> dict[str, Any]:
    """The drift alarm's state change to ALARM, as CloudWatch sends it to EventBridge."""
    return {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "time": at.isoformat().replace("+00:00", "Z"),
            "detail": {"alarmName": "sleep-advisor-sim-input-drift",
                       "state": {"value": "ALARM"}, "previousState": {"value": "OK"}}}


def _run_check(stage: SimulatedStage, event: dict[str, Any],
               topic: FakeTopic) -> tuple[dict[str, Any], str]:
    from chalicelib import drift_check

    output = io.StringIO()
    # Powertools warns that CloudWatch would drop a datapoint stamped hours in the future: the
    # simulated week is not now.
    with contextlib.redirect_stdout(output), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        line = drift_check.run_check(
            event, logs=stage.log_group, sns=topic, log_group=LOG_GROUP,
            topic_arn="arn:aws:sns:::alerts", stage="sim", model_dir=stage.app.settings.model_dir)
    return line, output.getvalue()


def _checks(stage: SimulatedStage, days: int) -> list[dict[str, Any]]:
    """The real check at 05 past every hour of the week, and the datapoint it wrote, if any."""
    results = []
    for hour in range(1, days * 24):
        line, output = _run_check(stage, scheduled_event(
            START + dt.timedelta(hours=hour, minutes=5)), FakeTopic())
        score = None
        for text in output.splitlines():
            document = json.loads(text)
            if "_aws" in document:
                value = document[stage.contract.DRIFT_SCORE]
                score = value[0] if isinstance(value, list) else value
        results.append({"minute": hour * 60 + 5, "line": line, "score": score})
    return results


def _messages(stage: SimulatedStage, transitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The check's message for each time the alarm went to ALARM (about a minute after the
    datapoint that tipped it, when CloudWatch evaluates)."""
    messages = []
    for transition in (t for t in transitions if t["state"] == "ALARM"):
        topic = FakeTopic()
        _run_check(stage, alarm_event(START + dt.timedelta(minutes=transition["minute"] + 1)),
                   topic)
        messages += [json.loads(m["Message"]) for m in topic.messages]
    return messages


def _alarm(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drift alarm's transitions, as CloudWatch evaluates it (harness/cloudwatch_alarms.py):
    each hour's datapoint, 0 where the check wrote none (FILL); ALARM when ALARM_DATAPOINTS of
    the last ALARM_PERIODS reach the significant band, OK otherwise."""
    from chalicelib.drift import SIGNIFICANT_SHIFT
    from chalicelib.drift_check import ALARM_DATAPOINTS, ALARM_PERIODS
    from harness.cloudwatch_alarms import AlarmHistory, AlarmRule

    rule = AlarmRule(SIGNIFICANT_SHIFT, "GreaterThanOrEqualToThreshold", ALARM_PERIODS,
                     ALARM_DATAPOINTS, "notBreaching")
    history = AlarmHistory(rule, state="OK").run([c["score"] or 0.0 for c in checks])
    return [{"minute": checks[index]["minute"], "state": state}
            for index, state in history.changes]


def simulate(profile: Profile | None = None, days: int = DAYS) -> dict[str, Any]:
    """Every scenario for the model this process serves."""
    profile = profile or Profile()
    stage = SimulatedStage()
    traffic = week_of_traffic(stage.metadata.name, profile, days=days)
    onset = int(np.searchsorted(traffic.minutes, ONSET_MINUTE))
    stage.new_container()
    _serve(stage, traffic, traffic.nights, 0, onset)
    shared = stage.snapshot()
    scenarios = {}
    for shift in (None, *SHIFTS[stage.metadata.name]):
        stage.restore(shared)
        _serve(stage, traffic, _feature_rows(traffic, stage, shift), onset, len(traffic.minutes))
        checks = _checks(stage, days)
        transitions = _alarm(checks)
        after = [t for t in transitions if t["minute"] >= ONSET_MINUTE and t["state"] == "ALARM"]
        before = [t for t in transitions if t["minute"] < ONSET_MINUTE or shift is None]
        # The check's line at the hour the alarm went off: the feature it named.
        detected = next((c for c in checks if after and c["minute"] == after[0]["minute"]), None)
        messages = _messages(stage, transitions)
        named = messages[0] if messages else None
        scored = [c["line"]["largest_distance"] for c in checks if "largest_distance" in c["line"]]
        scenarios[shift.name if shift else "healthy"] = {
            "shift": None if shift is None else {"feature": shift.feature, "share": shift.share},
            "false_pages": len([t for t in before if t["state"] == "ALARM"]),
            "pages": len([t for t in transitions if t["state"] == "ALARM"]),
            "transitions": transitions,
            "minutes_to_detect": None if shift is None or not after
            else after[0]["minute"] - ONSET_MINUTE,
            "named_first": None if detected is None else detected["line"]["largest"],
            "messages": len(messages),
            "message_title": None if named is None else named["content"]["title"],
            "message_description": None if named is None else named["content"]["description"],
            "hours_with_datapoint": sum(c["score"] is not None for c in checks),
            "checks": len(checks),
            "checks_without_distance": sum("largest_distance" not in c["line"] for c in checks),
            "largest_distance_healthy_max": max(
                (c["line"]["largest_distance"] for c in checks
                 if "largest_distance" in c["line"] and (shift is None
                                                         or c["minute"] < ONSET_MINUTE)),
                default=None),
            "largest_distance_median": float(np.median(scored)) if scored else None,
            "largest_distance_after_onset_median": None if shift is None else float(np.median(
                [c["line"]["largest_distance"] for c in checks
                 if c["minute"] >= ONSET_MINUTE and "largest_distance" in c["line"]])),
            "scores": [[c["minute"], c["score"]] for c in checks],
            "nights_answered": stage.answered,
            "nights_in_aggregates": stage.counted,
            "aggregate_lines": len(stage.log_group.events),
            "aggregate_line_bytes": round(float(np.mean(
                [len(m.encode()) for _, m in stage.log_group.events])), 1),
            "check_line_bytes": round(float(np.mean(
                [len(json.dumps(c["line"]).encode()) for c in checks])), 1),
        }
        if shift is None:
            healthy_lines = list(stage.log_group.events)
    return {"model": f"{stage.metadata.name} {stage.metadata.version}",
            "requests": len(traffic.minutes), "nights": int(traffic.offsets[-1]),
            "containers": int(len(traffic.cold_starts) + 1), "days": days,
            "scenarios": scenarios, "check_cpu": check_cpu(healthy_lines, days)}


def check_cpu(lines: list[tuple[int, str]], days: int) -> dict[str, float]:
    """CPU seconds of the check in a fresh interpreter (this venv, not the image: a projection):
    starting Python and importing it, then one run over the week's last 25 hours of lines."""
    end = START + dt.timedelta(days=days, minutes=5)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as events:
        json.dump(lines, events)
        events.flush()
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.drift_week", "--check-cpu", events.name,
             end.isoformat()], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "POWERTOOLS_TRACE_DISABLED": "true"})
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _time_one_check(events_path: str, at: str) -> None:
    from chalicelib import drift_check

    imported = resource.getrusage(resource.RUSAGE_SELF)
    group = FakeLogGroup(LOG_GROUP)
    for timestamp, message in json.loads(Path(events_path).read_text()):
        group.put(timestamp, message)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        drift_check.run_check(scheduled_event(dt.datetime.fromisoformat(at)), logs=group,
                              sns=FakeTopic(), log_group=LOG_GROUP,
                              topic_arn="arn:aws:sns:::alerts", stage="sim")
    done = resource.getrusage(resource.RUSAGE_SELF)

    def cpu(usage: resource.struct_rusage) -> float:
        return usage.ru_utime + usage.ru_stime

    # The interpreter's start and this module's imports (numpy, the harness) are in the first:
    # an upper bound on the check's own start.
    print(json.dumps({"start_and_import_s": round(cpu(imported), 3),
                      "run_s": round(cpu(done) - cpu(imported), 3)}))


def run_for(model_dir: Path) -> dict[str, Any]:
    environment = {**os.environ, "SLEEP_ADVISOR_MODEL_DIR": str(model_dir),
                   "POWERTOOLS_TRACE_DISABLED": "true"}
    result = subprocess.run([sys.executable, "-m", "benchmarks.drift_week", "--json"],
                            cwd=REPO_ROOT, env=environment, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _clock(minute: int | None) -> str:
    if minute is None:
        return "not detected"
    return f"{minute // 60} h {minute % 60:02d} min"


def render(results: list[dict[str, Any]]) -> str:
    from chalicelib.drift import (
        AGGREGATE_MIN_INTERVAL_S,
        AGGREGATE_MIN_NIGHTS,
        AGGREGATE_MIN_REQUESTS,
        MODERATE_SHIFT,
        SIGNIFICANT_SHIFT,
    )
    from chalicelib.drift_check import (
        ALARM_DATAPOINTS,
        ALARM_PERIODS,
        MIN_NIGHTS,
        RECENT_NIGHTS,
        WINDOW_HOURS,
    )

    rows, messages = [], []
    for result in results:
        for name, s in result["scenarios"].items():
            lost = 1 - s["nights_in_aggregates"] / s["nights_answered"]
            median = s.get("largest_distance_after_onset_median")
            after = "—" if median is None else f"{median:.2f}"
            rows.append(
                f"| {result['model']} | {name} | {s['false_pages']} | "
                f"{'—' if s['shift'] is None else _clock(s['minutes_to_detect'])} | "
                f"{s['named_first'] or '—'} | {s['pages']} | {s['hours_with_datapoint']} | "
                f"{s['largest_distance_healthy_max']:.3f} | {after} | "
                f"{lost:.1%} |")
            if s["message_description"]:
                messages.append(f"- {result['model']}, {name}:\n\n  > {s['message_title']}\n"
                                + "".join(f"  > {line}\n" for line in
                                          s["message_description"].splitlines()))
    first = results[0]
    return f"""{SECTION_START}
Written by `make drift-simulation` (`python -m benchmarks.drift_week`), which also writes
`drift_simulation` in `docs/benchmarks.json`. Per model: {first['days']} simulated days,
{first['requests']:,} requests ({first['nights']:,} nights) at the bill's volume and peaks,
{first['containers']} containers; shifts start on day 4 at 06:00. A container writes a line per
at least {AGGREGATE_MIN_NIGHTS} nights from {AGGREGATE_MIN_REQUESTS} requests and
{AGGREGATE_MIN_INTERVAL_S / 60:.0f} minutes; the check runs at 05 past every hour on the newest
{RECENT_NIGHTS:,} nights, at most {WINDOW_HOURS} h back (no distance below {MIN_NIGHTS}); the
alarm fires when {ALARM_DATAPOINTS} of the last {ALARM_PERIODS} hours reach PSI
{SIGNIFICANT_SHIFT}. Time to detect runs from the shift's start to the hour the alarm goes off
(CloudWatch adds its evaluation, about a minute). A shift whose PSI stays between
{MODERATE_SHIFT} and {SIGNIFICANT_SHIFT} is the moderate band: on the dashboard, not paged.

{" | ".join(["| model", "week", "false pages", "time to detect", "feature named", "pages",
             "hours with a datapoint", "largest PSI before any shift",
             "largest PSI after, median", "nights lost with their container |"])}
|{"---|" * 10}
{chr(10).join(rows)}

The first message of each shifted week, as Slack shows it:

{chr(10).join(messages)}{SECTION_END}"""


def write(results: list[dict[str, Any]]) -> None:
    path = REPO_ROOT / "docs" / "monitoring.md"
    text = path.read_text(encoding="utf-8")
    start, end = text.index(SECTION_START), text.index(SECTION_END) + len(SECTION_END)
    path.write_text(text[:start] + render(results) + text[end:], encoding="utf-8")
    figures = REPO_ROOT / "docs" / "benchmarks.json"
    measured = json.loads(figures.read_text())
    # The hours' datapoints are kept where the check wrote one (minute of the week: PSI): the
    # alarm replay (benchmarks/alarm_replay.py) reads them as the drift check's metric.
    measured["drift_simulation"] = [
        {**r, "scenarios": {n: {**{k: v for k, v in s.items() if k not in ("transitions", "scores")},
                                "datapoints": {str(m): round(v, 4) for m, v in s["scores"]
                                               if v is not None}}
                            for n, s in r["scenarios"].items()}} for r in results]
    measured["drift_check"] = bill_figures(results[0])
    figures.write_text(json.dumps(measured, indent=2) + "\n")


def bill_figures(result: dict[str, Any]) -> dict[str, float]:
    """What the bill needs, per simulated week of the bundled model's healthy traffic."""
    healthy = result["scenarios"]["healthy"]
    per_week = DAYS / result["days"]
    return {
        "aggregate_lines_per_week": healthy["aggregate_lines"] * per_week,
        "aggregate_line_bytes": healthy["aggregate_line_bytes"],
        "check_line_bytes": healthy["check_line_bytes"],
        "datapoint_hours_per_week": healthy["hours_with_datapoint"] * per_week,
        "check_start_cpu_s": result["check_cpu"]["start_and_import_s"],
        "check_run_cpu_s": result["check_cpu"]["run_s"],
        "requests_per_week": result["requests"] * per_week,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true",
                        help="simulate the model of SLEEP_ADVISOR_MODEL_DIR, print JSON")
    parser.add_argument("--check-cpu", nargs=2, metavar=("EVENTS", "TIME"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check_cpu:
        _time_one_check(*args.check_cpu)
        return
    if args.json:
        print(json.dumps(simulate()))
        return
    results = [run_for(model_dir) for model_dir in MODELS]
    write(results)
    print(render(results))


if __name__ == "__main__":
    main()
