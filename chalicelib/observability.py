"""Logs, metrics and traces through Powertools, configured by POWERTOOLS_* environment variables.

Metrics are CloudWatch Embedded Metric Format lines on stdout: no PutMetricData call on the
request path and no CloudWatch permission. Nothing here may fail a request: every recording
step is best-effort and logs its own failure instead.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.advisor import Advice, SleepAdvisor

logger = Logger()  # POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_LOGGER_SAMPLE_RATE
metrics = Metrics()  # POWERTOOLS_METRICS_NAMESPACE
# The function calls no AWS API, so patching boto3/requests would only slow the cold start.
tracer = Tracer(auto_patch=False)

# Metric names, shared with the dashboard and alarms in infra/ and documented in docs/observability.md.
PREDICTION_PROBABILITY = "PredictionProbability"
ADVICE_GIVEN = "AdviceGiven"
INFERENCE_LATENCY = "InferenceLatency"
REJECTED_REQUESTS = "RejectedRequests"
MODEL_LOAD_TIME = "ModelLoadTime"
COLD_START = "ColdStart"
MODEL_VERSION_DIMENSION = "ModelVersion"
ADVICE_DIMENSION = "Advice"


def best_effort[**P, R](func: Callable[P, R]) -> Callable[P, R | None]:
    """Run an observability step; if it fails, log that and let the request carry on."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return func(*args, **kwargs)
        except Exception:
            logger.exception("Observability step failed; the request goes on", extra={
                "observability_step": func.__name__,
            })
            return None

    return wrapper


@dataclass
class _ColdStart:
    """What the first invocation of a container reports about its initialisation."""

    model_version: str = ""
    load_started_s: float = 0.0
    load_ended_s: float = 0.0
    pending: bool = False
    current_invocation: bool = False  # the invocation under way is the container's first


_cold_start = _ColdStart()
_advice_counts: Counter[str] = Counter()


def load_advisor(load: Callable[[], SleepAdvisor]) -> SleepAdvisor:
    """Load the model at initialisation, timing it for the first invocation's metric and trace."""
    started = time.time()
    try:
        advisor = load()
    except Exception:
        # One clear line for the on-call engineer; the exception still stops the function.
        logger.exception("Model failed to load; the function will not start")
        raise
    _cold_start.model_version = advisor.metadata.version
    _cold_start.load_started_s, _cold_start.load_ended_s = started, time.time()
    _cold_start.pending = True
    label_with_model_version(advisor.metadata.version)
    return advisor


def label_with_model_version(version: str) -> None:
    """Every metric gets the ModelVersion dimension and every log line a model_version key."""
    metrics.set_default_dimensions(**{MODEL_VERSION_DIMENSION: version})
    logger.append_keys(model_version=version)


@best_effort
def report_cold_start() -> None:
    """On a container's first invocation: cold-start metrics and a model-load subsegment."""
    _cold_start.current_invocation = _cold_start.pending
    if not _cold_start.pending:
        return
    _cold_start.pending = False
    load_ms = (_cold_start.load_ended_s - _cold_start.load_started_s) * 1000
    metrics.add_metric(name=COLD_START, unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=MODEL_LOAD_TIME, unit=MetricUnit.Milliseconds, value=load_ms)
    # The load ran during init, before any trace existed; record it with its real times.
    provider: Any = tracer.provider  # the X-Ray recorder's interface
    subsegment = provider.begin_subsegment("## model_load")
    if subsegment is not None:
        subsegment.start_time = _cold_start.load_started_s
        subsegment.put_annotation("model_version", _cold_start.model_version)
        subsegment.put_metadata("load_ms", round(load_ms, 1), "sleep_advisor")
        provider.end_subsegment(end_time=_cold_start.load_ended_s)


@contextmanager
def traced_inference(model_version: str) -> Iterator[dict[str, Any]]:
    """A subsegment around the model call; the caller puts the advice in the yielded dict.

    It hangs directly under Lambda's own segment, whose Invocation subsegment already times
    the handler: a Powertools handler subsegment would add ~0.1 ms per request for no news.
    """
    outcome: dict[str, Any] = {}
    with ExitStack() as stack:
        subsegment = _open_subsegment(stack, "## inference")
        yield outcome
        _annotate(subsegment, model_version, outcome.get("advice"))


@best_effort
def _open_subsegment(stack: ExitStack, name: str) -> Any:
    # If the X-Ray SDK cannot open a subsegment, the inference runs untraced.
    return stack.enter_context(tracer.provider.in_subsegment(name))


@best_effort
def _annotate(subsegment: Any, model_version: str, advice: str | None) -> None:
    if subsegment is None:
        return
    subsegment.put_annotation("model_version", model_version)
    subsegment.put_annotation("cold_start", _cold_start.current_invocation)
    if advice is not None:
        subsegment.put_annotation("advice", advice)


@best_effort
def record_prediction(advice: Sequence[Advice], inference_ms: float, latency_ms: float) -> None:
    """Metrics and the one log line for an answered /predict request; no feature values."""
    counts = Counter(a.advice_id for a in advice)
    probabilities = [a.probability for a in advice]
    metrics.add_metric(name=INFERENCE_LATENCY, unit=MetricUnit.Milliseconds, value=inference_ms)
    metrics.add_metric(name=PREDICTION_PROBABILITY, unit=MetricUnit.NoUnit, value=probabilities[0])
    # Every add_metric call formats the metric's whole value list (O(n^2) over a batch: 3 ms
    # for 100 nights), so the rest of a batch joins the same entry directly. A batch never
    # exceeds EMF's 100 values per metric (Settings.max_batch_instances).
    metrics.metric_set[PREDICTION_PROBABILITY]["Value"].extend(probabilities[1:])
    _advice_counts.update(counts)
    logger.info("prediction", extra={
        "batch_size": len(advice),
        "advice": advice[0].advice_id if len(advice) == 1 else counts.most_common(1)[0][0],
        "advice_counts": dict(counts),
        "probability": round(sum(probabilities) / len(probabilities), 4),
        "probability_min": round(min(probabilities), 4),
        "inference_ms": round(inference_ms, 3),
        "latency_ms": round(latency_ms, 3),
    })


@best_effort
def record_rejection(status_code: int, code: str, errors: Sequence[dict[str, str]]) -> None:
    """Metrics and a log line for a refused request: field paths and error types, no values."""
    metrics.add_metric(name=REJECTED_REQUESTS, unit=MetricUnit.Count, value=1)
    logger.info("request rejected", extra={
        "status_code": status_code,
        "error_code": code,
        "error_fields": [f"{e['field']}:{e['type']}" for e in errors],
    })


@best_effort
def publish_metrics() -> None:
    """Write this invocation's EMF lines: the shared set, then one line per advice class."""
    try:
        if metrics.metric_set:  # an empty flush only warns
            metrics.flush_metrics()
        dimensions = {"service": metrics.service or "", **metrics.default_dimensions}
        for advice_id, count in sorted(_advice_counts.items()):
            with single_metric(
                name=ADVICE_GIVEN, unit=MetricUnit.Count, value=count,
                namespace=metrics.namespace, default_dimensions=dimensions,
            ) as metric:
                metric.add_dimension(name=ADVICE_DIMENSION, value=advice_id)
    finally:
        # A failed write must not carry this invocation's figures into the next one.
        metrics.clear_metrics()
        _advice_counts.clear()
