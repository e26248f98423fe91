"""A full batch of the model's nights against the body limit: stated, checked, and refused
with the settings that would fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib import contract
from chalicelib.metadata import FeatureSpec, ModelMetadata
from chalicelib.saving import main as check_model
from chalicelib.schemas import (
    LONGEST_NUMBER,
    RequestRejected,
    RequestSchema,
    batch_limits_problem,
    largest_body_bytes,
)
from harness.samples import MODEL, MODEL_DIR, SAMPLE_INSTANCE


def longest_nights(metadata: ModelMetadata, count: int) -> str:
    # Every value at its longest: a 24-digit number stands in for the longest double's form.
    night = {spec.name: (max(spec.categories, key=len) if spec.categories is not None
                         else int(max(str(int(spec.lowest)), str(int(spec.highest)), key=len))
                         if spec.type == "integer" else int("9" * LONGEST_NUMBER))
             for spec in metadata.features}
    return json.dumps({"instances": [night] * count})


@pytest.mark.parametrize("count", [1, 2, 100])
def test_the_largest_body_is_that_of_a_batch_at_every_features_longest_value(count: int) -> None:
    assert largest_body_bytes(MODEL, count) == len(longest_nights(MODEL, count))
    # Python's and JavaScript's shortest round trip never write a double longer than that.
    assert len(repr(-2.2250738585072014e-308)) == LONGEST_NUMBER


def test_the_settings_a_refusal_names_fit_and_one_step_past_them_does_not() -> None:
    body_limit = largest_body_bytes(MODEL, 100) - 1
    problem = batch_limits_problem(MODEL, 100, body_limit)
    assert problem is not None
    needed_bytes = int(problem.split("max_body_bytes to at least ")[1].split()[0])
    fitting_batch = int(problem.split("max_batch_instances to at most ")[1].split()[0])

    assert batch_limits_problem(MODEL, 100, needed_bytes) is None
    assert batch_limits_problem(MODEL, fitting_batch, body_limit) is None
    assert batch_limits_problem(MODEL, fitting_batch + 1, body_limit) is not None


def test_check_model_refuses_limits_a_full_batch_cannot_fit(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.config import get_settings

    monkeypatch.setenv("SLEEP_ADVISOR_MAX_BODY_BYTES", str(largest_body_bytes(MODEL, 100) - 1))
    get_settings.cache_clear()
    try:
        assert check_model(["check", str(MODEL_DIR)]) == 1
    finally:
        get_settings.cache_clear()

    assert "set max_body_bytes to at least" in capsys.readouterr().err


def test_a_body_over_the_limit_is_told_how_to_fit() -> None:
    schema = RequestSchema(MODEL, max_batch_instances=100, max_body_bytes=2048)
    body = json.dumps({"instances": [SAMPLE_INSTANCE] * 20})

    with pytest.raises(RequestRejected) as refused:
        schema.parse(body)

    assert refused.value.status_code == 413
    assert "smaller batches (at most 100 instances and 2048 bytes a request)" in (
        refused.value.message)
    assert "max_body_bytes" in refused.value.message


def test_saving_a_model_whose_full_batch_exceeds_the_default_limit_warns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.models import bedroom_train

    # The second model's full batch is 18 KB; a default limit below it stands in for a model
    # of forty features.
    monkeypatch.setattr(contract, "MAX_BODY_BYTES", 10_000)
    with pytest.warns(UserWarning, match="set max_body_bytes to at least 18"):
        bedroom_train.train(tmp_path)


def test_a_wide_models_features_are_counted_by_name_and_range() -> None:
    wide = MODEL.model_copy(update={"features": tuple(
        FeatureSpec(name=f"sensor_reading_number_{i}", type="number", unit="", minimum=0,
                    maximum=1, description="") for i in range(14))})

    assert largest_body_bytes(wide, 100) > contract.MAX_BODY_BYTES
