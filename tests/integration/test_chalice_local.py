"""The API served by a real `chalice local` process on a loopback port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.metadata import ARTIFACT_FILENAME
from harness import REPO_ROOT
from harness.chalice_local import ChaliceLocal
from harness.emf import emf_blobs, emitted_metrics
from harness.samples import BAD_REQUESTS, JSON, BadRequest, assert_rejected


def test_predict_answers_over_http(chalice_local: ChaliceLocal, night: dict[str, Any]) -> None:
    answer = chalice_local.request("POST", "/predict", json.dumps({"features": night}).encode(), JSON)

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    [prediction] = answer.json()["predictions"]
    assert prediction["advice_id"] == "extend_sleep_window"


def test_batch_answers_over_http(chalice_local: ChaliceLocal, night: dict[str, Any]) -> None:
    body = json.dumps({"instances": [night] * 100}).encode()

    answer = chalice_local.request("POST", "/predict", body, JSON)

    assert answer.status == 200
    assert len(answer.json()["predictions"]) == 100


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda case: case.id)
def test_bad_request_gets_a_clear_error(chalice_local: ChaliceLocal, case: BadRequest) -> None:
    answer = chalice_local.request("POST", "/predict", case.body, case.headers)

    assert answer.headers["Content-Type"] == "application/json"
    assert_rejected(case, answer.status, answer.json())


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_is_rejected(chalice_local: ChaliceLocal, method: str) -> None:
    answer = chalice_local.request(method, "/predict")

    assert answer.status == 405
    assert answer.json()["Code"] == "MethodNotAllowedError"


def test_health_and_model_card(chalice_local: ChaliceLocal) -> None:
    health = chalice_local.request("GET", "/health")
    card = chalice_local.request("GET", "/model")

    assert health.status == 200 and health.json()["model_loaded"] is True
    assert card.status == 200 and card.json()["name"] == "sleep-advice"


def test_tampered_model_stops_chalice_local_from_starting(model_copy: Path) -> None:
    artifact = model_copy / ARTIFACT_FILENAME
    artifact.write_bytes(artifact.read_bytes() + b"\x00")

    with pytest.raises(RuntimeError, match="chalice local exited") as refused:  # noqa: SIM117
        with ChaliceLocal.start(REPO_ROOT, env={"SLEEP_ADVISOR_MODEL_DIR": str(model_copy)}):
            pass

    assert f"ModelLoadError: {artifact}: sha256" in str(refused.value)


def test_chalice_local_prints_the_same_log_lines_and_emf(
    chalice_local: ChaliceLocal, night: dict[str, Any]
) -> None:
    answer = chalice_local.request("POST", "/predict", json.dumps({"features": night}).encode(), JSON)
    request_id = answer.json()["request_id"]

    lines = [json.loads(x) for x in chalice_local.output().splitlines() if x.startswith("{")]
    [prediction] = [x for x in lines if x.get("correlation_id") == request_id]
    assert prediction["message"] == "prediction" and prediction["advice"] == "extend_sleep_window"
    metrics = emitted_metrics(emf_blobs(chalice_local.output()))
    assert {"PredictionProbability", "AdviceGiven", "InferenceLatency"} <= {
        m.name for m in metrics
    }


def test_second_model_served_by_chalice_local(bedroom_model_dir: Path) -> None:
    with ChaliceLocal.start(REPO_ROOT, env={"SLEEP_ADVISOR_MODEL_DIR": str(bedroom_model_dir)}) as server:
        answer = server.request(
            "POST", "/predict",
            json.dumps({"instances": [{"room_temperature_celsius": 18.0, "naps": 4}]}).encode(),
            JSON,
        )

    assert answer.status == 200
    assert answer.json()["predictions"][0]["advice_id"] == "skip_naps"
