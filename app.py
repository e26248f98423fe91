"""Sleep Advisor API: advice for better sleep from a scikit-learn model."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, ConvertToMiddleware, Request, Response

from chalicelib import contract, observability
from chalicelib.config import get_settings
from chalicelib.drift import NightTally
from chalicelib.model_package import load_model_package
from chalicelib.observability import logger, metrics
from chalicelib.schemas import RequestRejected

# Chalice logs unhandled exceptions to logging.getLogger(app_name): with its own handler off,
# they reach Powertools' JSON handler, whose logger has the same name (contract.SERVICE_NAME).
app = Chalice(app_name=contract.SERVICE_NAME, configure_logs=False)

# Loaded once per container, during initialisation: a missing, tampered or incompatible
# artifact, or one that no longer gives its golden answers, raises here, so the function
# never starts rather than answering wrongly.
settings = get_settings()
with observability.model_load() as loading:
    package = load_model_package(
        settings.model_dir,
        max_batch_instances=settings.max_batch_instances,
        max_body_bytes=settings.max_body_bytes,
        runtime=settings.runtime,
    )
    loading.loaded(package.advisor.metadata.version, package.advisor.runtime)
advisor, request_schema = package.advisor, package.request_schema
model_ref = {"name": advisor.metadata.name, "version": advisor.metadata.version}
model_card_body = package.model_card().served(
    training_details=settings.publish_training_details)
# This container's counts of nights per feature bin, for the drift check (chalicelib/drift.py).
tally = NightTally(package.baseline)


def _request_id(request: Request) -> str:
    # API Gateway's request id joins our logs to its access log; chalice local has none and
    # falls back to the Lambda context's id.
    request_id = (request.context or {}).get("requestId")
    if not request_id and request.lambda_context is not None:
        request_id = request.lambda_context.aws_request_id
    return str(request_id)


def _raw_body(request: Request) -> bytes | str:
    # Chalice decodes a body flagged isBase64Encoded on first access; a direct invoke can send
    # one that is not base64, which is the client's error, not the service's.
    try:
        return request.raw_body
    except binascii.Error as error:
        raise RequestRejected(
            400, "InvalidRequest", f"Request body is flagged base64 but is not: {error}",
            [{"field": "body", "message": "not valid base64", "type": "base64_invalid"}],
        ) from None


def _is_golden_check(request: Request) -> bool:
    # Lambda's ClientContext: set only by a direct invoke (the pre-traffic hook's), never by
    # API Gateway, so a user's request cannot hide itself from the metrics.
    client_context = getattr(request.lambda_context, "client_context", None)
    custom = getattr(client_context, "custom", None)
    return isinstance(custom, dict) and all(
        custom.get(key) == value for key, value in contract.GOLDEN_CHECK_CONTEXT.items())


def correlate(event: Request, get_response: Callable[[Request], Response]) -> Response:
    logger.set_correlation_id(_request_id(event))
    return get_response(event)


def _current_request() -> Request:
    request = app.current_request
    if request is None:  # Chalice sets it before calling a route
        raise RuntimeError("no current request")
    return request


# Outermost first: the Lambda context and correlation id reach every log line, including that
# of a failed metrics write; metrics are flushed after every request, best-effort.
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context), "http")
app.register_middleware(correlate, "http")
# No cold-start metric: the dashboard counts cold starts from Lambda's platform.report lines.
app.register_middleware(ConvertToMiddleware(metrics.log_metrics), "http")


@app.route("/predict", methods=["POST"], content_types=["application/json"])
def predict() -> Response | dict[str, Any]:
    request = _current_request()
    try:
        nights = request_schema.parse(_raw_body(request))
    except RequestRejected as rejection:
        observability.record_rejection(rejection.status_code, rejection.code, rejection.errors)
        return Response(body=rejection.body(), status_code=rejection.status_code)
    with observability.observed_inference(advisor.metadata.version, nights,
                                          log_features=settings.log_features,
                                          counted=not _is_golden_check(request),
                                          tally=tally) as inference:
        advice = advisor.advise(nights)
        inference.answered([a.advice_id for a in advice], [a.probability for a in advice])
    return {
        "request_id": _request_id(request),
        "model": model_ref,
        "predictions": [vars(a) for a in advice],
    }


@app.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok", "model_loaded": True, "model": model_ref}


@app.route("/model", methods=["GET"])
def model_card() -> dict[str, Any]:
    return model_card_body
