"""Drift monitoring end to end in one process: the app's aggregate lines, then the scheduled check
reading them through FilterLogEvents as CloudWatch Logs documents it (harness/cloudwatch_logs.py),
with its metric, its line and its message to on-call."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from types import ModuleType
from typing import Any

import pytest
from chalice.test import Client

from benchmarks.drift_week import alarm_event, scheduled_event
from chalicelib import contract, drift_check
from chalicelib.drift import AGGREGATE_MIN_NIGHTS, NightTally
from chalicelib.drift_check import (
    DATAPOINT_OFFSET_S,
    HOUR_MS,
    MIN_NIGHTS,
    READ_HOURS,
    RECENT_NIGHTS,
    aggregate_filter,
)
from chalicelib.proxy_event import api_gateway_event
from harness.cloudwatch_logs import FakeLogGroup, FakeTopic, parse_json_pattern
from harness.emf import emf_blobs, emitted_metrics
from harness.lambda_context import LambdaContext
from harness.samples import BASELINE, MODEL, MODEL_DIR, private_instance
from harness.service import post_predict

# The simulated "now" is a fixed date: Powertools warns that CloudWatch would drop a datapoint
# stamped hours away from the real clock, which a deployed check never is.
pytestmark = pytest.mark.filterwarnings(
    "ignore:This metric doesn't meet the requirements:UserWarning")

LOG_GROUP = "/aws/lambda/sleep-advisor-dev"
NOW = dt.datetime(2026, 12, 2, 9, 5, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
AGGREGATE_KEYS = {"level", "location", "message", "timestamp", "service", "model_version",
                  "function_version", "nights", "requests", "bins", "answers"}


def captured(run: Any) -> tuple[Any, list[dict[str, Any]], str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        result = run()
    text = output.getvalue()
    return result, [json.loads(line) for line in text.splitlines() if line], text


def test_the_app_writes_counts_only_without_any_key_of_a_request(
    client: Client, flushing_tally: NightTally, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-6b072495-825dc369cc4045d989f564cf;Sampled=1")
    night = private_instance()

    responses, lines, text = captured(lambda: [post_predict(client, {"features": night})
                                               for _ in range(AGGREGATE_MIN_NIGHTS + 5)])

    [aggregate] = [line for line in lines if line.get("message") == contract.AGGREGATE_LOG]
    assert set(aggregate) == AGGREGATE_KEYS
    assert aggregate["nights"] == aggregate["requests"] == AGGREGATE_MIN_NIGHTS
    assert aggregate["service"] == contract.AGGREGATE_LOGGER
    assert aggregate["model_version"] == MODEL.version
    # No value of the night, no id of any request, no trace: the other lines have them.
    line_text = json.dumps(aggregate)
    for value in night.values():
        if isinstance(value, float):  # a count's small integer is in any line of counts
            assert json.dumps(value) not in line_text
    request_ids = [json.loads(r.body)["request_id"] for r in responses]
    assert all(request_id in text for request_id in request_ids)
    assert not any(request_id in line_text for request_id in request_ids)
    assert "1-6b072495-825dc369cc4045d989f564cf" in text
    assert "6b072495" not in line_text
    assert flushing_tally.nights == 5  # the next window, waiting for its minimum


def test_golden_questions_and_refused_requests_are_not_counted(
    app_module: ModuleType, client: Client, flushing_tally: NightTally,
) -> None:
    body = json.dumps({"features": private_instance()})
    event = api_gateway_event("POST", "/predict", body, headers={"content-type": "application/json"})
    golden_check = LambdaContext(client_context={"custom": contract.GOLDEN_CHECK_CONTEXT})

    answered, _, _ = captured(lambda: app_module.app(event, golden_check))
    refused, _, _ = captured(lambda: post_predict(client, {"features": {}}))

    assert answered["statusCode"] == 200 and refused.status_code == 400
    assert flushing_tally.nights == flushing_tally.requests == 0


# The check ---------------------------------------------------------------------------------


def aggregate_line(counts: dict[str, list[int]], answers: dict[str, int],
                   version: str = MODEL.version) -> str:
    nights = sum(answers.values())
    return json.dumps({"level": "INFO", "message": contract.AGGREGATE_LOG,
                       "service": contract.AGGREGATE_LOGGER, "model_version": version,
                       "function_version": "3", "nights": nights, "requests": nights,
                       "bins": counts, "answers": answers})


def training_like(nights: int, moved: str | None = None) -> str:
    """An aggregate of `nights` nights shaped as the baseline; `moved` all in its last bin."""
    bins = {}
    for feature in BASELINE.features:
        if feature.name == moved:
            bins[feature.name] = [0] * (len(feature.shares) - 1) + [nights]
        else:
            bins[feature.name] = _spread(nights, feature.shares)
    answers = dict(zip(BASELINE.answers, _spread(nights, list(BASELINE.answers.values())),
                       strict=True))
    return aggregate_line(bins, answers)


def _spread(total: int, shares: list[float] | tuple[float, ...]) -> list[int]:
    counts = [int(total * s) for s in shares]
    counts[counts.index(max(counts))] += total - sum(counts)
    return counts


def log_group_with(*lines: tuple[int, str]) -> FakeLogGroup:
    group = FakeLogGroup(LOG_GROUP, page_size=2)
    for timestamp, line in lines:
        group.put(timestamp, line)
    # Lines the check must not read: the service's own, and the EMF documents.
    group.put(NOW_MS - 60_000, json.dumps({"message": contract.PREDICTION_LOG, "nights": 100}))
    group.put(NOW_MS - 60_000, "START RequestId: 1 Version: 3")
    return group


def run_check(group: FakeLogGroup, now: dt.datetime = NOW,
              event: Any = scheduled_event) -> tuple[dict[str, Any], list[Any], FakeTopic]:
    """One run of the check, invoked by `event` (the hourly schedule unless said otherwise)."""
    topic = FakeTopic()
    line, _, text = captured(lambda: drift_check.run_check(
        event(now), logs=group, sns=topic,
        log_group=LOG_GROUP, topic_arn="arn:aws:sns:eu-central-1:123456789012:alerts",
        stage="dev", model_dir=MODEL_DIR))
    return line, emitted_metrics(emf_blobs(text)), topic


def test_healthy_nights_give_a_line_and_no_datapoint() -> None:
    group = log_group_with(*[(NOW_MS - h * HOUR_MS, training_like(400)) for h in range(1, 8)])

    line, metrics, topic = run_check(group)

    assert line["band"] == "none" and line["largest_distance"] < 0.1
    assert set(line["distances"]) == {*MODEL.feature_names, "answers"}
    # The newest lines up to RECENT_NIGHTS: five of 400 nights, not all seven.
    assert line["nights"] == 2000 == RECENT_NIGHTS
    assert metrics == [] and topic.messages == []
    # Every page was followed, the empty ones included, with the documented bounds.
    assert len(group.calls) > 4 and any(
        "nextToken" in call for call in group.calls)
    assert {(c["startTime"], c["endTime"]) for c in group.calls} == {
        (NOW_MS - READ_HOURS * HOUR_MS, NOW_MS - 1)}
    assert READ_HOURS == 25  # the window's 24 hours, and one for late lines
    assert parse_json_pattern(group.calls[0]["filterPattern"]) == {
        "message": contract.AGGREGATE_LOG, "model_version": MODEL.version}


def test_too_few_nights_give_no_distance_and_no_datapoint() -> None:
    group = log_group_with((NOW_MS - HOUR_MS, training_like(MIN_NIGHTS - 1, moved="x")))

    line, metrics, topic = run_check(group)

    assert line == {"model_version": MODEL.version, "nights": MIN_NIGHTS - 1,
                    "recent_nights": RECENT_NIGHTS, "min_nights": MIN_NIGHTS,
                    "window_hours": 24, "band": "too few nights", "trigger": "schedule"}
    assert metrics == [] and topic.messages == []


def test_a_feature_that_moved_is_measured_then_named_when_the_alarm_fires() -> None:
    moved = BASELINE.features[1]
    # Healthy until an hour ago, then every night in the feature's top bin.
    group = log_group_with(*[(NOW_MS - h * HOUR_MS, training_like(500)) for h in range(2, 9)],
                           (NOW_MS - HOUR_MS + 1, training_like(2000, moved=moved.name)))

    # The hourly run: the line and the datapoint the alarm reads, stamped a minute after the
    # window so that the alarm's newest hour is never empty; no message of its own.
    line, metrics, topic = run_check(group)

    assert line["band"] == "significant" and line["largest"] == moved.name
    assert line["trigger"] == "schedule" and topic.messages == []
    [score] = metrics
    assert score.name == contract.DRIFT_SCORE
    assert list(score.values) == [pytest.approx(line["largest_distance"], abs=1e-4)]
    assert score.timestamp_ms == NOW_MS + DATAPOINT_OFFSET_S * 1000
    assert score.dimensions == {(contract.SERVICE_DIMENSION, contract.SERVICE_NAME),
                                (contract.MODEL_VERSION_DIMENSION, MODEL.version)}

    # The alarm's state change: the message, naming the feature; no second datapoint.
    alarmed, no_metric, topic = run_check(group, now=NOW + dt.timedelta(minutes=61),
                                          event=alarm_event)
    assert alarmed["trigger"] == "alarm" and no_metric == []
    [published] = topic.messages
    message = json.loads(published["Message"])
    assert message["version"] == "1.0" and message["source"] == "custom"
    content = message["content"]
    assert f"model {MODEL.name} {MODEL.version}" in content["title"]
    top_bin = moved.describe_bin(len(moved.shares) - 1)
    [top, *_] = alarmed["moved"][moved.name]
    # The 2,000 newest nights are all in the top bin.
    assert top == {"bin": top_bin, "training_share": round(moved.shares[-1], 4),
                   "recent_share": 1.0}
    assert (f"{moved.name}: PSI {alarmed['largest_distance']:.2f}, "
            f"{top['recent_share']:.0%} of nights {top_bin}, "
            f"{moved.shares[-1]:.0%} in training") in content["description"]
    assert [step.split("?")[0] for step in content["nextSteps"]] == [
        "A client release", "A new user group", "Retrain"]
    assert message["metadata"]["threadId"] == f"sleep-advisor-dev-drift-{MODEL.version}"

    # Someone invoking it to look: the line, nothing for the alarm or on-call.
    looked, none, quiet = run_check(group, event=lambda now: {"time": now.isoformat()})
    assert looked["trigger"] == "manual" and none == [] and quiet.messages == []


def test_lines_of_another_model_version_or_shape_are_left_out() -> None:
    other = aggregate_line({f.name: [1000] + [0] * (len(f.shares) - 1) for f in BASELINE.features},
                           {MODEL.class_ids[0]: 1000}, version="0.0.1")
    truncated = json.dumps({**json.loads(training_like(1000)), "nights": 5})
    group = log_group_with((NOW_MS - HOUR_MS, other), (NOW_MS - HOUR_MS, truncated),
                           (NOW_MS - HOUR_MS, "{not json"), (NOW_MS, training_like(1000)))

    line, metrics, _ = run_check(group)

    # The other version's line is not even returned; the truncated one is refused; the one at
    # the window's end belongs to the next window.
    assert line["band"] == "too few nights" and line["nights"] == 0
    assert aggregate_filter(MODEL.version) in {c["filterPattern"] for c in group.calls}
    assert metrics == []
