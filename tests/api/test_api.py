"""The HTTP API through Chalice's test client."""

from __future__ import annotations

import base64
import json
import uuid
from types import ModuleType
from typing import Any

import pytest
from chalice.local import LambdaContext
from chalice.test import Client

from harness.lambda_runtime import api_gateway_event
from harness.samples import BAD_REQUESTS, BadRequest, assert_rejected
from harness.service import post_predict


def test_single_night_gets_advice_with_all_class_probabilities(
    client: Client, night: dict[str, Any], app_module: ModuleType
) -> None:
    response = post_predict(client, {"features": night})

    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["model"] == {"name": "sleep-advice", "version": "1.0.0"}
    # Chalice's test client has no API Gateway request id: the Lambda context's id stands in.
    assert uuid.UUID(body["request_id"])
    [prediction] = body["predictions"]
    assert prediction["advice_id"] == "extend_sleep_window"
    classes = {c.id: c.advice for c in app_module.advisor.metadata.classes}
    assert prediction["advice"] == classes["extend_sleep_window"]
    assert list(prediction["probabilities"]) == list(classes)
    assert prediction["probability"] == max(prediction["probabilities"].values())
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)


def test_batch_answers_each_instance_in_order(client: Client, night: dict[str, Any]) -> None:
    late_coffee = {**night, "sleep_duration_hours": 7.8, "caffeine_after_14h_mg": 400,
                   "night_awakenings": 4, "sleep_latency_minutes": 50}
    irregular = {**night, "sleep_duration_hours": 7.5, "bedtime_variability_minutes": 150}

    response = post_predict(client, {"instances": [night, late_coffee, irregular]})

    assert response.status_code == 200
    advice = [p["advice_id"] for p in json.loads(response.body)["predictions"]]
    assert advice == ["extend_sleep_window", "cut_late_caffeine", "fix_schedule"]


def test_full_batch_is_accepted(client: Client, night: dict[str, Any]) -> None:
    response = post_predict(client, {"instances": [night] * 100})

    assert response.status_code == 200
    assert len(json.loads(response.body)["predictions"]) == 100


def test_integer_values_are_accepted_for_number_features(client: Client, night: dict[str, Any]) -> None:
    night["sleep_duration_hours"] = 6
    assert post_predict(client, {"features": night}).status_code == 200


def test_whole_float_is_accepted_for_a_count(client: Client, night: dict[str, Any]) -> None:
    night["night_awakenings"] = 2.0
    assert post_predict(client, {"features": night}).status_code == 200


def test_content_type_with_charset_is_accepted(client: Client, night: dict[str, Any]) -> None:
    response = client.http.post(
        "/predict",
        headers={"Content-Type": "application/json; charset=utf-8"},
        body=json.dumps({"features": night}),
    )
    assert response.status_code == 200


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda case: case.id)
def test_bad_request_gets_a_clear_error(client: Client, case: BadRequest) -> None:
    response = client.http.post("/predict", headers=case.headers, body=case.body)

    assert_rejected(case, response.status_code, json.loads(response.body))


def test_wrong_method_is_rejected(client: Client) -> None:
    response = client.http.get("/predict")

    assert response.status_code == 405
    assert json.loads(response.body)["Code"] == "MethodNotAllowedError"


def test_error_list_is_capped(client: Client, night: dict[str, Any]) -> None:
    garbage = {name: "x" for name in night}

    response = post_predict(client, {"instances": [garbage] * 50})

    body = json.loads(response.body)
    assert response.status_code == 400
    assert len(body["Errors"]) == 20
    assert body["Message"].startswith("350 invalid field(s)")


def test_health_reports_the_loaded_model(client: Client) -> None:
    response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {
        "status": "ok",
        "model_loaded": True,
        "model": {"name": "sleep-advice", "version": "1.0.0"},
    }


def test_model_card_lists_features_classes_and_metrics(client: Client) -> None:
    response = client.http.get("/model")

    assert response.status_code == 200
    card = json.loads(response.body)
    assert card["version"] == "1.0.0"
    hours = next(f for f in card["features"] if f["name"] == "sleep_duration_hours")
    assert (hours["unit"], hours["minimum"], hours["maximum"]) == ("h", 0, 16)
    assert len(card["classes"]) == 5
    assert 0.7 < card["metrics"]["accuracy"] <= 1


@pytest.mark.parametrize(("body", "status"), [
    ("bm90IGpzb24=", 400),  # valid base64 of "not json": the JSON parser refuses it
    ("%%% not base64 %%%", 400),
    ("abc", 400),  # bad padding
])
def test_base64_flagged_body_that_is_not_base64_is_a_client_error(
    app_module: ModuleType, body: str, status: int
) -> None:
    # API Gateway base64-encodes binary media types; a direct invoke can flag any body so.
    event = api_gateway_event("POST", "/predict", body, {"Content-Type": "application/json"})
    event["isBase64Encoded"] = True

    answer = app_module.app(event, LambdaContext("sleep-advisor", 1024))

    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["Code"] in {"InvalidRequest", "InvalidJSON"}


def test_base64_flagged_valid_body_is_answered(app_module: ModuleType, night: dict[str, Any]) -> None:
    encoded = base64.b64encode(json.dumps({"features": night}).encode()).decode()
    event = api_gateway_event("POST", "/predict", encoded, {"Content-Type": "application/json"})
    event["isBase64Encoded"] = True

    answer = app_module.app(event, LambdaContext("sleep-advisor", 1024))

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["predictions"][0]["advice_id"] == "extend_sleep_window"
