"""Generated requests (schemathesis) against a real `chalice local`: no 5xx, documented answers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from chalicelib.openapi import OPENAPI_PATH, ErrorResponse, bundled_openapi
from harness.chalice_local import ChaliceLocal

SCHEMA = schemathesis.openapi.from_path(str(OPENAPI_PATH))
# (path, method, generation mode, examples): most of the budget where the input space is.
PLAN = [
    ("/predict", "POST", GenerationMode.POSITIVE, 600),
    ("/predict", "POST", GenerationMode.NEGATIVE, 600),
    ("/health", "GET", GenerationMode.POSITIVE, 25),
    ("/model", "GET", GenerationMode.POSITIVE, 25),
]


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    yield counts
    print(f"\ngenerated requests by answer: {dict(counts)}")
    # Across the whole plan: at least 1,000 requests, none of them answered with a 5xx.
    assert counts["requests"] >= 1000, counts
    assert counts["5xx"] == 0, counts


def test_openapi_file_is_current() -> None:
    assert json.loads(OPENAPI_PATH.read_text()) == bundled_openapi()


@pytest.mark.parametrize(("path", "method", "mode", "examples"), PLAN,
                         ids=[f"{m} {p} {g.value}" for p, m, g, _ in PLAN])
def test_generated_requests_get_documented_answers(
    chalice_local: ChaliceLocal, tally: Counter[str], path: str, method: str,
    mode: GenerationMode, examples: int,
) -> None:
    operation = SCHEMA[path][method]
    base_url = f"http://127.0.0.1:{chalice_local.port}"

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: schemathesis.Case) -> None:
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
    assert tally["requests"] > 0
