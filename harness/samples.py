"""Sample requests: valid nights for the bundled model, and bad requests with the answer each
must get, shared by every layer that sends requests (test client, chalice local, the runtime
client, the benchmarks)."""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from harness import REPO_ROOT

# One plausible night: short sleep, so the bundled model advises a longer sleep window.
SHORT_NIGHT: dict[str, Any] = {
    "sleep_duration_hours": 5.5,
    "sleep_latency_minutes": 15,
    "night_awakenings": 1,
    "bedtime_variability_minutes": 20,
    "screen_minutes_before_bed": 15,
    "caffeine_after_14h_mg": 0,
    "exercise_minutes": 30,
}

_FEATURE_NAMES = list(SHORT_NIGHT)
# One night per advice class of the bundled model (each predicted with probability > 0.98).
NIGHTS_BY_ADVICE: dict[str, dict[str, Any]] = {
    advice: dict(zip(_FEATURE_NAMES, values, strict=True)) for advice, values in {
        "extend_sleep_window": [5.5, 15, 1, 20, 15, 0, 30],
        "cut_late_caffeine": [7.8, 50, 4, 20, 15, 400, 30],
        "fix_schedule": [7.5, 15, 1, 150, 15, 0, 30],
        "reduce_evening_screens": [7.6, 60, 1, 20, 150, 0, 30],
        "keep_routine": [7.8, 12, 0, 15, 10, 0, 60],
    }.items()
}


def chalice_environment() -> dict[str, str]:
    """The function's environment variables from .chalice/config.json, as Lambda sets them."""
    config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
    return dict(config["environment_variables"])


JSON = {"Content-Type": "application/json"}


def _night(**changes: Any) -> dict[str, Any]:
    night = copy.deepcopy(SHORT_NIGHT)
    for name, value in changes.items():
        if value is _DROP:
            del night[name]
        else:
            night[name] = value
    return night


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


BAD_REQUESTS = [
    BadRequest("malformed-json", b'{"features": {', 400, "InvalidJSON", "body", "json_invalid"),
    BadRequest("empty-body", b"", 400, "InvalidJSON", "body", "json_invalid"),
    BadRequest(
        "duplicate-key",
        b'{"features": {"naps": 1}, "features": {"naps": 2}}',
        400, "InvalidJSON", "body", "json_invalid",
    ),
    BadRequest(
        "wrong-content-type", _body({"features": SHORT_NIGHT}), 415, "UnsupportedMediaType",
        headers={"Content-Type": "text/plain"},
    ),
    BadRequest(
        "missing-field", _body({"features": _night(sleep_duration_hours=_DROP)}),
        400, "InvalidRequest", "features.sleep_duration_hours", "missing",
    ),
    BadRequest(
        "unknown-feature", _body({"features": _night(mood=3)}),
        400, "InvalidRequest", "features.mood", "extra_forbidden",
    ),
    BadRequest(
        "unknown-top-level-field", _body({"features": SHORT_NIGHT, "user_id": "u-1"}),
        400, "InvalidRequest", "user_id", "extra_forbidden",
    ),
    BadRequest(
        "boolean-is-not-a-number", _body({"features": _night(caffeine_after_14h_mg=True)}),
        400, "InvalidRequest", "features.caffeine_after_14h_mg", "float_type",
    ),
    BadRequest(
        "numeric-string-is-not-a-number", _body({"features": _night(sleep_duration_hours="7")}),
        400, "InvalidRequest", "features.sleep_duration_hours", "float_type",
    ),
    BadRequest(
        "fraction-is-not-a-count", _body({"features": _night(night_awakenings=1.5)}),
        400, "InvalidRequest", "features.night_awakenings", "int_type",
    ),
    BadRequest(
        "nan", _body({"features": _night(sleep_latency_minutes=float("nan"))}),
        400, "InvalidRequest", "features.sleep_latency_minutes", "finite_number",
    ),
    BadRequest(
        "infinity", _body({"features": _night(exercise_minutes=float("inf"))}),
        400, "InvalidRequest", "features.exercise_minutes", "finite_number",
    ),
    BadRequest(
        "overflow-to-infinity",
        _body({"features": _night()}).replace(b'"exercise_minutes": 30', b'"exercise_minutes": 1e999'),
        400, "InvalidRequest", "features.exercise_minutes", "finite_number",
    ),
    BadRequest(
        "above-range", _body({"features": _night(sleep_duration_hours=25)}),
        400, "InvalidRequest", "features.sleep_duration_hours", "less_than_equal",
    ),
    BadRequest(
        "below-range", _body({"features": _night(screen_minutes_before_bed=-1)}),
        400, "InvalidRequest", "features.screen_minutes_before_bed", "greater_than_equal",
    ),
    BadRequest(
        "bad-instance-in-batch",
        _body({"instances": [SHORT_NIGHT, _night(night_awakenings=-2), SHORT_NIGHT]}),
        400, "InvalidRequest", "instances[1].night_awakenings", "greater_than_equal",
    ),
    BadRequest("empty-batch", _body({"instances": []}), 400, "InvalidRequest", "instances", "too_short"),
    BadRequest(
        "oversize-batch", _body({"instances": [SHORT_NIGHT] * 101}),
        400, "InvalidRequest", "instances", "too_long",
    ),
    BadRequest("no-instance", _body({}), 400, "InvalidRequest", "body", "value_error"),
    BadRequest(
        "null-features", _body({"features": None}), 400, "InvalidRequest", "body", "value_error",
    ),
    BadRequest(
        "both-forms", _body({"features": SHORT_NIGHT, "instances": [SHORT_NIGHT]}),
        400, "InvalidRequest", "body", "value_error",
    ),
    BadRequest("array-body", _body([SHORT_NIGHT]), 400, "InvalidRequest", "body", "model_type"),
    BadRequest(
        "features-not-an-object", _body({"features": [5.5, 15]}),
        400, "InvalidRequest", "features", "model_type",
    ),
    BadRequest(
        "oversize-body",
        _body({"features": SHORT_NIGHT, "padding": "x" * (70 * 1024)}),
        413, "PayloadTooLarge",
    ),
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
