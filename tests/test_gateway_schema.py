"""API Gateway's draft-04 request model agrees with the function's own validation."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from jsonschema import Draft4Validator

from chalicelib.advisor import SleepAdvisor
from chalicelib.config import BUNDLED_MODEL_DIR, Settings
from chalicelib.schemas import gateway_request_schema
from tests.bad_requests import BAD_REQUESTS, BadRequest
from tests.conftest import SHORT_NIGHT


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    metadata = SleepAdvisor.load(BUNDLED_MODEL_DIR).metadata
    schema = gateway_request_schema(metadata, Settings().max_batch_instances)
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def _gateway_can_judge(case: BadRequest) -> bool:
    # Bodies API Gateway cannot parse as JSON (or only as non-finite numbers) are outside the
    # schema's reach; the function rejects them.
    if case.code != "InvalidRequest":
        return False
    document = json.loads(case.body)
    return "nan" not in case.id and "infinity" not in case.id and not _has_non_finite(document)


def _has_non_finite(document: Any) -> bool:
    if isinstance(document, float):
        return not math.isfinite(document)
    if isinstance(document, dict):
        return any(_has_non_finite(v) for v in document.values())
    if isinstance(document, list):
        return any(_has_non_finite(v) for v in document)
    return False


@pytest.mark.parametrize("document", [
    {"features": SHORT_NIGHT},
    {"instances": [SHORT_NIGHT] * 100},
    {"features": {**SHORT_NIGHT, "sleep_duration_hours": 6}},
])
def test_valid_requests_pass_the_gateway(validator: Draft4Validator, document: Any) -> None:
    assert list(validator.iter_errors(document)) == []


@pytest.mark.parametrize(
    "case", [c for c in BAD_REQUESTS if _gateway_can_judge(c)], ids=lambda c: c.id
)
def test_schema_errors_are_stopped_at_the_gateway_too(
    validator: Draft4Validator, case: BadRequest
) -> None:
    assert list(validator.iter_errors(json.loads(case.body))), case.id
