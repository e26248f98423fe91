"""The API's OpenAPI 3.1 description, derived from the schemas the service validates with.

Not imported by the function (it would only lengthen the cold start): `python -m
chalicelib.openapi` writes docs/openapi.json, a test keeps that file current, and the
generated API tests (schemathesis) run against it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.config import Settings
from chalicelib.contract import BUNDLED_MODEL_DIR, PROJECT_ROOT
from chalicelib.drift import TRAINING_DETAILS, ModelCard
from chalicelib.metadata import ModelMetadata
from chalicelib.schemas import RequestSchema

OPENAPI_PATH = PROJECT_ROOT / "docs" / "openapi.json"


class ErrorDetail(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. instances[2].<feature name>")
    message: str
    type: str = Field(description="Machine-readable error type")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx body; `Code` and `Message` as in Chalice's own errors."""

    Code: str
    Message: str
    Errors: list[ErrorDetail] | None = None


class ModelRef(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    advice_id: str
    advice: str
    probability: float = Field(ge=0, le=1, description="Probability of the advised class")
    probabilities: dict[str, float] = Field(description="Probability of every class, by id")


class PredictionResponse(BaseModel):
    request_id: str
    model: ModelRef
    predictions: list[Prediction] = Field(description="One per instance, in request order")


class HealthResponse(BaseModel):
    status: str
    model_loaded: bool
    model: ModelRef


def build_openapi(metadata: ModelMetadata, settings: Settings) -> dict[str, Any]:
    schema = RequestSchema(metadata, max_batch_instances=settings.max_batch_instances,
                           max_body_bytes=settings.max_body_bytes)
    components: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        document = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(document.pop("$defs", {}))
        components[model.__name__] = document
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def json_content(model: type[BaseModel]) -> dict[str, Any]:
        return {"application/json": {"schema": ref(model)}}

    def error(description: str) -> dict[str, Any]:
        return {"description": description, "content": json_content(ErrorResponse)}

    class_ids = ", ".join(metadata.class_ids)
    request_body = json_content(schema.request_model)
    _exactly_one_form(components[schema.request_model.__name__])
    paths = {
        "/predict": {"post": {
            "operationId": "predict",
            "summary": "Advice for one instance (`features`) or a batch (`instances`)",
            "requestBody": {"required": True, "content": request_body},
            "responses": {
                "200": {"description": f"One prediction per instance; classes: {class_ids}",
                        "content": json_content(PredictionResponse)},
                "400": error("Invalid JSON or a field that breaks the schema"),
                "413": error(f"Body over {settings.max_body_bytes} bytes"),
                "415": error("Content-Type is not application/json"),
                "500": error("A fault in the service; no detail is given"),
            },
        }},
        "/health": {"get": {
            "operationId": "health", "summary": "Liveness and the loaded model",
            "responses": {"200": {"description": "Serving",
                                  "content": json_content(HealthResponse)}},
        }},
        "/model": {"get": {
            "operationId": "model",
            "summary": "The model card: what the model is for and its limitations, features "
                       "with units and ranges or categories, classes, held-out scores, latency; "
                       "and its training details (the training histograms drift is measured "
                       "against, hashes, libraries, runtime) unless the stage sets "
                       "publish_training_details to false",
            "responses": {"200": {"description": "The model card",
                                  "content": json_content(ModelCard)}},
        }},
    }
    # A stage may leave its training details out: the card promises only the rest.
    card = components[ModelCard.__name__]
    card["required"] = [name for name in card["required"] if name not in TRAINING_DETAILS]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sleep Advisor", "version": metadata.version,
                 "description": metadata.description},
        "paths": paths,
        "components": {"schemas": components},
    }


def _exactly_one_form(request: dict[str, Any]) -> None:
    # pydantic renders the two optional forms as "X or null"; the service takes exactly one of
    # them, never null (see schemas._PredictionRequestBase), so the contract says just that.
    for name, field in request["properties"].items():
        field.pop("default", None)
        [non_null] = [option for option in field.pop("anyOf") if option != {"type": "null"}]
        request["properties"][name] = {**non_null, **field}
    request["oneOf"] = [{"required": ["features"]}, {"required": ["instances"]}]


def bundled_openapi() -> dict[str, Any]:
    # docs/openapi.json documents the model the image ships.
    metadata = ModelMetadata.read(BUNDLED_MODEL_DIR)
    return build_openapi(metadata, Settings())


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OPENAPI_PATH
    target.write_text(json.dumps(bundled_openapi(), indent=2) + "\n", encoding="utf-8")
    print(target)


if __name__ == "__main__":
    main()
