"""`make smoke` (infra/smoke.py) run against a real `chalice local`, and against a dead URL.

The stage's URL normally comes from its CloudFormation outputs; that one AWS call is faked
with moto. What API Gateway itself answers can only be seen on a real deployment.
"""

from __future__ import annotations

import json

import boto3
import pytest
import smoke
from moto import mock_aws

from harness.chalice_local import ChaliceLocal, free_loopback_port


def test_smoke_passes_against_a_serving_api(chalice_local: ChaliceLocal,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = smoke.main(["--api-url", f"http://127.0.0.1:{chalice_local.port}", "--no-authorizer"])
    output = capsys.readouterr().out

    assert code == 0, output
    assert [line.split(":")[0] for line in output.splitlines() if line.startswith("ok")] == [
        "ok    GET /health", "ok    GET /model", "ok    POST /predict",
        "ok    POST /predict, string feature"], output
    assert "400 InvalidRequest from the function" in output
    assert "set-alarm-state --alarm-name sleep-advisor-dev-throttles" in output


def test_smoke_fails_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    code = smoke.main(["--api-url", f"http://127.0.0.1:{free_loopback_port()}/", "--token", "t"])

    assert code == 1
    assert "FAIL  GET /health" in capsys.readouterr().out


def test_smoke_needs_a_token_for_a_deployed_stage(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLEEP_ADVISOR_ID_TOKEN", raising=False)

    assert smoke.main(["--api-url", "http://127.0.0.1:9/"]) == 2
    assert "Cognito ID token" in capsys.readouterr().err


@mock_aws
def test_smoke_finds_the_api_url_in_the_stack_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": "https://abc123.execute-api.eu-central-1.amazonaws.com/api/"}},
    }
    boto3.client("cloudformation").create_stack(StackName="SleepAdvisor-prod",
                                                TemplateBody=json.dumps(template))

    assert smoke.stack_api_url("prod") == "https://abc123.execute-api.eu-central-1.amazonaws.com/api/"
