"""The API served by a real `chalice local` process on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.contract import MODEL_LOADED_LOG
from chalicelib.golden import read_golden
from chalicelib.metadata import GOLDEN_FILENAME, SCIKIT_LEARN, ModelMetadata
from harness import REPO_ROOT
from harness.chalice_local import ChaliceLocal
from harness.emf import emf_blobs, emitted_metrics
from harness.samples import (
    BAD_REQUESTS,
    JSON,
    MODEL,
    SAMPLE_ADVICE,
    BadRequest,
    assert_rejected,
    full_batch,
)


def test_predict_answers_over_http(chalice_local: ChaliceLocal, instance: dict[str, Any]) -> None:
    answer = chalice_local.request("POST", "/predict", json.dumps({"features": instance}).encode(), JSON)

    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    [prediction] = answer.json()["predictions"]
    assert prediction["advice_id"] == SAMPLE_ADVICE


def test_batch_answers_over_http(chalice_local: ChaliceLocal) -> None:
    batch = full_batch()
    body = json.dumps({"instances": batch}).encode()

    answer = chalice_local.request("POST", "/predict", body, JSON)

    assert answer.status == 200
    assert len(answer.json()["predictions"]) == len(batch) > 1


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
    assert card.status == 200 and card.json()["name"] == MODEL.name


def test_tampered_model_stops_chalice_local_from_starting(model_copy: Path) -> None:
    artifact = model_copy / MODEL.served_artifact
    artifact.write_bytes(artifact.read_bytes() + b"\x00")

    with pytest.raises(RuntimeError, match="chalice local exited") as refused:  # noqa: SIM117
        with ChaliceLocal.start(REPO_ROOT, env={"SLEEP_ADVISOR_MODEL_DIR": str(model_copy)}):
            pass

    assert f"ModelLoadError: {artifact}: sha256" in str(refused.value)


def test_chalice_local_prints_the_same_log_lines_and_emf(
    chalice_local: ChaliceLocal, instance: dict[str, Any]
) -> None:
    answer = chalice_local.request("POST", "/predict", json.dumps({"features": instance}).encode(), JSON)
    request_id = answer.json()["request_id"]

    lines = [json.loads(x) for x in chalice_local.output().splitlines() if x.startswith("{")]
    [prediction] = [x for x in lines if x.get("correlation_id") == request_id]
    assert prediction["message"] == "prediction" and prediction["advice"] == SAMPLE_ADVICE
    assert prediction["inference_ms"] > 0 and prediction["advice_counts"] == {SAMPLE_ADVICE: 1}
    metrics = emitted_metrics(emf_blobs(chalice_local.output()))
    assert {m.name for m in metrics} == {"PredictionProbability"}


@pytest.mark.parametrize("runtime", ["model", SCIKIT_LEARN])
def test_second_model_served_by_chalice_local(second_model_dir: Path, runtime: str) -> None:
    # As the image serves it (its compiled graph), or as a data scientist asks for locally:
    # SLEEP_ADVISOR_RUNTIME=scikit-learn make run.
    second = ModelMetadata.read(second_model_dir)
    [example, *_] = read_golden(second_model_dir, second).examples
    env = {"SLEEP_ADVISOR_MODEL_DIR": str(second_model_dir), "SLEEP_ADVISOR_RUNTIME": runtime}
    with ChaliceLocal.start(REPO_ROOT, env=env) as server:
        answer = server.request("POST", "/predict", json.dumps(example.request).encode(), JSON)
        output = server.output()

    assert answer.status == 200
    assert answer.json()["predictions"][0]["advice_id"] == example.answer.advice_id
    [loaded] = [json.loads(line) for line in output.splitlines()
                if line.startswith("{") and json.loads(line).get("message") == MODEL_LOADED_LOG]
    assert loaded["runtime"] == (second.serving.runtime if runtime == "model" else runtime)


def test_make_run_with_a_model_that_cannot_serve_exits_at_once(model_copy: Path) -> None:
    # Chalice's reloader would keep waiting for a fixed file with nothing listening; the
    # model check in front of it fails first, with the reason, and a non-zero status.
    golden = model_copy / GOLDEN_FILENAME
    golden.write_text(golden.read_text().replace('"examples"', '"examples" ', 1))

    # A hang (the old behaviour) ends in TimeoutExpired.
    result = subprocess.run(
        ["make", "--no-print-directory", "run", "PORT=0"], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120, env={**os.environ, "SLEEP_ADVISOR_MODEL_DIR": str(model_copy)},
    )

    assert result.returncode != 0
    assert f"model check failed: {golden}: sha256" in result.stderr
    assert "Serving on" not in result.stdout + result.stderr
