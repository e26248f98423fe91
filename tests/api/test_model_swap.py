"""A model with other features and classes is served without code changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from chalice.test import Client

from chalicelib.golden import read_golden
from chalicelib.metadata import ModelMetadata
from chalicelib.observability import label_with_model_version
from harness.samples import JSON, MODEL, SAMPLE_INSTANCE
from harness.service import import_app


@pytest.fixture
def second_app(second_model_dir: Path, app_module: ModuleType) -> Iterator[ModuleType]:
    yield import_app("second_app", second_model_dir)
    # Powertools' logger and metrics are process-wide: give them back to the served model.
    label_with_model_version(app_module.advisor.metadata.version)


def test_second_model_gets_its_own_request_schema_and_answers(
    second_app: ModuleType, second_model_dir: Path
) -> None:
    second = ModelMetadata.read(second_model_dir)
    golden = read_golden(second_model_dir, second)
    with Client(second_app.app) as client:
        answers = [client.http.post("/predict", headers=JSON, body=json.dumps(example.request))
                   for example in golden.examples]
        foreign = client.http.post("/predict", headers=JSON,
                                   body=json.dumps({"features": SAMPLE_INSTANCE}))
        card = json.loads(client.http.get("/model").body)

    for answer, example in zip(answers, golden.examples, strict=True):
        body = json.loads(answer.body)
        assert answer.status_code == 200, body
        assert body["model"] == {"name": second.name, "version": second.version}
        [prediction] = body["predictions"]
        assert prediction["advice_id"] == example.answer.advice_id
        assert prediction["probabilities"] == pytest.approx(example.answer.probabilities,
                                                            abs=golden.tolerance)
    assert [f["name"] for f in card["features"]] == list(second.feature_names)
    if second.name != MODEL.name:  # the first model's features mean nothing to the second
        errors = {e["field"]: e["type"] for e in json.loads(foreign.body)["Errors"]}
        assert errors == {
            **{f"features.{name}": "extra_forbidden"
               for name in set(MODEL.feature_names) - set(second.feature_names)},
            **{f"features.{name}": "missing"
               for name in set(second.feature_names) - set(MODEL.feature_names)},
        }
