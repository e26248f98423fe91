"""Sleep Advisor API: advice for better sleep from a scikit-learn model."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Response

from chalicelib.advisor import SleepAdvisor
from chalicelib.config import get_settings
from chalicelib.schemas import RequestRejected, RequestSchema

app = Chalice(app_name="sleep-advisor")

# Loaded once per container, during initialisation: a missing, tampered or incompatible
# artifact raises here, so the function never starts rather than answering wrongly.
settings = get_settings()
advisor = SleepAdvisor.load(settings.model_dir)
request_schema = RequestSchema(
    advisor.metadata,
    max_batch_instances=settings.max_batch_instances,
    max_body_bytes=settings.max_body_bytes,
)
model_ref = {"name": advisor.metadata.name, "version": advisor.metadata.version}


@app.route("/predict", methods=["POST"], content_types=["application/json"])
def predict() -> Response | dict[str, Any]:
    request = app.current_request
    try:
        nights = request_schema.parse(request.raw_body)
    except RequestRejected as rejection:
        return Response(body=rejection.body(), status_code=rejection.status_code)
    return {
        "request_id": _request_id(),
        "model": model_ref,
        "predictions": [vars(advice) for advice in advisor.advise(nights)],
    }


@app.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok", "model_loaded": True, "model": model_ref}


@app.route("/model", methods=["GET"])
def model_card() -> dict[str, Any]:
    return advisor.metadata.model_dump(mode="json")


def _request_id() -> str:
    # API Gateway's request id correlates with its access log; local runs fall back to the
    # Lambda context's id.
    context = app.current_request.context or {}
    return str(context.get("requestId") or app.lambda_context.aws_request_id)
