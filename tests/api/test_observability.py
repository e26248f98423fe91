"""Structured logs and EMF metrics from real invocations through Chalice's test client."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.contract import METRICS_NAMESPACE, SERVICE_NAME
from chalicelib.observability import logger
from harness.emf import emf_blobs, emitted_metrics
from harness.samples import (
    ANY_FEATURE,
    GOLDEN,
    MODEL,
    SAMPLE_ADVICE,
    as_row,
    full_batch,
    largest_batch,
    private_instance,
)
from harness.service import post_predict

# Distinctive values: if any of them shows up in the output, a feature value leaked.
PRIVATE_INSTANCE = private_instance()
# Another golden instance with another answer than the sample's, for a mixed batch.
OTHER = next(e for e in GOLDEN.examples if e.answer.advice_id != SAMPLE_ADVICE)
# Above the range by a value no other number in the output has.
TOO_HIGH = ANY_FEATURE.highest + 17.4321
PREDICTION_LOG_FIELDS = {
    "correlation_id", "model_version", "advice", "advice_counts", "probability",
    "probability_min", "batch_size", "inference_ms", "cold_start",
    "function_request_id", "service", "level", "timestamp",
}


class ServiceOutput:
    """What the function writes to stdout: JSON log lines and EMF documents."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def logs(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "_aws" not in line]

    def text(self) -> str:
        return self.stream.getvalue()

    def capturing(self) -> contextlib.AbstractContextManager[Any]:
        # Log lines and EMF both go to whatever sys.stdout is, as in Lambda.
        return contextlib.redirect_stdout(self.stream)


@pytest.fixture
def service_output() -> ServiceOutput:
    # Captured inside each test body: pytest re-points sys.stdout between fixture and test.
    return ServiceOutput()


def test_known_batch_emits_the_alarmed_metric_and_logs_what_the_dashboard_draws(
    client: Client, service_output: ServiceOutput, instance: dict[str, Any]
) -> None:
    other = OTHER.request["features"]
    with service_output.capturing():
        response = post_predict(client, {"instances": [instance, other, instance]})
    probabilities = [p["probability"] for p in json.loads(response.body)["predictions"]]

    metrics = emitted_metrics(emf_blobs(service_output.text()))

    # One paid metric, the one the alarms read, in two dimension sets: by model (the service's
    # alarms) and by the Lambda version that answered (the rollout's); class mix and timing are
    # in the log line.
    by_model, by_version = metrics
    for probability in metrics:
        assert probability.namespace == METRICS_NAMESPACE
        assert probability.name == "PredictionProbability" and probability.unit == "None"
        assert list(probability.values) == probabilities
    assert by_model.dimensions == {("service", SERVICE_NAME), ("ModelVersion", MODEL.version)}
    assert by_version.dimensions == by_model.dimensions | {("FunctionVersion", "$LATEST")}
    [line] = [log for log in service_output.logs() if log["message"] == "prediction"]
    assert line["advice_counts"] == {SAMPLE_ADVICE: 2, OTHER.answer.advice_id: 1}
    assert line["inference_ms"] > 0


def test_full_batch_keeps_every_probability(
    client: Client, service_output: ServiceOutput, instance: dict[str, Any]
) -> None:
    with service_output.capturing():
        post_predict(client, {"instances": full_batch()})

    by_model, by_version = emitted_metrics(emf_blobs(service_output.text()))
    assert len(by_model.values) == len(by_version.values) == largest_batch() > 1


def test_rejected_request_is_logged_without_values(
    client: Client, service_output: ServiceOutput
) -> None:
    with service_output.capturing():
        post_predict(client, {"features": {**PRIVATE_INSTANCE, ANY_FEATURE.name: TOO_HIGH}})

    assert emf_blobs(service_output.text()) == []  # counted from its log line, for free
    [line] = [log for log in service_output.logs() if log["message"] == "request rejected"]
    assert line["error_fields"] == [f"features.{ANY_FEATURE.name}:less_than_equal"]
    assert line["status_code"] == 400 and line["correlation_id"]
    assert repr(TOO_HIGH) not in service_output.text()


def test_one_prediction_line_with_the_documented_fields_and_no_feature_values(
    client: Client, service_output: ServiceOutput
) -> None:
    with service_output.capturing():
        response = post_predict(client, {"instances": [PRIVATE_INSTANCE, PRIVATE_INSTANCE]})

    [line] = [log for log in service_output.logs() if log["message"] == "prediction"]
    assert set(line) >= PREDICTION_LOG_FIELDS
    assert line["correlation_id"] == json.loads(response.body)["request_id"]
    assert line["batch_size"] == 2 and line["model_version"] == MODEL.version
    assert sum(line["advice_counts"].values()) == 2
    assert_no_feature_values(service_output.lines())


def assert_no_feature_values(lines: list[dict[str, Any]]) -> None:
    private = {float(v) for v in PRIVATE_INSTANCE.values() if isinstance(v, float)}
    text = json.dumps(lines)
    for value in private:
        assert repr(value) not in text, f"feature value {value} leaked"
    # A category's value as a JSON string ("open"): the model's own names never hold one.
    for category in (v for v in PRIVATE_INSTANCE.values() if isinstance(v, str)):
        assert json.dumps(category) not in text, f"feature value {category!r} leaked"
    for line in lines:
        assert not set(PRIVATE_INSTANCE) & set(_keys(line)), line


def _keys(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from _keys(value)
    elif isinstance(document, list):
        for item in document:
            yield from _keys(item)


def test_feature_logging_needs_the_explicit_setting(
    client: Client, service_output: ServiceOutput, app_module: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "settings", app_module.settings.model_copy(
        update={"log_features": True}))
    previous_level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        with service_output.capturing():
            post_predict(client, {"features": PRIVATE_INSTANCE})
    finally:
        logger.setLevel(previous_level)

    [line] = [log for log in service_output.logs() if log["message"] == "features"]
    assert line["instances"] == [as_row(PRIVATE_INSTANCE)]


def test_unhandled_error_is_a_generic_500_and_a_logged_traceback(
    client: Client, service_output: ServiceOutput, app_module: ModuleType,
    monkeypatch: pytest.MonkeyPatch, instance: dict[str, Any],
) -> None:
    def broken(nights: Any) -> Any:
        raise RuntimeError("model exploded")

    monkeypatch.setattr(app_module.advisor, "advise", broken)

    with service_output.capturing():
        response = post_predict(client, {"features": instance})

    assert response.status_code == 500
    assert json.loads(response.body) == {
        "Code": "InternalServerError", "Message": "An internal server error occurred.",
    }
    [error] = [log for log in service_output.logs() if log["level"] == "ERROR"]
    assert error["exception_name"] == "RuntimeError"
    assert "model exploded" in error["exception"] and "Traceback" in error["exception"]
    assert error["correlation_id"]


class _BrokenStdout(io.StringIO):
    """A stdout that refuses EMF documents, as a full disk or a closed stream would."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        if '"_aws"' in text:
            raise self.error
        return super().write(text)


class _DeadStdout(_BrokenStdout):
    """A stdout that refuses every write: log lines as well as EMF."""

    def write(self, text: str) -> int:
        raise self.error


STDOUT_FAULTS = {
    "full": OSError(28, "No space left on device"),
    "closed": ValueError("I/O operation on closed file."),
    "broken-pipe": BrokenPipeError(32, "Broken pipe"),
}


@pytest.mark.parametrize("fault", STDOUT_FAULTS)
@pytest.mark.parametrize("document", [
    {"instances": [{ANY_FEATURE.name: 1}]},
    {"instances": "night"},
])
def test_a_stdout_refusing_every_write_never_fails_a_rejected_request(
    client: Client, document: Any, fault: str
) -> None:
    stream = _DeadStdout(STDOUT_FAULTS[fault])
    with contextlib.redirect_stdout(stream):
        response = post_predict(client, document)

    assert response.status_code == 400
    assert json.loads(response.body)["Code"] == "InvalidRequest"


@pytest.mark.parametrize("fault", STDOUT_FAULTS)
def test_metrics_failure_never_fails_a_prediction(
    client: Client, instance: dict[str, Any], service_output: ServiceOutput, fault: str
) -> None:
    stream = _BrokenStdout(STDOUT_FAULTS[fault])
    with contextlib.redirect_stdout(stream):
        failed = post_predict(client, {"instances": full_batch()})
    with service_output.capturing():
        after = post_predict(client, {"features": instance})

    assert failed.status_code == 200 and after.status_code == 200
    failures = [json.loads(line) for line in stream.getvalue().splitlines()
                if "Observability step failed" in line]
    assert failures and {f["observability_step"] for f in failures} <= {
        "flush_metrics", "_record_prediction"}
    # Nothing from the failed invocation is carried into the next one's metrics.
    probabilities = [m for m in emitted_metrics(emf_blobs(service_output.text()))
                     if m.name == "PredictionProbability"]
    assert [len(m.values) for m in probabilities] == [1, 1]  # one value, in each dimension set


def test_health_writes_no_metrics(client: Client, service_output: ServiceOutput) -> None:
    with service_output.capturing():
        client.http.get("/health")

    assert emf_blobs(service_output.text()) == []


def test_tracing_failure_never_fails_a_prediction(
    client: Client, instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
    service_output: ServiceOutput,
) -> None:
    from chalicelib import observability

    def broken_subsegment(name: str) -> Any:
        raise RuntimeError("X-Ray SDK failure")

    monkeypatch.setattr(observability.tracer.provider, "in_subsegment", broken_subsegment)
    with service_output.capturing():
        response = post_predict(client, {"features": instance})

    assert response.status_code == 200
    [failure] = [log for log in service_output.logs()
                 if log["message"] == "Observability step failed; the request goes on"]
    assert failure["observability_step"] == "_open_subsegment"

