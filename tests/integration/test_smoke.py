"""`make smoke` (infra/smoke.py) run against a real `chalice local`, and against a dead URL.

The stage's URL normally comes from its CloudFormation outputs; that one AWS call is answered by
botocore's Stubber, which checks the request and the response against CloudFormation's API
model. What API Gateway itself answers can only be seen on a real deployment.
"""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
import pytest
import smoke
from botocore.stub import Stubber

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


def test_smoke_finds_the_api_url_in_the_stack_outputs() -> None:
    url = "https://abc123.execute-api.eu-central-1.amazonaws.com/api/"
    cloudformation = botocore.session.get_session().create_client(
        "cloudformation", region_name="eu-central-1", aws_access_key_id="testing",
        aws_secret_access_key="testing")
    with Stubber(cloudformation) as stubber:
        stubber.add_response("describe_stacks", {"Stacks": [{
            "StackName": "SleepAdvisor-prod", "CreationTime": datetime(2026, 12, 1, tzinfo=UTC),
            "StackStatus": "UPDATE_COMPLETE",
            "Outputs": [{"OutputKey": "AlarmTopicArn", "OutputValue": "arn:aws:sns:x"},
                        {"OutputKey": "ApiUrl", "OutputValue": url}],
        }]}, expected_params={"StackName": "SleepAdvisor-prod"})

        assert smoke.stack_api_url("prod", cloudformation) == url
        stubber.assert_no_pending_responses()
