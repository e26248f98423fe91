"""The two places the service departs from plain Powertools metrics, and why (BestEffortMetrics).

Each test pins the Powertools behaviour the adapter relies on, so an upgrade that changes it
fails here first instead of in production.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib.observability import BestEffortMetrics
from harness.lambda_context import LambdaContext


class _FullStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def _handler(metrics: EphemeralMetrics) -> Callable[[Any, Any], str]:
    def handler(event: Any, context: Any) -> str:
        metrics.add_metric(name="Answered", unit=MetricUnit.Count, value=1)
        return "answered"

    wrapped: Callable[[Any, Any], str] = metrics.log_metrics(handler)  # as app.py wraps it
    return wrapped


def test_plain_powertools_fails_an_answered_request_when_stdout_fails() -> None:
    # Why the adapter exists: log_metrics flushes after the handler answered.
    with contextlib.redirect_stdout(_FullStdout()), pytest.raises(OSError):
        _handler(EphemeralMetrics(namespace="Test", service="svc"))({}, LambdaContext())


def test_the_adapter_answers_anyway_and_starts_the_next_request_clean() -> None:
    metrics = BestEffortMetrics(namespace="Test", service="svc")
    with contextlib.redirect_stdout(_FullStdout()):
        assert _handler(metrics)({}, LambdaContext()) == "answered"

    assert metrics.metric_set == {}


def test_add_metric_values_writes_what_add_metric_would() -> None:
    # A full batch is 100 values: add_metric prints the document itself when a metric reaches
    # EMF's 100-value limit; the adapter's single pass must produce that same document.
    values = [i / 100 for i in range(100)]
    one_by_one = EphemeralMetrics(namespace="Test", service="svc")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        for value in values:
            one_by_one.add_metric(name="PredictionProbability", unit=MetricUnit.NoUnit, value=value)
    expected = json.loads(printed.getvalue())
    in_one_pass = BestEffortMetrics(namespace="Test", service="svc")

    in_one_pass.add_metric_values("PredictionProbability", MetricUnit.NoUnit, values)
    document: dict[str, Any] = dict(in_one_pass.serialize_metric_set())
    in_one_pass.clear_metrics()

    for emf in (expected, document):
        emf["_aws"].pop("Timestamp")
    assert document == expected
    assert document["PredictionProbability"] == values
