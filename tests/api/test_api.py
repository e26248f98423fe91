"""The HTTP API through Chalice's test client."""

from __future__ import annotations

import base64
import json
import math
import uuid
from types import ModuleType
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.drift import TRAINING_DETAILS
from chalicelib.observability import label_with_model_version
from chalicelib.proxy_event import api_gateway_event
from harness.lambda_context import LambdaContext
from harness.samples import (
    BAD_REQUESTS,
    BASELINE,
    COUNT_FEATURE,
    GOLDEN,
    MODEL,
    NUMBER_FEATURE,
    SAMPLE,
    SAMPLE_ADVICE,
    BadRequest,
    assert_rejected,
    full_batch,
)
from harness.service import import_app, post_predict


def test_one_instance_gets_its_golden_answer_with_all_class_probabilities(
    client: Client, instance: dict[str, Any]
) -> None:
    response = post_predict(client, {"features": instance})

    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["model"] == {"name": MODEL.name, "version": MODEL.version}
    # Chalice's test client has no API Gateway request id: the Lambda context's id stands in.
    assert uuid.UUID(body["request_id"])
    [prediction] = body["predictions"]
    assert prediction["advice_id"] == SAMPLE_ADVICE
    classes = {c.id: c.advice for c in MODEL.classes}
    assert prediction["advice"] == classes[SAMPLE_ADVICE]
    assert list(prediction["probabilities"]) == list(classes)
    assert prediction["probabilities"] == pytest.approx(SAMPLE.answer.probabilities, abs=GOLDEN.tolerance)
    assert prediction["probability"] == max(prediction["probabilities"].values())
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=GOLDEN.tolerance)


def test_batch_answers_each_instance_in_order(client: Client) -> None:
    examples = GOLDEN.examples

    response = post_predict(client, {"instances": [e.request["features"] for e in examples]})

    assert response.status_code == 200
    advice = [p["advice_id"] for p in json.loads(response.body)["predictions"]]
    assert advice == [e.answer.advice_id for e in examples]
    assert len(set(advice)) > 1  # the order is really tested


def test_full_batch_is_accepted(client: Client) -> None:
    batch = full_batch()

    response = post_predict(client, {"instances": batch})

    assert response.status_code == 200
    assert len(json.loads(response.body)["predictions"]) == len(batch) > 1


@pytest.mark.skipif(NUMBER_FEATURE is None, reason="the model has no real-valued feature")
def test_integer_values_are_accepted_for_number_features(client: Client, instance: dict[str, Any]) -> None:
    assert NUMBER_FEATURE is not None
    instance[NUMBER_FEATURE.name] = math.ceil(NUMBER_FEATURE.lowest)
    assert post_predict(client, {"features": instance}).status_code == 200


@pytest.mark.skipif(COUNT_FEATURE is None, reason="the model has no count feature")
def test_whole_float_is_accepted_for_a_count(client: Client, instance: dict[str, Any]) -> None:
    assert COUNT_FEATURE is not None
    instance[COUNT_FEATURE.name] = float(math.ceil(COUNT_FEATURE.lowest))
    assert post_predict(client, {"features": instance}).status_code == 200


def test_content_type_with_charset_is_accepted(client: Client, instance: dict[str, Any]) -> None:
    response = client.http.post(
        "/predict",
        headers={"Content-Type": "application/json; charset=utf-8"},
        body=json.dumps({"features": instance}),
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


def test_error_list_is_capped(client: Client, instance: dict[str, Any]) -> None:
    garbage = {name: "x" for name in instance}

    response = post_predict(client, {"instances": [garbage] * 50})

    body = json.loads(response.body)
    assert response.status_code == 400
    assert len(body["Errors"]) == 20
    assert body["Message"].startswith(f"{50 * len(instance)} invalid field(s)")


def test_health_reports_the_loaded_model(client: Client) -> None:
    response = client.http.get("/health")

    assert response.status_code == 200
    assert json.loads(response.body) == {
        "status": "ok",
        "model_loaded": True,
        "model": {"name": MODEL.name, "version": MODEL.version},
    }


def test_model_card_lists_features_classes_metrics_and_the_drift_baseline(client: Client) -> None:
    response = client.http.get("/model")

    assert response.status_code == 200
    card = json.loads(response.body)
    assert card == {**MODEL.model_dump(mode="json"),
                    "drift_baseline": BASELINE.model_dump(mode="json")}
    assert [f["name"] for f in card["features"]] == list(MODEL.feature_names)
    assert {"unit", "minimum", "maximum", "description"} <= set(card["features"][0])
    assert card["golden"]["examples"] == len(GOLDEN.examples)
    # The model card's own words and figures.
    assert card["intended_use"] == MODEL.intended_use and card["limitations"] == list(
        MODEL.limitations)
    assert set(card["metrics"]["per_class"]) == set(MODEL.class_ids)
    assert card["latency"]["one_night_ms"] > 0


def test_a_stage_may_keep_the_training_details_private(
        monkeypatch: pytest.MonkeyPatch, app_module: ModuleType) -> None:
    monkeypatch.setenv("SLEEP_ADVISOR_PUBLISH_TRAINING_DETAILS", "false")
    private = import_app("private_card_app")
    try:
        with Client(private.app) as client:
            card = json.loads(client.http.get("/model").body)
    finally:
        label_with_model_version(app_module.advisor.metadata.version)

    assert not set(card) & set(TRAINING_DETAILS)
    assert card == MODEL.model_dump(mode="json", exclude=set(TRAINING_DETAILS))


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

    answer = app_module.app(event, LambdaContext())

    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["Code"] in {"InvalidRequest", "InvalidJSON"}


def test_base64_flagged_valid_body_is_answered(app_module: ModuleType, instance: dict[str, Any]) -> None:
    encoded = base64.b64encode(json.dumps({"features": instance}).encode()).decode()
    event = api_gateway_event("POST", "/predict", encoded, {"Content-Type": "application/json"})
    event["isBase64Encoded"] = True

    answer = app_module.app(event, LambdaContext())

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["predictions"][0]["advice_id"] == SAMPLE_ADVICE
