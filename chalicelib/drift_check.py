"""The drift check: the last day's aggregate lines against the model's training baseline.

It runs from the function's own image (another command, `chalicelib.drift_check.handler`), so
the baseline it compares with is that of the model the stage serves. It reads the function's
aggregate lines (chalicelib.drift.NightTally) of the last READ_HOURS hours with
CloudWatch Logs' FilterLogEvents, sums the newest of this model version up to RECENT_NIGHTS
nights, compares them with the baseline, and always logs one JSON line with every feature's
and the answer mix's distance (PSI) and the bins that moved most (the dashboard draws them).
What else it does depends on what invoked it:

- EventBridge's hourly schedule: the largest distance as the DriftScore metric (Embedded Metric
  Format in its own log, so the role needs no CloudWatch permission), which the drift alarm
  reads. Written only from the moderate band up: CloudWatch bills a custom metric for the hours
  it receives data, and the alarm reads an hour without a datapoint as 0 (FILL), as it would a
  small one.
- The drift alarm going to ALARM (its state change, through EventBridge): an Amazon Q Developer
  custom notification to the alerts topic naming the features that moved, beside the alarm's
  own message. Sent on the alarm's own transition, so the two always come together, once.
- Anything else (someone invoking it to look now): the line only.

Fewer than MIN_NIGHTS nights in WINDOW_HOURS (a quiet stage, a new model version): no
distance, no datapoint. It imports neither scikit-learn nor the service.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib import contract, drift
from chalicelib.drift import DriftBaseline, DriftReport
from chalicelib.log_stream import CurrentStdout
from chalicelib.metadata import ModelMetadata

LOG_GROUP_VARIABLE = contract.ENVIRONMENT_PREFIX + "FUNCTION_LOG_GROUP"
# The window compared with the baseline: the newest aggregate lines until they hold RECENT_NIGHTS
# nights, looking back at most WINDOW_HOURS. At the beta's volume that is the last few hours at
# a peak and the whole day at night; at ten times the volume, the last half hour of a peak: a
# shift is seen as soon as enough nights show it, whatever the traffic.
WINDOW_HOURS = 24
RECENT_NIGHTS = 2_000
# What each run reads: the window's reach, and an hour for lines stamped late in the last one.
READ_HOURS = WINDOW_HOURS + 1
# PSI's bias for n nights over b bins is about (b - 1) / n (Yurdakul 2018): 0.02 for ten bins
# at 500 nights, far below the 0.1 band. Fewer nights than this in WINDOW_HOURS: no distance.
MIN_NIGHTS = 500
# The drift alarm's rule (infra/sleep_advisor_infra/monitoring.py sets it from these; the
# simulation in benchmarks/drift_week.py evaluates it): ALARM when this many of the last
# ALARM_PERIODS hourly datapoints reach the significant band, an hour without one counting as 0.
# One hour over the line is noise around a moderate shift, two in three a shift that stays:
# the alarm replay (benchmarks/alarm_replay.py, docs/monitoring.md) shows both, as one hour of
# two pages a shift an hour sooner and a shift hovering at the line three times.
ALARM_DATAPOINTS = 2
ALARM_PERIODS = 3
# The datapoint is stamped this long after the window's end. The alarm's hours slide with
# every evaluation: stamped at the run's own minute, the newest hour would be empty (FILL: 0)
# from that minute until the new datapoint arrives, and a drift alarm could blink to OK.
# A minute later, the previous run's datapoint is still in the newest hour while the new one
# is extracted (seconds after the run).
DATAPOINT_OFFSET_S = 60
# Features named in the on-call message, largest distance first.
FEATURES_NAMED = 3
HOUR_MS = 3_600_000

logger = Logger(service=contract.SERVICE_NAME, stream=CurrentStdout())  # type: ignore[arg-type]


def aggregate_filter(model_version: str) -> str:
    """FilterLogEvents' pattern for this model's aggregate lines (a JSON filter pattern)."""
    return (f'{{ $.message = "{contract.AGGREGATE_LOG}" && '
            f'$.model_version = "{model_version}" }}')


def aggregate_events(logs: Any, log_group: str, start_ms: int, end_ms: int,
                     model_version: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(timestamp, aggregate) for every aggregate line of `model_version` with start_ms <=
    timestamp <= end_ms (FilterLogEvents' bounds are inclusive). The pages are followed to the
    end: a page may be empty while its nextToken still leads to more events."""
    request: dict[str, Any] = {"logGroupName": log_group, "startTime": start_ms,
                               "endTime": end_ms, "filterPattern": aggregate_filter(model_version)}
    while True:
        page = logs.filter_log_events(**request)
        for event in page.get("events", ()):
            try:
                line = json.loads(event["message"])
            except (KeyError, TypeError, ValueError):
                continue
            # The pattern already selects these; checked again, as any reader of logs should.
            if (isinstance(line, dict) and line.get("message") == contract.AGGREGATE_LOG
                    and line.get("model_version") == model_version):
                yield int(event["timestamp"]), line
        token = page.get("nextToken")
        if not token:
            return
        request["nextToken"] = token


@dataclass(frozen=True)
class Window:
    end_ms: int
    report: DriftReport | None  # None: fewer than MIN_NIGHTS nights
    nights: int


def window(events: list[tuple[int, dict[str, Any]]], baseline: DriftBaseline,
           end_ms: int) -> Window:
    """The newest valid lines before `end_ms` (newest first) until RECENT_NIGHTS nights, none
    older than WINDOW_HOURS, compared with the baseline."""
    start = end_ms - WINDOW_HOURS * HOUR_MS
    counts = drift.Counts.empty(baseline)
    for timestamp, aggregate in sorted(events, key=lambda event: event[0], reverse=True):
        if timestamp >= end_ms or not drift.valid_aggregate(aggregate, baseline):
            continue
        if timestamp < start or counts.nights >= RECENT_NIGHTS:
            break
        counts = counts.add(aggregate)
    report = drift.compare(baseline, counts) if counts.nights >= MIN_NIGHTS else None
    return Window(end_ms, report, counts.nights)


def check_line(metadata: ModelMetadata, window: Window) -> dict[str, Any]:
    """The check's JSON line: every distance, and the bins that moved most, per feature."""
    line: dict[str, Any] = {"model_version": metadata.version, "nights": window.nights,
                            "recent_nights": RECENT_NIGHTS, "min_nights": MIN_NIGHTS,
                            "window_hours": WINDOW_HOURS}
    report = window.report
    if report is None:
        return {**line, "band": "too few nights"}
    return {
        **line, "band": report.band(), "largest": report.largest.name,
        "largest_distance": round(report.largest.psi, 4),
        "distances": {d.name: round(d.psi, 4) for d in report.distances},
        "moved": {d.name: [{"bin": m.bin, "training_share": round(m.training_share, 4),
                            "recent_share": round(m.recent_share, 4)} for m in d.moved]
                  for d in report.distances},
    }


def notification(metadata: ModelMetadata, report: DriftReport, *, stage: str,
                 window_end: dt.datetime) -> dict[str, Any]:
    """The significant shift as an Amazon Q Developer (Chatbot) custom notification."""
    model = f"{metadata.name} {metadata.version}"
    # The features that moved at least moderately (the largest always).
    named = [d for d in report.distances[:FEATURES_NAMED]
             if d.psi >= drift.MODERATE_SHIFT] or [report.largest]
    lines = [f"The last {report.nights:,} nights answered before {window_end:%Y-%m-%d %H:%M} "
             "UTC against the training data (PSI: below 0.1 no change, above 0.25 "
             "significant):"]
    lines += [f"• {d.summary()}" for d in named]
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"drift-{metadata.version}-{window_end:%Y%m%dT%H%M}",
        "content": {
            "textType": "client-markdown",
            "title": (f":warning: {contract.SERVICE_NAME} {stage}: model {model} is answering "
                      f"nights unlike its training data ({report.largest.name}, "
                      f"PSI {report.largest.psi:.2f})"),
            "description": "\n".join(lines),
            "nextSteps": [
                "A client release? Units or defaults the app sends (minutes against hours, mg "
                "against g) move one feature to its lowest or highest bin: check the release "
                "notes and 'Requests rejected by the function'.",
                "A new user group? Several features moving together, and the answer mix, point "
                "to users unlike the training data (night shifts, a new market).",
                "Retrain? If the users really changed, `make drift-report` compares an export "
                "of recent requests with the training baseline, feature by feature.",
            ],
        },
        "metadata": {"threadId": f"{contract.resource_name(stage, 'drift')}-{metadata.version}",
                     "summary": f"{model}: " + "; ".join(d.summary() for d in named)[:200],
                     "eventType": "InputDrift"},
    }


def trigger(event: Mapping[str, Any]) -> str:
    """What invoked the check: "schedule", "alarm" (the drift alarm went to ALARM) or
    "manual"."""
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return "schedule"
    state = (event.get("detail") or {}).get("state") or {}
    if (event.get("source") == "aws.cloudwatch"
            and event.get("detail-type") == "CloudWatch Alarm State Change"
            and state.get("value") == "ALARM"):
        return "alarm"
    return "manual"


def run_check(event: Mapping[str, Any], *, logs: Any, sns: Any, log_group: str, topic_arn: str,
              stage: str, model_dir: Path = contract.BUNDLED_MODEL_DIR,
              metrics: EphemeralMetrics | None = None) -> dict[str, Any]:
    """One check, for the window ending at the event's time (floored to the minute)."""
    window_end = _event_time(event)
    end_ms = int(window_end.timestamp() * 1000)
    metadata = ModelMetadata.read(model_dir)
    baseline = drift.read_baseline(model_dir, metadata)
    current = window(list(aggregate_events(
        logs, log_group, end_ms - READ_HOURS * HOUR_MS, end_ms - 1, metadata.version)),
        baseline, end_ms)
    invoked_by = trigger(event)
    line = {**check_line(metadata, current), "trigger": invoked_by}
    logger.info(contract.DRIFT_CHECK_LOG, extra=line)
    report = current.report
    if invoked_by == "schedule" and report is not None and (
            report.largest.psi >= drift.MODERATE_SHIFT):
        _write_score(metrics, metadata, report,
                     window_end + dt.timedelta(seconds=DATAPOINT_OFFSET_S))
    if invoked_by == "alarm" and report is not None:
        sns.publish(TopicArn=topic_arn, Message=json.dumps(notification(
            metadata, report, stage=stage, window_end=window_end)))
        line["notified"] = True
    return line


def _write_score(metrics: EphemeralMetrics | None, metadata: ModelMetadata,
                 report: DriftReport, at: dt.datetime) -> None:
    writer = metrics or EphemeralMetrics(
        service=contract.SERVICE_NAME,
        namespace=os.environ.get(contract.METRICS_NAMESPACE_VARIABLE, contract.METRICS_NAMESPACE))
    writer.add_dimension(contract.MODEL_VERSION_DIMENSION, metadata.version)
    # Unrounded: the alarm compares the same value the band was decided on.
    writer.add_metric(name=contract.DRIFT_SCORE, unit=MetricUnit.NoUnit,
                      value=report.largest.psi)
    writer.set_timestamp(at)
    writer.flush_metrics()


def _event_time(event: Mapping[str, Any]) -> dt.datetime:
    """The time EventBridge names in the event ("time", ISO 8601 in UTC), else now."""
    stamp = event.get("time")
    if isinstance(stamp, str):
        at = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(dt.UTC)
    else:
        at = dt.datetime.now(dt.UTC)
    # A scheduled event fires within its minute (its time may read 09:05:06): the window ends
    # on the minute, the same for a retry of the same event.
    return at.replace(second=0, microsecond=0)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The drift check's Lambda entry point."""
    import botocore.session

    session = botocore.session.get_session()
    return run_check(
        event, logs=session.create_client("logs"), sns=session.create_client("sns"),
        log_group=os.environ[LOG_GROUP_VARIABLE],
        topic_arn=os.environ[contract.ALERTS_TOPIC_VARIABLE],
        stage=os.environ[contract.STAGE_VARIABLE],
    )
