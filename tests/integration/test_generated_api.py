"""Generated requests (schemathesis) against a real `chalice local`: no 5xx, documented answers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from chalicelib.openapi import OPENAPI_PATH, ErrorResponse, bundled_openapi
from harness.chalice_local import ChaliceLocal

SCHEMA = schemathesis.openapi.from_path(str(OPENAPI_PATH))
# (path, method, generation mode, examples, at least sent): most of the budget where the input
# space is; a route without parameters has few distinct requests, so hypothesis stops early.
PLAN = [
    ("/predict", "POST", GenerationMode.POSITIVE, 600, 600),
    ("/predict", "POST", GenerationMode.NEGATIVE, 600, 600),
    ("/health", "GET", GenerationMode.POSITIVE, 25, 1),
    ("/model", "GET", GenerationMode.POSITIVE, 25, 1),
]


def test_openapi_file_is_current() -> None:
    assert json.loads(OPENAPI_PATH.read_text()) == bundled_openapi()


@pytest.mark.parametrize(("path", "method", "mode", "examples", "at_least"), PLAN,
                         ids=[f"{m} {p} {g.value}" for p, m, g, _, _ in PLAN])
def test_generated_requests_get_documented_answers(
    chalice_local: ChaliceLocal, path: str, method: str, mode: GenerationMode, examples: int,
    at_least: int,
) -> None:
    tally: Counter[str] = Counter()
    operation = SCHEMA[path][method]
    base_url = f"http://127.0.0.1:{chalice_local.port}"

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: schemathesis.Case[Any]) -> None:
        # call_and_validate applies schemathesis's checks: no server error, documented status
        # and content type, the response matches its schema, valid data is accepted. Its check
        # that invalid data is rejected knows no 413 (an oversize batch can be oversize in
        # bytes too), so that one is asserted here instead.
        response = case.call_and_validate(
            base_url=base_url, excluded_checks=[schemathesis.checks.negative_data_rejection])
        tally["requests"] += 1
        tally[f"{response.status_code // 100}xx"] += 1
        if mode is GenerationMode.NEGATIVE:
            assert response.status_code in (400, 413, 415), response.text[:300]
        if 400 <= response.status_code < 500:
            ErrorResponse.model_validate_json(response.content)

    exercise()
    print(f"\n{method} {path} {mode.value}: requests by answer {dict(tally)}")
    assert tally["requests"] >= at_least, tally
    assert tally["5xx"] == 0, tally
