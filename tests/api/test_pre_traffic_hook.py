"""The pre-traffic hook against the real app: the function's code answers the hook's proxy
events in this process; only the AWS APIs (Lambda Invoke, CodeDeploy's status, SNS) are faked,
on real botocore clients, so every call is checked against the service's API model."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib import contract, pre_traffic_hook
from chalicelib.metadata import GOLDEN_FILENAME, METADATA_FILENAME, sha256_of
from chalicelib.observability import label_with_model_version
from harness.emf import emf_blobs, emitted_metrics
from harness.lambda_context import LambdaContext
from harness.logs_insights import json_lines
from harness.samples import GOLDEN, MODEL, MODEL_DIR
from harness.service import import_app

FUNCTION_NAME = "sleep-advisor-dev-APIHandler"
TARGET_VERSION = "7"
VERSION_ARN = f"arn:aws:lambda:eu-central-1:123456789012:function:{FUNCTION_NAME}:{TARGET_VERSION}"
TOPIC_ARN = "arn:aws:sns:eu-central-1:123456789012:sleep-advisor-dev-alarms"
HOOK_EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}
# One session for every test: it loads each service's API model once.
SESSION = botocore.session.get_session()


@dataclass
class FakeAws:
    """Real botocore clients whose calls are answered here instead of by AWS."""

    answer_invoke: Callable[[dict[str, Any]], dict[str, Any]]
    invoked: list[dict[str, Any]] = field(default_factory=list)
    card_requests: list[dict[str, Any]] = field(default_factory=list)
    reported: list[dict[str, Any]] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    fail_publish: bool = False
    already_reported: bool = False
    publish_attempts: int = 0
    # What GetDeployment says the deployment shifts traffic to: the version CloudFormation
    # published, as a CloudFormation-started deployment's AppSpec names it.
    revision: dict[str, Any] = field(default_factory=lambda: appspec_revision(TARGET_VERSION))

    def client(self, service: str) -> Any:
        client = SESSION.create_client(
            service, region_name="eu-central-1", aws_access_key_id="testing",
            aws_secret_access_key="testing")
        # Parameters are validated against the API model before this event: a wrong call
        # fails here as it would against AWS.
        client.meta.events.register(f"before-call.{client.meta.service_model.service_name}",
                                    self._answer)
        return client

    def _answer(self, model: Any, params: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
        body = params["body"]
        if model.name == "Invoke":
            function = params["url_path"].split("/functions/")[1].split("/")[0]
            client_context = params["headers"].get("X-Amz-Client-Context")
            request = {"FunctionName": urllib.parse.unquote(function), "Payload": json.loads(body),
                       "InvocationType": params["headers"].get("X-Amz-Invocation-Type"),
                       "ClientContext": client_context and json.loads(
                           base64.b64decode(client_context))}
            # The model card first, then the golden questions: recorded apart.
            is_card = request["Payload"]["requestContext"]["resourcePath"] == "/model"
            (self.card_requests if is_card else self.invoked).append(request)
            return _response(), self.answer_invoke(request)
        if model.name == "GetDeployment":
            return _response(), {"deploymentInfo": {
                "deploymentId": HOOK_EVENT["DeploymentId"], "revision": self.revision}}
        document = json.loads(body) if isinstance(body, (bytes, str)) and body[:1] in (b"{", "{") else body
        if model.name == "PutLifecycleEventHookExecutionStatus":
            if self.already_reported:
                raise ClientError({"Error": {"Code": "LifecycleEventAlreadyCompletedException",
                                             "Message": "already completed"}},
                                  "PutLifecycleEventHookExecutionStatus")
            self.reported.append(document)
            return _response(), {"lifecycleEventHookExecutionId": document["lifecycleEventHookExecutionId"]}
        if model.name == "Publish":
            self.publish_attempts += 1
            if self.fail_publish:
                raise RuntimeError("SNS is unreachable")
            self.published.append(dict(document))
            return _response(), {"MessageId": "message-1"}
        raise AssertionError(f"unexpected AWS call {model.name}")

    def run(self, model_dir: Path = MODEL_DIR,
            seconds_left: Callable[[], float] = lambda: 300.0) -> dict[str, str]:
        return pre_traffic_hook.run_hook(
            HOOK_EVENT, version_arn=VERSION_ARN, lambda_client=self.client("lambda"),
            codedeploy=self.client("codedeploy"), sns=self.client("sns"), topic_arn=TOPIC_ARN,
            stage="dev", model_dir=model_dir, seconds_left=seconds_left,
        )


def appspec_revision(target_version: str, name: str = FUNCTION_NAME,
                     revision_type: str = "AppSpecContent") -> dict[str, Any]:
    """A Lambda deployment's revision as GetDeployment returns it: the AppSpec, JSON, as
    `appSpecContent` or (the older form) `string` (RevisionLocation in CodeDeploy's API)."""
    content = json.dumps({"version": 0.0, "Resources": [{name: {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Name": name, "Alias": "live", "CurrentVersion": "6",
                       "TargetVersion": target_version}}}]})
    key = {"AppSpecContent": "appSpecContent", "String": "string"}[revision_type]
    return {"revisionType": revision_type,
            key: {"content": content, "sha256": hashlib.sha256(content.encode()).hexdigest()}}


def _response() -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse("https://fake", 200, {}, None)


def payload(document: Any, error: str | None = None) -> dict[str, Any]:
    """What botocore parses an Invoke response into."""
    answer: dict[str, Any] = {"StatusCode": 200, "Payload": _Body(json.dumps(document).encode())}
    if error:
        answer["FunctionError"] = error
    return answer


class _Body(io.BytesIO):
    pass


@pytest.fixture
def real_function(app_module: ModuleType) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Lambda running the function's code: the app answers the event the hook sent."""

    def invoke(request: dict[str, Any]) -> dict[str, Any]:
        context = LambdaContext(client_context=request["ClientContext"])
        return payload(app_module.app(request["Payload"], context))

    return invoke


@pytest.fixture
def altered_model(model_copy: Path) -> Iterator[Path]:
    """The model folder with its first golden probability changed by 0.001 (and re-hashed):
    what the hook expects no longer matches what the function answers."""
    golden = model_copy / GOLDEN_FILENAME
    document = json.loads(golden.read_text())
    probabilities = document["examples"][0]["answer"]["probabilities"]
    first = next(iter(probabilities))
    probabilities[first] = round(probabilities[first] + 0.001, 12)
    golden.write_text(json.dumps(document))
    metadata = json.loads((model_copy / METADATA_FILENAME).read_text())
    metadata["golden"]["sha256"] = sha256_of(golden)
    (model_copy / METADATA_FILENAME).write_text(json.dumps(metadata))
    yield model_copy


def test_the_shipped_model_passes_and_traffic_may_shift(real_function: Any) -> None:
    aws = FakeAws(real_function)

    result = aws.run()

    assert result["status"] == "Succeeded", result
    assert [(call["FunctionName"], call["InvocationType"]) for call in aws.invoked] == (
        [(VERSION_ARN, "RequestResponse")] * len(GOLDEN.examples))
    # Every golden request went through the /predict route as API Gateway sends it.
    sent = [json.loads(call["Payload"]["body"]) for call in aws.invoked]
    assert sent == [example.request for example in GOLDEN.examples]
    assert aws.reported == [{"deploymentId": "d-ABCDEF123",
                             "lifecycleEventHookExecutionId": "hook-execution-1",
                             "status": "Succeeded"}]
    assert aws.published == []


@pytest.fixture
def drifted_function(real_function: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The new version answering 0.001 off on its first class: another library build, say."""

    def invoke(request: dict[str, Any]) -> dict[str, Any]:
        answer = real_function(request)
        response = json.loads(answer["Payload"].read())
        body = json.loads(response["body"])
        for prediction in body.get("predictions", []):
            first = next(iter(prediction["probabilities"]))
            prediction["probabilities"][first] += 0.001
        return payload({**response, "body": json.dumps(body)})

    return invoke


def test_answers_that_differ_from_the_golden_ones_fail_the_deployment(
    drifted_function: Any,
) -> None:
    aws = FakeAws(drifted_function)

    result = aws.run()

    assert result["status"] == "Failed"
    assert result["reason"].startswith(f"golden example 1 of {len(GOLDEN.examples)}")
    assert "recorded" in result["reason"] and "tolerance" in result["reason"]
    assert [r["status"] for r in aws.reported] == ["Failed"]
    [message] = [json.loads(p["Message"]) for p in aws.published]
    assert (message["version"], message["source"]) == ("1.0", "custom")
    assert message["metadata"]["threadId"] == "d-ABCDEF123"
    assert f"{MODEL.name} {MODEL.version}" in message["content"]["title"]
    assert message["content"]["description"] == result["reason"]


def test_a_5xx_from_the_new_version_fails_the_deployment(
    app_module: ModuleType, monkeypatch: pytest.MonkeyPatch, real_function: Any
) -> None:
    def broken(nights: Any) -> Any:
        raise RuntimeError("the model broke")

    monkeypatch.setattr(app_module.advisor, "advise", broken)
    aws = FakeAws(real_function)

    result = aws.run()

    assert result["status"] == "Failed"
    assert "golden example 1" in result["reason"] and "HTTP 500" in result["reason"]
    assert len(aws.invoked) == 1  # the first failure decides
    assert [r["status"] for r in aws.reported] == ["Failed"]


def test_a_function_error_fails_the_deployment() -> None:
    aws = FakeAws(lambda request: payload(
        {"errorType": "Runtime.ImportModuleError", "errorMessage": "ModelLoadError: golden"},
        error="Unhandled"))

    result = aws.run()

    assert result["status"] == "Failed"
    assert "Unhandled error: Runtime.ImportModuleError: ModelLoadError: golden" in result["reason"]


def test_no_answer_in_time_fails_the_deployment() -> None:
    def hangs(request: dict[str, Any]) -> dict[str, Any]:
        raise ReadTimeoutError(endpoint_url="https://lambda.eu-central-1.amazonaws.com")

    aws = FakeAws(hangs)

    result = aws.run()

    assert result["status"] == "Failed"
    assert "no answer: Read timeout on endpoint URL" in result["reason"]
    assert [r["status"] for r in aws.reported] == ["Failed"]


def test_the_hook_reports_before_it_runs_out_of_time(real_function: Any) -> None:
    aws = FakeAws(real_function)

    result = aws.run(seconds_left=lambda: pre_traffic_hook.ANSWER_TIMEOUT_S)

    assert result["status"] == "Failed" and "ran out of time" in result["reason"]
    assert aws.invoked == [] and [r["status"] for r in aws.reported] == ["Failed"]


def test_the_verdict_is_reported_even_when_the_alert_cannot_be_sent(
    drifted_function: Any,
) -> None:
    aws = FakeAws(drifted_function, fail_publish=True)

    result = aws.run()

    assert result["status"] == "Failed" and result["reason"].startswith("golden example 1")
    assert [r["status"] for r in aws.reported] == ["Failed"]
    assert aws.publish_attempts == 1 and aws.published == []


def test_the_hook_reads_no_scikit_learn() -> None:
    # It runs from the function's image but must start fast and never load the model.
    import subprocess
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", "import sys, chalicelib.pre_traffic_hook; "
         "print(sorted(m for m in ('sklearn', 'numpy', 'joblib', 'app') if m in sys.modules))"],
        capture_output=True, text=True, check=True)

    assert probe.stdout.strip() == "[]"


def test_the_golden_check_reaches_no_metric_and_no_dashboard_series(real_function: Any) -> None:
    # The hook's questions go through /predict exactly as users' do, but the alarms and the
    # dashboard must see only users: their answers would dilute a canary's few predictions.
    aws = FakeAws(real_function)
    with contextlib.redirect_stdout(io.StringIO()) as hook_output:
        result = aws.run()
    # The same request as a user's (no client context): counted, so the test can tell.
    with contextlib.redirect_stdout(io.StringIO()) as user_output:
        real_function({**aws.invoked[0], "ClientContext": None})

    assert result["status"] == "Succeeded"
    hook_lines = json_lines(hook_output.getvalue())
    assert not [m for m in emitted_metrics(emf_blobs(hook_output.getvalue()))
                if m.name == contract.PREDICTION_PROBABILITY]
    assert not [line for line in hook_lines if line.get("message") == contract.PREDICTION_LOG]
    assert [line["message"] for line in hook_lines].count(contract.GOLDEN_CHECK_LOG) == len(
        GOLDEN.examples)
    assert [m.name for m in emitted_metrics(emf_blobs(user_output.getvalue()))] == [
        contract.PREDICTION_PROBABILITY, contract.PREDICTION_PROBABILITY]  # two dimension sets
    assert [line.get("message") for line in json_lines(user_output.getvalue())].count(
        contract.PREDICTION_LOG) == 1


@pytest.mark.parametrize("revision_type", ["AppSpecContent", "String"])
def test_the_hook_checks_the_version_the_deployment_shifts_traffic_to(
    real_function: Any, revision_type: str
) -> None:
    # CloudFormation may update the hook's environment after the deployment started: the
    # deployment itself names the target.
    aws = FakeAws(real_function, revision=appspec_revision("8", revision_type=revision_type))

    result = aws.run()

    assert result["status"] == "Succeeded"
    assert {call["FunctionName"] for call in aws.invoked} == {VERSION_ARN.rsplit(":", 1)[0] + ":8"}


def test_a_deployment_of_another_function_fails(real_function: Any) -> None:
    aws = FakeAws(real_function, revision=appspec_revision("7", name="someone-elses-function"))

    result = aws.run()

    assert result["status"] == "Failed" and "someone-elses-function" in result["reason"]
    assert aws.invoked == []


@pytest.mark.parametrize("content", [
    "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties:\n"
    f"        Name: {FUNCTION_NAME}\n        Alias: live\n        CurrentVersion: '6'\n"
    "        TargetVersion: '9'\n",
    json.dumps({"Resources": [{"fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Name": FUNCTION_NAME, "TargetVersion": f"{VERSION_ARN.rsplit(':', 1)[0]}:9"}}}]}),
], ids=["yaml", "json-with-arn"])
def test_the_target_version_is_read_from_either_appspec_form(content: str) -> None:
    deployment = {"deploymentInfo": {"revision": {"appSpecContent": {"content": content}}}}

    target = pre_traffic_hook.deployment_target(deployment)

    assert target is not None and target[0] == FUNCTION_NAME
    assert pre_traffic_hook.version_to_check(VERSION_ARN, target)[0].endswith(":9")


def test_a_deployment_naming_no_version_checks_the_published_one(real_function: Any) -> None:
    aws = FakeAws(real_function, revision={})

    assert aws.run()["status"] == "Succeeded"
    assert {call["FunctionName"] for call in aws.invoked} == {VERSION_ARN}


def test_an_event_delivered_twice_is_reported_once(real_function: Any) -> None:
    # Asynchronous invocation is at least once: the second delivery finds the lifecycle event
    # already completed, which must not turn a verdict into a failed invocation.
    aws = FakeAws(real_function)
    assert aws.run()["status"] == "Succeeded"
    aws.already_reported = True

    assert aws.run()["status"] == "Succeeded"
    assert [r["status"] for r in aws.reported] == ["Succeeded"]


def test_a_hook_holding_another_models_golden_answers_says_so(
    real_function: Any, altered_model: Path
) -> None:
    # CloudFormation may start CodeDeploy before it updated the hook's image: its golden
    # answers would be the previous model's, and a comparison would mislead.
    aws = FakeAws(real_function)

    result = aws.run(altered_model)

    assert result["status"] == "Failed"
    assert "the hook does not run the new version's image yet" in result["reason"]
    assert len(aws.card_requests) == 1 and aws.invoked == []


def test_the_mismatch_is_found_on_a_stage_that_keeps_its_training_details_private(
    app_module: ModuleType, altered_model: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GET /model without the training details still names the golden answers' hash.
    monkeypatch.setenv("SLEEP_ADVISOR_PUBLISH_TRAINING_DETAILS", "false")
    private = import_app("private_hook_app")
    try:
        aws = FakeAws(lambda request: payload(private.app(
            request["Payload"], LambdaContext(client_context=request["ClientContext"]))))
        result = aws.run(altered_model)
    finally:
        label_with_model_version(app_module.advisor.metadata.version)

    assert result["status"] == "Failed"
    assert "the hook does not run the new version's image yet" in result["reason"]


def test_a_failure_delivered_twice_tells_on_call_once(drifted_function: Any) -> None:
    aws = FakeAws(drifted_function)
    assert aws.run()["status"] == "Failed"
    aws.already_reported = True

    assert aws.run()["status"] == "Failed"
    assert aws.publish_attempts == 1 and [r["status"] for r in aws.reported] == ["Failed"]
