"""Sample requests for whatever model is in model/, and bad requests with the answer each must
get, shared by every layer that sends requests (test client, chalice local, the runtime
client, the benchmarks).

Nothing here names a feature or a class: valid instances and their answers are the model's
own golden answers, and bad requests are built from the metadata's feature types and ranges,
so the suite passes for any model that `make check-model` accepts.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.config import get_settings
from chalicelib.drift import DriftBaseline, read_baseline
from chalicelib.golden import GoldenAnswers, GoldenExample, read_golden
from chalicelib.metadata import FeatureSpec, ModelMetadata
from chalicelib.schemas import row_encoder
from harness import REPO_ROOT

# The model under test: the one the service serves, model/ unless SLEEP_ADVISOR_MODEL_DIR
# moves it (`make test-fast MODEL_DIR=path` runs the suite against a data scientist's model).
MODEL_DIR: Path = get_settings().model_dir
MODEL = ModelMetadata.read(MODEL_DIR)
GOLDEN: GoldenAnswers = read_golden(MODEL_DIR, MODEL)
BASELINE: DriftBaseline = read_baseline(MODEL_DIR, MODEL)
SETTINGS = get_settings()
# The bundled sleep model: tests about that model in particular (its training, its accuracy)
# run only when model/ holds it.
IS_SLEEP_MODEL = MODEL.name == "sleep-advice" and MODEL.training.get("script") == "model/train.py"
NOT_THE_SLEEP_MODEL = f"the model under test is {MODEL.name!r}, not the bundled sleep-advice model"

SAMPLE: GoldenExample = GOLDEN.examples[0]
# One valid instance (the first golden request) and the advice the model gives it.
SAMPLE_INSTANCE: dict[str, Any] = SAMPLE.request["features"]


def as_row(instance: dict[str, Any]) -> list[float]:
    """A request's night as the service's row: the metadata's order, a category as its code."""
    return [row_encoder(spec)(instance[spec.name]) for spec in MODEL.features]
SAMPLE_ADVICE: str = SAMPLE.answer.advice_id
# One instance per class the golden answers advise, in the metadata's class order.
_FIRST_BY_ADVICE = {e.answer.advice_id: e for e in reversed(GOLDEN.examples)}
INSTANCES_BY_ADVICE: dict[str, dict[str, Any]] = {
    c: _FIRST_BY_ADVICE[c].request["features"] for c in MODEL.class_ids if c in _FIRST_BY_ADVICE}


def _first(kind: str) -> FeatureSpec | None:
    return next((f for f in MODEL.features if f.type == kind), None)


# Features to break on purpose: a real-valued one and, if the model has one, a count.
NUMBER_FEATURE: FeatureSpec | None = _first("number")
COUNT_FEATURE: FeatureSpec | None = _first("integer")
ANY_FEATURE: FeatureSpec = NUMBER_FEATURE or COUNT_FEATURE or MODEL.features[0]
CATEGORY_FEATURE: FeatureSpec | None = _first("category")


def private_instance() -> dict[str, Any]:
    """An instance whose values are distinctive strings in a log line (to prove they are not
    there): inside every range, with digits no other number in a log line has."""
    instance: dict[str, Any] = {}
    for index, spec in enumerate(MODEL.features):
        if spec.categories is not None:  # a string, not a number: nothing to find in a line
            instance[spec.name] = spec.categories[index % len(spec.categories)]
            continue
        middle = spec.lowest + (spec.highest - spec.lowest) * (0.3 + 0.04 * index)
        instance[spec.name] = (round(middle) if spec.type == "integer"
                               else round(middle, 3) + 0.000123)
    return instance


def largest_batch(instance: dict[str, Any] | None = None) -> int:
    """The most copies of `instance` (the sample by default) one request may carry: the batch
    limit, or fewer where the body limit is reached first (a wide model's nights are larger)."""
    one = len(_body({"instances": [instance or SAMPLE_INSTANCE]}))
    each = len(_body({"instances": [instance or SAMPLE_INSTANCE] * 2})) - one
    fits = 1 + (SETTINGS.max_body_bytes - one) // each
    return min(SETTINGS.max_batch_instances, fits)


def full_batch() -> list[dict[str, Any]]:
    """The largest batch of the sample instance the service accepts."""
    return [copy.deepcopy(SAMPLE_INSTANCE) for _ in range(largest_batch())]


def chalice_environment() -> dict[str, str]:
    """The function's environment variables from .chalice/config.json, as Lambda sets them."""
    config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
    return dict(config["environment_variables"])


JSON = {"Content-Type": "application/json"}


def _instance(**changes: Any) -> dict[str, Any]:
    instance = copy.deepcopy(SAMPLE_INSTANCE)
    for name, value in changes.items():
        if value is _DROP:
            del instance[name]
        else:
            instance[name] = value
    return instance


_DROP = object()


def _body(document: Any) -> bytes:
    return json.dumps(document).encode()


@dataclass(frozen=True)
class BadRequest:
    id: str
    body: bytes
    status: int
    code: str
    field: str | None = None
    error_type: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(JSON))


def _with_value(name: str, literal: bytes) -> bytes:
    """A one-instance body whose feature `name` is written as the raw JSON `literal`."""
    return _body({"features": _instance(**{name: "@"})}).replace(b'"@"', literal)


def _common_cases() -> list[BadRequest]:
    first, feature = MODEL.features[0].name, ANY_FEATURE
    low = int(feature.lowest - 1) if feature.discrete else feature.lowest - 1
    high = int(feature.highest + 1) if feature.discrete else feature.highest + 1
    return [
        BadRequest("malformed-json", b'{"features": {', 400, "InvalidJSON", "body", "json_invalid"),
        BadRequest("empty-body", b"", 400, "InvalidJSON", "body", "json_invalid"),
        BadRequest(
            "duplicate-key",
            b'{"features": {"naps": 1}, "features": {"naps": 2}}',
            400, "InvalidJSON", "body", "json_invalid",
        ),
        BadRequest(
            "wrong-content-type", _body({"features": SAMPLE_INSTANCE}), 415,
            "UnsupportedMediaType", headers={"Content-Type": "text/plain"},
        ),
        BadRequest(
            "missing-field", _body({"features": _instance(**{first: _DROP})}),
            400, "InvalidRequest", f"features.{first}", "missing",
        ),
        BadRequest(
            "unknown-feature", _body({"features": _instance(not_a_feature_of_this_model=3)}),
            400, "InvalidRequest", "features.not_a_feature_of_this_model", "extra_forbidden",
        ),
        BadRequest(
            "unknown-top-level-field", _body({"features": SAMPLE_INSTANCE, "user_id": "u-1"}),
            400, "InvalidRequest", "user_id", "extra_forbidden",
        ),
        BadRequest(
            "above-range", _body({"features": _instance(**{feature.name: high})}),
            400, "InvalidRequest", f"features.{feature.name}", "less_than_equal",
        ),
        BadRequest(
            "below-range", _body({"features": _instance(**{feature.name: low})}),
            400, "InvalidRequest", f"features.{feature.name}", "greater_than_equal",
        ),
        BadRequest(
            "bad-instance-in-batch",
            _body({"instances": [SAMPLE_INSTANCE, _instance(**{feature.name: low}),
                                 SAMPLE_INSTANCE]}),
            400, "InvalidRequest", f"instances[1].{feature.name}", "greater_than_equal",
        ),
        BadRequest("empty-batch", _body({"instances": []}), 400, "InvalidRequest", "instances",
                   "too_short"),
        *_oversize_batch(),
        BadRequest("no-instance", _body({}), 400, "InvalidRequest", "body", "value_error"),
        BadRequest(
            "null-features", _body({"features": None}), 400, "InvalidRequest", "body",
            "value_error",
        ),
        BadRequest(
            "both-forms", _body({"features": SAMPLE_INSTANCE, "instances": [SAMPLE_INSTANCE]}),
            400, "InvalidRequest", "body", "value_error",
        ),
        BadRequest("array-body", _body([SAMPLE_INSTANCE]), 400, "InvalidRequest", "body",
                   "model_type"),
        BadRequest(
            "features-not-an-object", _body({"features": list(SAMPLE_INSTANCE.values())}),
            400, "InvalidRequest", "features", "model_type",
        ),
        BadRequest(
            "oversize-body",
            _body({"features": SAMPLE_INSTANCE, "padding": "x" * (70 * 1024)}),
            413, "PayloadTooLarge",
        ),
    ]


def _oversize_batch() -> list[BadRequest]:
    # One instance over the batch limit, if such a body still fits the body limit; the
    # smallest instance keeps it small (a wide model's full batch may not fit it otherwise).
    limit = SETTINGS.max_batch_instances
    body = _body({"instances": [SAMPLE_INSTANCE] * (limit + 1)})
    if len(body) > SETTINGS.max_body_bytes:
        return []
    return [BadRequest("oversize-batch", body, 400, "InvalidRequest", "instances", "too_long")]


def _number_cases(name: str) -> list[BadRequest]:
    field = f"features.{name}"
    return [
        BadRequest("boolean-is-not-a-number", _with_value(name, b"true"),
                   400, "InvalidRequest", field, "float_type"),
        BadRequest("numeric-string-is-not-a-number", _with_value(name, b'"7"'),
                   400, "InvalidRequest", field, "float_type"),
        BadRequest("nan", _with_value(name, b"NaN"), 400, "InvalidRequest", field,
                   "finite_number"),
        BadRequest("infinity", _with_value(name, b"Infinity"), 400, "InvalidRequest", field,
                   "finite_number"),
        BadRequest("overflow-to-infinity", _with_value(name, b"1e999"),
                   400, "InvalidRequest", field, "finite_number"),
    ]


def _count_cases(name: str) -> list[BadRequest]:
    return [BadRequest("fraction-is-not-a-count", _with_value(name, b"1.5"),
                       400, "InvalidRequest", f"features.{name}", "int_type")]


def _category_cases(spec: FeatureSpec) -> list[BadRequest]:
    field = f"features.{spec.name}"
    first = (spec.categories or ("",))[0]
    return [
        BadRequest("unknown-category", _with_value(spec.name, b'"not_one_of_them"'),
                   400, "InvalidRequest", field, "literal_error"),
        # A category is matched exactly: another case is another value.
        BadRequest("category-in-another-case", _with_value(spec.name,
                                                           json.dumps(first.upper()).encode()),
                   400, "InvalidRequest", field, "literal_error"),
        BadRequest("category-code-is-not-a-category", _with_value(spec.name, b"0"),
                   400, "InvalidRequest", field, "literal_error"),
    ]


# Cases about a kind of feature exist only when the model has one.
BAD_REQUESTS = [
    *_common_cases(),
    *(_number_cases(NUMBER_FEATURE.name) if NUMBER_FEATURE else []),
    *(_count_cases(COUNT_FEATURE.name) if COUNT_FEATURE else []),
    *(_category_cases(CATEGORY_FEATURE) if CATEGORY_FEATURE else []),
]


def assert_rejected(case: BadRequest, status: int, body: dict[str, Any]) -> None:
    """The answer is the documented JSON error naming the offending field."""
    assert status == case.status, body
    assert body["Code"] == case.code, body
    assert isinstance(body["Message"], str) and body["Message"]
    if case.field is not None:
        first = body["Errors"][0]
        assert (first["field"], first["type"]) == (case.field, case.error_type), body
        assert case.field in body["Message"] or case.field == "body"
