"""API Gateway's draft-04 request model against the function's own validation.

The property that matters: the gateway never refuses a request the function accepts. It is
checked under the strictest reading of the model (every draft-4 keyword enforced), so it holds
whatever subset API Gateway really enforces. Which bad requests the gateway refuses for certain,
and which only the function refuses, is written down in docs/deployment-checks.md; a test keeps
that table equal to what the model says.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.config import Settings
from chalicelib.metadata import ModelMetadata
from chalicelib.schemas import RequestRejected, RequestSchema, gateway_request_schema
from harness import REPO_ROOT, examples
from harness.api_gateway import (
    ENFORCED_KEYWORDS,
    UNCERTAIN_KEYWORDS,
    gateway_refusal,
    strictest,
)
from harness.samples import BAD_REQUESTS, MODEL_DIR, SAMPLE_INSTANCE, BadRequest, full_batch

METADATA = ModelMetadata.read(MODEL_DIR)
SETTINGS = Settings()
SCHEMA = gateway_request_schema(METADATA, SETTINGS.max_batch_instances)
FUNCTION = RequestSchema(METADATA, max_batch_instances=SETTINGS.max_batch_instances,
                         max_body_bytes=SETTINGS.max_body_bytes)
# Bodies sent as JSON: the others are refused by content type before any body validation.
JSON_BAD_REQUESTS = [c for c in BAD_REQUESTS if c.headers.get("Content-Type") == "application/json"]
DEPLOYMENT_CHECKS = REPO_ROOT / "docs" / "deployment-checks.md"
# Keywords that API Gateway's notes call unsupported outright: a model using them would claim
# a check that never happens.
UNSUPPORTED = frozenset({"oneOf", "anyOf", "discriminator", "exclusiveMinimum"})


def _keywords(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = set(schema) - {"properties", "definitions"}
        for key, value in schema.items():
            if key in ("properties", "definitions"):
                for child in value.values():
                    found |= _keywords(child)
            else:
                found |= _keywords(value)
        return found
    if isinstance(schema, list):
        return set().union(*(_keywords(item) for item in schema)) if schema else set()
    return set()


def _value(spec: Any) -> st.SearchStrategy[Any]:
    if spec.categories is not None:
        return st.sampled_from(spec.categories)
    whole = st.integers(math.ceil(spec.minimum), math.floor(spec.maximum))
    if spec.type == "integer":
        # Counts as 2 and as 2.0: the function accepts both, so must the gateway.
        return st.one_of(whole, whole.map(float))
    bounds = st.sampled_from([spec.minimum, spec.maximum])
    return st.one_of(st.floats(spec.minimum, spec.maximum, allow_nan=False), whole, bounds)


def _edge(spec: Any, *, highest: bool) -> Any:
    """A feature's largest (or smallest) value: a category's last (or first) string."""
    if spec.categories is not None:
        return spec.categories[-1 if highest else 0]
    return spec.maximum if highest else spec.minimum


NIGHTS = st.fixed_dictionaries({spec.name: _value(spec) for spec in METADATA.features})
REQUESTS = st.one_of(
    NIGHTS.map(lambda night: {"features": night}),
    st.lists(NIGHTS, min_size=1, max_size=SETTINGS.max_batch_instances).map(
        lambda nights: {"instances": nights}),
)


def test_gateway_model_is_draft_4_and_claims_no_unsupported_check() -> None:
    strictest.check_schema(SCHEMA)
    used = _keywords(SCHEMA) - {"$schema", "title", "description"}

    assert used <= ENFORCED_KEYWORDS | UNCERTAIN_KEYWORDS, used
    assert not used & UNSUPPORTED


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REQUESTS)
@example({"features": {**SAMPLE_INSTANCE,
                       **{s.name: float(SAMPLE_INSTANCE[s.name]) for s in METADATA.features
                          if s.categories is None}}})
@example({"features": {s.name: _edge(s, highest=True) for s in METADATA.features}})
@example({"features": {s.name: _edge(s, highest=False) for s in METADATA.features}})
@example({"instances": full_batch()})
def test_the_gateway_never_refuses_a_request_the_function_accepts(document: dict[str, Any]) -> None:
    body = json.dumps(document)
    FUNCTION.parse(body)  # the generator only makes requests the function accepts

    errors = [e.message for e in strictest(SCHEMA).iter_errors(json.loads(body))]
    assert errors == [], body[:300]


def _strict_json(body: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(body, parse_constant=refuse)


def where_refused(case: BadRequest) -> str:
    """One row of the table in docs/deployment-checks.md."""
    try:
        verdict = gateway_refusal(SCHEMA, _strict_json(case.body))
    except ValueError:
        verdict = "not JSON"
    gateway = {
        "refused": "refused (400 `InvalidRequest`, no `Errors`)",
        "maybe": "passes unless it enforces `additionalProperties`/`minItems`/`maxItems`",
        "passes": "passes",
        "not JSON": "not modelled: not JSON, API Gateway's own parser decides",
    }[verdict]
    return f"| `{case.id}` | {gateway} | {case.status} `{case.code}` |"


def test_the_documented_split_between_gateway_and_function_is_current() -> None:
    # Row by row: a model without counts has no count case, and its other rows are the same.
    documented = DEPLOYMENT_CHECKS.read_text().splitlines()
    missing = [row for row in map(where_refused, JSON_BAD_REQUESTS) if row not in documented]

    assert missing == [], "update docs/deployment-checks.md:\n" + "\n".join(missing)


@pytest.mark.parametrize("case", JSON_BAD_REQUESTS, ids=lambda c: c.id)
def test_whatever_the_gateway_lets_through_the_function_refuses(case: BadRequest) -> None:
    # The function refuses every bad body on its own, whatever the gateway did before it.
    with pytest.raises(RequestRejected) as refused:
        FUNCTION.parse(case.body)
    assert refused.value.status_code == case.status
