"""Request and response schemas, derived from the model's metadata at start-up.

A model with other features or classes gets a matching API without code changes: the
instance schema is built field by field from the metadata's feature list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from chalicelib.metadata import FeatureSpec, ModelMetadata

# A response lists at most this many field errors; a 100-instance batch of garbage would
# otherwise answer with hundreds.
MAX_REPORTED_ERRORS = 20


class RequestRejected(Exception):
    """A request the service will not answer, with the HTTP status and the reasons.

    A plain exception, not a frozen dataclass: raising sets `__traceback__` on it, which a
    frozen instance refuses (and the refusal would replace the rejection).
    """

    def __init__(self, status_code: int, code: str, message: str,
                 errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(status_code, code, message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.errors = errors or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Code": self.code, "Message": self.message}
        if self.errors:
            body["Errors"] = self.errors
        return body


def _whole_number(value: Any) -> Any:
    # JSON Schema counts 24.0 as an integer, and some client languages write counts that way;
    # a fraction stays a float and is rejected below.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _feature_field(spec: FeatureSpec) -> Any:
    if spec.categories is not None:
        # One of the declared strings, exactly: JSON Schema's enum, and a clear error naming them.
        return Annotated[Literal[spec.categories],
                         Field(description=f"{spec.description} One of: "
                                           f"{', '.join(spec.categories)}.")]
    # strict: a boolean or a numeric string is not a number; a fraction is not a count.
    python_type = int if spec.type == "integer" else float
    checks = [BeforeValidator(_whole_number)] if spec.type == "integer" else []
    return Annotated[
        python_type,
        Field(
            strict=True,
            ge=spec.minimum,
            le=spec.maximum,
            allow_inf_nan=False,
            description=f"{spec.description} Unit: {spec.unit}.",
        ),
        *checks,
    ]


def row_encoder(spec: FeatureSpec) -> Callable[[Any], float]:
    """A validated request value as the float a row holds: a category's code, else the number."""
    if spec.categories is None:
        return float
    codes = {value: float(code) for code, value in enumerate(spec.categories)}
    return codes.__getitem__


class _PredictionRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _exactly_one_form(self) -> _PredictionRequestBase:
        # Keys sent, not values: an explicit null is not a way to leave one out.
        given = self.model_fields_set & {"features", "instances"}
        if len(given) != 1 or getattr(self, given.pop()) is None:
            raise ValueError("give exactly one of 'features' (one night) or 'instances' (a batch)")
        return self


@dataclass(frozen=True)
class RequestSchema:
    """Validates POST /predict bodies for one model; build it once per container."""

    metadata: ModelMetadata
    max_batch_instances: int
    max_body_bytes: int
    instance_model: type[BaseModel] = field(init=False)
    request_model: type[BaseModel] = field(init=False)
    # Each feature's name and how its validated value becomes the row's float, in row order.
    columns: tuple[tuple[str, Callable[[Any], float]], ...] = field(init=False)

    def __post_init__(self) -> None:
        instance_model = create_model(  # type: ignore[call-overload]
            "SleepFeatures",
            __config__=ConfigDict(extra="forbid", title="SleepFeatures"),
            **{spec.name: (_feature_field(spec), ...) for spec in self.metadata.features},
        )
        request_model = create_model(
            "PredictionRequest",
            __base__=_PredictionRequestBase,
            features=(instance_model | None, None),
            instances=(
                list[instance_model] | None,  # type: ignore[valid-type]
                Field(None, min_length=1, max_length=self.max_batch_instances),
            ),
        )
        object.__setattr__(self, "columns", tuple((spec.name, row_encoder(spec))
                                                  for spec in self.metadata.features))
        object.__setattr__(self, "instance_model", instance_model)
        object.__setattr__(self, "request_model", request_model)

    def parse(self, raw_body: bytes | str) -> list[list[float]]:
        """Feature rows in the metadata's column order, or RequestRejected."""
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        if len(raw_body) > self.max_body_bytes:
            raise RequestRejected(
                413, "PayloadTooLarge",
                f"Request body is {len(raw_body)} bytes; the limit is {self.max_body_bytes}. "
                f"Send the nights in smaller batches (at most {self.max_batch_instances} "
                f"instances and {self.max_body_bytes} bytes a request), or raise the stage's "
                "max_body_bytes setting.",
            )
        try:
            document = json.loads(raw_body, object_pairs_hook=_reject_duplicate_keys)
        except (ValueError, RecursionError) as error:
            raise RequestRejected(
                400, "InvalidJSON", f"Request body is not valid JSON: {error}",
                [{"field": "body", "message": str(error), "type": "json_invalid"}],
            ) from None
        try:
            request = self.request_model.model_validate(document)
        except ValidationError as error:
            details = [
                {"field": _field_path(e["loc"]), "message": e["msg"], "type": e["type"]}
                for e in error.errors(include_url=False, include_input=False)
            ]
            raise RequestRejected(
                400, "InvalidRequest",
                f"{error.error_count()} invalid field(s); first: "
                f"{details[0]['field']}: {details[0]['message']}",
                details[:MAX_REPORTED_ERRORS],
            ) from None
        parsed: Any = request  # fields created from the metadata: unknown to the type checker
        instances = parsed.instances if parsed.instances is not None else [parsed.features]
        return [[encode(getattr(instance, name)) for name, encode in self.columns]
                for instance in instances]


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {duplicate!r}")
    return document


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


# The longest shortest-round-trip form of a double, as JSON.stringify and Python's json write
# it: a sign, 17 significant digits, a point and a three-digit exponent ("-1.2345678901234567e-308").
LONGEST_NUMBER = 24


def _longest_value(spec: FeatureSpec) -> str:
    if spec.categories is not None:  # escaped as Python's json writes it: never shorter
        return max((json.dumps(value) for value in spec.categories), key=len)
    if spec.type == "integer":
        return max((str(int(spec.lowest)), str(int(spec.highest))), key=len)
    return "-" * (spec.lowest < 0) + "9" * (LONGEST_NUMBER - (spec.lowest < 0))


def largest_body_bytes(metadata: ModelMetadata, instances: int) -> int:
    """The largest /predict body a batch of `instances` of this model's nights can take, each
    value at its longest shortest-round-trip form, JSON with Python's default separators (a
    client's compact JSON is smaller)."""
    night = {spec.name: _longest_value(spec) for spec in metadata.features}
    one = "{" + ", ".join(f'"{name}": {value}' for name, value in night.items()) + "}"
    return len('{"instances": []}') + instances * len(one) + (instances - 1) * len(", ")


def batch_limits_problem(metadata: ModelMetadata, max_batch_instances: int,
                         max_body_bytes: int) -> str | None:
    """Why a full batch of this model's nights may not fit the body limit, with the settings
    that would fit; None when it always fits."""
    largest = largest_body_bytes(metadata, max_batch_instances)
    if largest <= max_body_bytes:
        return None
    fits = max(n for n in range(1, max_batch_instances + 1)
               if n == 1 or largest_body_bytes(metadata, n) <= max_body_bytes)
    return (f"a full batch of {max_batch_instances} {metadata.name} nights can take "
            f"{largest:,} bytes, over the body limit of {max_body_bytes:,}: set max_body_bytes "
            f"to at least {largest} or max_batch_instances to at most {fits}")


def _gateway_value(spec: FeatureSpec) -> dict[str, Any]:
    if spec.categories is not None:
        return {"type": "string", "enum": list(spec.categories)}
    # Draft 4 (API Gateway's dialect) does not count 2.0 as an "integer", but the service does:
    # a count is a number that is a multiple of 1.
    kind: dict[str, Any] = {"type": "number", "multipleOf": 1} if spec.type == "integer" else {
        "type": "number"}
    return {**kind, "minimum": spec.minimum, "maximum": spec.maximum}


def gateway_request_schema(metadata: ModelMetadata, max_batch_instances: int) -> dict[str, Any]:
    """POST /predict's body as a JSON Schema draft-04 model, for API Gateway's validator.

    API Gateway refuses malformed bodies before they reach (and bill) the function. It must
    never refuse one the function accepts, so the model is looser where the gateway's dialect
    differs; the function validates everything again. "Exactly one of features or instances"
    is left to the function: API Gateway does not support oneOf.
    """
    instance: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": [spec.name for spec in metadata.features],
        "properties": {spec.name: _gateway_value(spec) for spec in metadata.features},
    }
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "PredictionRequest",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "features": instance,
            "instances": {
                "type": "array", "minItems": 1, "maxItems": max_batch_instances, "items": instance,
            },
        },
    }
