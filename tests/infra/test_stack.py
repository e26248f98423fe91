"""The stack as a whole: outputs, what must not disappear, and its context settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from chalicelib.contract import BUNDLED_MODEL_DIR
from chalicelib.metadata import (
    GOLDEN_FILENAME,
    METADATA_FILENAME,
    ModelMetadata,
    package_files,
)
from harness.cdk import Synthesis, in_process_synth
from harness.samples import MODEL, MODEL_DIR
from harness.templates import resource
from tests.conftest import SECOND_MODEL_DIR


def test_outputs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]

    assert "RestAPI" in json.dumps(outputs["ApiUrl"]["Value"])
    assert outputs["FunctionName"]["Value"] == {"Ref": "APIHandler"}
    assert {"UserPoolId", "UserPoolClientId"} <= set(outputs)


def test_resource_counts_guard_against_accidental_deletion(template: Template) -> None:
    for resource_type, count in {
        "AWS::Serverless::Function": 1, "AWS::Serverless::Api": 1,
        "AWS::Cognito::UserPool": 1, "AWS::Logs::LogGroup": 6, "AWS::IAM::Role": 6,
        # The pre-traffic hook, its failure reporter and the drift check (the service is a
        # SAM function).
        "AWS::Lambda::Function": 3,
        # The rollout's state changes; the drift check's schedule, and the drift alarm's ALARM.
        "AWS::Events::Rule": 3,
    }.items():
        template.resource_count_is(resource_type, count)


def test_context_sets_memory_throttling_concurrency_and_limits(
    configured_synthesis: Synthesis,
) -> None:
    template = configured_synthesis.template
    function = resource(template, "APIHandler")["Properties"]
    settings = resource(template, "RestAPI")["Properties"]["MethodSettings"][0]
    model = resource(template, "RestAPI")["Properties"]["DefinitionBody"]["definitions"][
        "PredictionRequest"]

    assert function["MemorySize"] == 2048
    assert function["ReservedConcurrentExecutions"] == 20
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (5, 10)
    # One setting, given to the function and to the gateway's model alike.
    assert function["Environment"]["Variables"]["SLEEP_ADVISOR_MAX_BATCH_INSTANCES"] == "25"
    assert model["properties"]["instances"]["maxItems"] == 25
    assert function["Environment"]["Variables"]["SLEEP_ADVISOR_MAX_BODY_BYTES"] == "131072"
    assert function["Environment"]["Variables"]["SLEEP_ADVISOR_PUBLISH_TRAINING_DETAILS"] == "false"
    assert function["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "SleepAdvisor/prod"


@pytest.mark.parametrize("bad", [{"timeout_seconds": "29"}, {"memory_size_mb": "64"},
                                 {"user_pool_arn": "pool-1"}, {"log_retention_days": "31"}])
def test_invalid_context_is_refused(synthesize: Callable[..., Template], bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        synthesize(**bad)


def test_synthesis_refuses_a_body_limit_a_full_batch_cannot_fit(
        synthesize: Callable[..., Template]) -> None:
    with pytest.raises(SystemExit, match=r"cannot be deployed with these settings: a full batch of "
                                         r"100 .* set max_body_bytes to at least \d+ or "
                                         r"max_batch_instances to at most \d+"):
        synthesize(max_body_bytes="2048")


def test_synthesis_leaves_the_environment_as_it_found_it(tmp_path: Path) -> None:
    # Chalice's packaging copies the stage's variables into os.environ; a leaked batch limit
    # once made chalice local refuse full batches in later tests.
    before = dict(os.environ)

    in_process_synth(tmp_path, max_batch_instances="7")

    assert dict(os.environ) == before


def test_synthesis_says_the_image_ships_model_not_the_configured_directory(
    tmp_path: Path, model_copy: Path, synthesis: Synthesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLEEP_ADVISOR_MODEL_DIR", str(model_copy))

    elsewhere = in_process_synth(tmp_path)

    assert (f"SLEEP_ADVISOR_MODEL_DIR={model_copy} is not deployed: the image ships "
            f"{MODEL_DIR.name}/ ({MODEL.name} {MODEL.version})") in elsewhere.output
    assert "SLEEP_ADVISOR_MODEL_DIR" not in synthesis.output
    # What is deployed is the stack's model: the gateway's request model has its features.
    assert elsewhere.template == synthesis.template


def test_a_model_that_cannot_serve_stops_synthesis(model_copy: Path) -> None:
    from sleep_advisor_infra import stack

    golden = model_copy / GOLDEN_FILENAME
    golden.write_text(golden.read_text() + " ")
    with pytest.raises(SystemExit, match=f"{model_copy} cannot be deployed: {golden}: sha256"):
        stack.shipped_model(model_copy)


def test_synthesis_refuses_another_artifact_under_the_committed_version(tmp_path: Path) -> None:
    from sleep_advisor_infra import stack

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in package_files(SECOND_MODEL_DIR):
        shutil.copy(SECOND_MODEL_DIR / name, model_dir / name)
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "the second model")
    # The sleep model saved over it under the committed version: another artifact, same name.
    metadata = json.loads((BUNDLED_MODEL_DIR / METADATA_FILENAME).read_text())
    metadata["version"] = ModelMetadata.read(SECOND_MODEL_DIR).version
    for name in package_files(BUNDLED_MODEL_DIR):
        if name != METADATA_FILENAME:
            shutil.copy(BUNDLED_MODEL_DIR / name, model_dir / name)
    (model_dir / METADATA_FILENAME).write_text(json.dumps(metadata))

    with pytest.raises(SystemExit, match=r"another artifact .* under version"):
        stack.shipped_model(model_dir)
