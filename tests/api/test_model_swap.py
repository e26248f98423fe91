"""A model with other features and classes is served without code changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from chalice.test import Client

from chalicelib.observability import label_with_model_version
from harness.samples import JSON
from harness.service import import_app


@pytest.fixture
def bedroom_app(bedroom_model_dir: Path, app_module: ModuleType) -> Iterator[ModuleType]:
    yield import_app("bedroom_app", bedroom_model_dir)
    # Powertools' logger and metrics are process-wide: give them back to the bundled model.
    label_with_model_version(app_module.advisor.metadata.version)


def test_second_model_gets_its_own_request_schema(bedroom_app: ModuleType) -> None:
    with Client(bedroom_app.app) as client:
        warm_room = client.http.post(
            "/predict", headers=JSON,
            body=json.dumps({"features": {"room_temperature_celsius": 29.5, "naps": 0}}),
        )
        sleep_features = client.http.post(
            "/predict", headers=JSON,
            body=json.dumps({"features": {"sleep_duration_hours": 6.0}}),
        )
        card = json.loads(client.http.get("/model").body)

    body = json.loads(warm_room.body)
    assert warm_room.status_code == 200
    assert body["model"] == {"name": "bedroom", "version": "0.1.0"}
    assert body["predictions"][0]["advice_id"] == "cool_the_room"
    assert set(body["predictions"][0]["probabilities"]) == {"cool_the_room", "skip_naps", "all_good"}
    errors = {e["field"]: e["type"] for e in json.loads(sleep_features.body)["Errors"]}
    assert errors == {
        "features.sleep_duration_hours": "extra_forbidden",
        "features.room_temperature_celsius": "missing",
        "features.naps": "missing",
    }
    assert [f["name"] for f in card["features"]] == ["room_temperature_celsius", "naps"]
