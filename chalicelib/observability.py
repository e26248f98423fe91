"""Logs, metrics and traces through Powertools for AWS Lambda, on its public API.

The one metric an alarm reads is a CloudWatch Embedded Metric Format line on stdout: no
PutMetricData call on the request path and no CloudWatch permission. Everything else the
dashboard shows is read from the JSON log lines written here, by Logs Insights queries: a
custom metric costs $0.30 a month, a log line fractions of a cent. Nothing here may fail a
request: every recording step is best-effort and logs its own failure instead. Names come from
chalicelib.contract, which the dashboard and alarms in infra/ read too.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib import contract
from chalicelib.log_stream import CurrentStdout


class BestEffortMetrics(EphemeralMetrics):
    """Powertools' metrics (the EMF provider behind `Metrics`) with two exceptions, pinned by
    tests/unit/test_metrics_adapter.py.

    - Writing metrics never fails a request. `log_metrics` flushes after the handler, so a
      full, closed or broken stdout would turn an answered request into an error: the flush
      logs its failure instead.
    - `add_metric_values` adds a batch's values to one metric in one pass: `add_metric`
      formats the metric's whole value list on every call (3 ms for a batch of 100).
    """

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        try:
            if self.metric_set:  # an empty flush only warns
                super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
        except Exception:
            _log_failure("flush_metrics")
        finally:
            # A failed write must not carry this invocation's figures into the next one.
            self.clear_metrics()

    def add_metric_values(self, name: str, unit: MetricUnit, values: Sequence[float]) -> None:
        # add_metric validates the name, unit and first value and creates the entry; a batch
        # never exceeds EMF's 100 values per metric (contract.MAX_BATCH_INSTANCES).
        self.add_metric(name=name, unit=unit, value=values[0])
        self.metric_set[name]["Value"].extend(float(v) for v in values[1:])


logger = Logger(service=contract.SERVICE_NAME, stream=CurrentStdout())  # type: ignore[arg-type]
# A deployed stage sets its own namespace (SleepAdvisor/<stage>) through the environment.
metrics = BestEffortMetrics(
    service=contract.SERVICE_NAME,
    namespace=os.environ.get(contract.METRICS_NAMESPACE_VARIABLE, contract.METRICS_NAMESPACE),
)
# The aggregates' own logger: no correlation id, no Lambda context, no X-Ray trace id.
aggregate_logger = Logger(service=contract.AGGREGATE_LOGGER, stream=CurrentStdout(),  # type: ignore[arg-type]
                          xray_trace_id=None)
# Lambda names the version a container runs; chalice local and the tests run "$LATEST".
FUNCTION_VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
# The function calls no AWS API, so patching boto3/requests would only slow the cold start.
tracer = Tracer(service=contract.SERVICE_NAME, auto_patch=False)


class Tally(Protocol):
    """Counts of answered nights, with an aggregate to log now and then (chalicelib.drift's
    NightTally): counts only, never a value."""

    def add(self, nights: Sequence[Sequence[float]],
            advice_ids: Sequence[str]) -> dict[str, Any] | None: ...


def _log_failure(step: str) -> None:
    logger.exception("Observability step failed; the request goes on",
                     extra={"observability_step": step})


def best_effort[**P, R](func: Callable[P, R]) -> Callable[P, R | None]:
    """Run an observability step; if it fails, log that and let the request carry on."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return func(*args, **kwargs)
        except Exception:
            _log_failure(func.__name__)
            return None

    return wrapper


class _ModelLoad:
    """The model load ran during init, before any trace existed: the container's first
    invocation records it as a subsegment with its real start and end."""

    version = ""
    started_s = ended_s = 0.0
    untraced = False

    def loaded(self, version: str, runtime: str) -> None:
        """The model of `version` is loaded in `runtime` and answers its golden questions."""
        cls = type(self)
        cls.version, cls.ended_s, cls.untraced = version, time.time(), True
        label_with_model_version(version)
        _log_model_load((cls.ended_s - cls.started_s) * 1000, runtime)


@contextmanager
def model_load() -> Iterator[_ModelLoad]:
    """Around the model load at initialisation: one clear log line if it fails, its time if
    not (call `loaded(version, runtime)` once it has loaded).

    The time includes asking the golden questions: it is what the model costs a cold start.
    """
    _ModelLoad.started_s = time.time()
    try:
        yield _ModelLoad()
    except Exception:
        # One clear line for the on-call engineer; the exception still stops the function.
        logger.exception("Model failed to load; the function will not start")
        raise


def label_with_model_version(version: str) -> None:
    """Every metric gets the ModelVersion dimension and every log line a model_version key."""
    metrics.set_default_dimensions(**{contract.MODEL_VERSION_DIMENSION: version})
    logger.append_keys(model_version=version)


@best_effort
def _log_model_load(load_ms: float, runtime: str) -> None:
    # Written during init, once per container: the dashboard's model load time, and which
    # runtime answers (the one the image holds).
    logger.info(contract.MODEL_LOADED_LOG,
                extra={"model_load_ms": round(load_ms, 1), "runtime": runtime})


@best_effort
def _trace_model_load() -> None:
    """On the container's first invocation, the init-time model load as a subsegment."""
    if not _ModelLoad.untraced:
        return
    _ModelLoad.untraced = False
    provider: Any = tracer.provider  # the X-Ray recorder
    subsegment = provider.begin_subsegment("## model_load")
    if subsegment is not None:
        subsegment.start_time = _ModelLoad.started_s
        subsegment.put_annotation("model_version", _ModelLoad.version)
        load_ms = round((_ModelLoad.ended_s - _ModelLoad.started_s) * 1000, 1)
        subsegment.put_metadata("load_ms", load_ms, "sleep_advisor")
        provider.end_subsegment(end_time=_ModelLoad.ended_s)


# Lambda puts each invocation's trace header in the environment: "Sampled=0" when X-Ray does
# not record this request (19 in 20 under the stack's sampling rule).
TRACE_HEADER_VARIABLE = "_X_AMZN_TRACE_ID"


@best_effort
def _open_subsegment(stack: ExitStack, name: str) -> Any:
    # An unsampled request's subsegment is built by the SDK only to be discarded, at a sixth of
    # the handler's time: not opened at all. If the SDK cannot open one, the inference runs
    # untraced.
    if "Sampled=0" in os.environ.get(TRACE_HEADER_VARIABLE, ""):
        return None
    return stack.enter_context(tracer.provider.in_subsegment(name))


@best_effort
def _annotate(subsegment: Any, model_version: str, cold_start: bool, advice: str | None) -> None:
    if subsegment is None:
        return
    subsegment.put_annotation("model_version", model_version)
    subsegment.put_annotation("cold_start", cold_start)
    if advice is not None:
        subsegment.put_annotation("advice", advice)


class Inference:
    """One /predict inference being observed; tell it the answers with `answered`."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self.inference_ms: float | None = None
        self.advice_ids: Sequence[str] = ()
        self.probabilities: Sequence[float] = ()

    def answered(self, advice_ids: Sequence[str], probabilities: Sequence[float]) -> None:
        """The advice chosen for each night and its probability, in request order."""
        self.inference_ms = (time.perf_counter() - self._started) * 1000
        self.advice_ids, self.probabilities = advice_ids, probabilities


@contextmanager
def observed_inference(model_version: str, nights: Sequence[Sequence[float]], *,
                       log_features: bool = False, counted: bool = True,
                       tally: Tally | None = None) -> Iterator[Inference]:
    """Around the model's call for `nights`: traced, timed, and once answered, measured and
    logged (never feature values, unless `log_features`, and then only at DEBUG), and counted
    in `tally`, whose aggregate lines the drift check reads.

    `counted=False` (the pre-traffic hook's golden questions) writes neither the metric nor
    the prediction line the dashboard reads, nor counts the nights: one line of its own instead.
    """
    cold_start = _ModelLoad.untraced
    _trace_model_load()
    if log_features:
        logger.debug("features", extra={"instances": nights})
    with ExitStack() as stack:
        # Directly under Lambda's own segment, whose Invocation subsegment already times the
        # handler: a Powertools handler subsegment would add ~0.1 ms per request for no news.
        subsegment = _open_subsegment(stack, "## inference")
        inference = Inference()
        yield inference
        answered = inference.inference_ms is not None
        _annotate(subsegment, model_version, cold_start,
                  inference.advice_ids[0] if answered and inference.advice_ids else None)
    if answered and counted:
        _record_prediction(inference)
        if tally is not None:
            _record_aggregate(tally, model_version, nights, inference.advice_ids)
    elif answered:
        _log_golden_check(inference)


@best_effort
def _record_prediction(inference: Inference) -> None:
    """The alarmed metric and the one log line for an answered /predict request; no feature
    values. The log line carries what the dashboard draws: class mix and inference time."""
    counts = Counter(inference.advice_ids)
    probabilities = inference.probabilities
    metrics.add_metric_values(contract.PREDICTION_PROBABILITY, MetricUnit.NoUnit, probabilities)
    # A second dimension set: the same values by the Lambda version that answered.
    # (Powertools adds the default dimensions to it, not the service: named here.)
    metrics.add_dimensions(**{contract.SERVICE_DIMENSION: contract.SERVICE_NAME,
                              contract.FUNCTION_VERSION_DIMENSION: FUNCTION_VERSION})
    logger.info(contract.PREDICTION_LOG, extra={
        "batch_size": len(inference.advice_ids),
        "advice": counts.most_common(1)[0][0] if len(counts) > 1 else inference.advice_ids[0],
        "advice_counts": dict(counts),
        "probability": round(sum(probabilities) / len(probabilities), 4),
        "probability_min": round(min(probabilities), 4),
        "inference_ms": round(inference.inference_ms or 0.0, 3),
    })


@best_effort
def _record_aggregate(tally: Tally, model_version: str, nights: Sequence[Sequence[float]],
                      advice_ids: Sequence[str]) -> None:
    aggregate = tally.add(nights, advice_ids)
    if aggregate is not None:
        aggregate_logger.info(contract.AGGREGATE_LOG, extra={
            "model_version": model_version, "function_version": FUNCTION_VERSION, **aggregate})


@best_effort
def _log_golden_check(inference: Inference) -> None:
    logger.info(contract.GOLDEN_CHECK_LOG, extra={
        "batch_size": len(inference.advice_ids),
        "inference_ms": round(inference.inference_ms or 0.0, 3),
    })


@best_effort
def record_rejection(status_code: int, code: str, errors: Sequence[dict[str, str]]) -> None:
    """A log line for a refused request: field paths and error types, no values."""
    logger.info(contract.REJECTION_LOG, extra={
        "status_code": status_code,
        "error_code": code,
        "error_fields": [f"{e['field']}:{e['type']}" for e in errors],
    })
