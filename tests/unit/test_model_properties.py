"""Properties of the model layer over generated nights (hypothesis)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.config import Settings
from chalicelib.golden import TOLERANCE
from chalicelib.metadata import FeatureSpec
from chalicelib.model_package import load_model_package
from chalicelib.schemas import RequestRejected, RequestSchema
from harness import examples
from harness.samples import MODEL_DIR

ADVISOR = load_model_package(MODEL_DIR).advisor
FEATURES = ADVISOR.metadata.features
SCHEMA = RequestSchema(ADVISOR.metadata, max_batch_instances=Settings().max_batch_instances,
                       max_body_bytes=Settings().max_body_bytes)
EXAMPLES = examples(300)


def value_of(spec: FeatureSpec) -> st.SearchStrategy[float]:
    """A row's value: a category's code, an integer's whole number, any number in range."""
    if spec.discrete:
        return st.integers(int(spec.lowest), int(spec.highest)).map(float)
    return st.floats(spec.lowest, spec.highest, allow_nan=False, allow_infinity=False)


def request_value(spec: FeatureSpec) -> st.SearchStrategy[Any]:
    """A request's value: a category's string, else the row's number."""
    if spec.categories is not None:
        return st.sampled_from(spec.categories)
    return value_of(spec)


NIGHT = st.tuples(*(value_of(spec) for spec in FEATURES)).map(list)
REQUEST_NIGHT = st.fixed_dictionaries({spec.name: request_value(spec) for spec in FEATURES})


@settings(max_examples=EXAMPLES, deadline=None)
@given(night=NIGHT)
def test_probabilities_form_a_distribution_and_the_advice_is_the_most_probable(
    night: list[float],
) -> None:
    [advice] = ADVISOR.advise([night])

    assert math.isclose(sum(advice.probabilities.values()), 1.0, abs_tol=TOLERANCE)
    assert all(0.0 <= p <= 1.0 for p in advice.probabilities.values())
    assert advice.probability == max(advice.probabilities.values())
    assert advice.probabilities[advice.advice_id] == advice.probability
    assert list(advice.probabilities) == list(ADVISOR.metadata.class_ids)


@settings(max_examples=EXAMPLES, deadline=None)
@given(night=NIGHT)
def test_the_answer_is_deterministic(night: list[float]) -> None:
    assert ADVISOR.advise([night]) == ADVISOR.advise([list(night)])


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(nights=st.lists(NIGHT, min_size=1, max_size=Settings().max_batch_instances))
def test_a_batch_answers_as_its_nights_one_by_one(nights: list[list[float]]) -> None:
    batch = ADVISOR.advise(nights)
    singles = [ADVISOR.advise([night])[0] for night in nights]

    assert [a.advice_id for a in batch] == [a.advice_id for a in singles]
    for together, alone in zip(batch, singles, strict=True):
        assert together.probabilities == pytest.approx(alone.probabilities, abs=TOLERANCE)


def _invalid_value(spec: FeatureSpec) -> st.SearchStrategy[Any]:
    if spec.categories is not None:  # another string, its code, anything but one of them
        return st.one_of(st.text(max_size=12).filter(lambda v: v not in (spec.categories or ())),
                         st.integers(0, len(spec.categories) - 1), st.booleans(), st.none())
    out_of_range = st.one_of(
        st.floats(max_value=spec.lowest, exclude_max=True, allow_nan=False, allow_infinity=False),
        st.floats(min_value=spec.highest, exclude_min=True, allow_nan=False, allow_infinity=False),
    )
    wrong_type = st.one_of(st.booleans(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2))
    fraction = (st.floats(spec.lowest, spec.highest).filter(lambda v: not float(v).is_integer())
                if spec.type == "integer" else st.nothing())
    return st.one_of(out_of_range, wrong_type, fraction)


@st.composite
def invalid_request(draw: st.DrawFn) -> tuple[str, bytes]:
    night = draw(REQUEST_NIGHT)
    spec = draw(st.sampled_from(FEATURES))
    night[spec.name] = draw(_invalid_value(spec))
    if draw(st.booleans()):
        nights = [draw(REQUEST_NIGHT) for _ in range(draw(st.integers(0, 3)))]
        position = draw(st.integers(0, len(nights)))
        nights.insert(position, night)
        return f"instances[{position}].{spec.name}", json.dumps({"instances": nights}).encode()
    return f"features.{spec.name}", json.dumps({"features": night}).encode()


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=invalid_request())
def test_an_invalid_night_is_rejected_with_its_field_path(case: tuple[str, bytes]) -> None:
    field, body = case

    with pytest.raises(RequestRejected) as rejected:
        SCHEMA.parse(body)

    assert rejected.value.status_code == 400
    assert [e["field"] for e in rejected.value.errors] == [field]
