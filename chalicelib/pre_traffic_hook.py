"""CodeDeploy's pre-traffic hook: a new version gives the model's golden answers through the
real /predict route before any user traffic reaches it.

The hook runs from the function's own image (another command, `chalicelib.pre_traffic_hook.handler`),
so the golden answers it expects are those of the model the new version ships. CodeDeploy
invokes it with the deployment's ids; it invokes the new version (its qualified ARN, in
SLEEP_ADVISOR_NEW_VERSION) once per golden example with the API Gateway proxy event that
example's request becomes, compares each answer with the recorded one, and reports Succeeded
or Failed. Failed (a different answer, a 5xx, a function error, no answer within API Gateway's
29 s) makes CodeDeploy roll the deployment back; the hook then tells on-call why, through the
alerts topic, in Slack's thread for the deployment.

It imports neither scikit-learn nor the service: it only reads golden.json and calls AWS.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib import contract
from chalicelib.golden import (
    GoldenAnswer,
    GoldenAnswers,
    GoldenExample,
    NoAnswer,
    first_moved_answer,
    read_golden,
)
from chalicelib.log_stream import CurrentStdout
from chalicelib.metadata import ModelMetadata
from chalicelib.proxy_event import api_gateway_event

NEW_VERSION_VARIABLE = contract.ENVIRONMENT_PREFIX + "NEW_VERSION"
TOPIC_VARIABLE = contract.ALERTS_TOPIC_VARIABLE
STAGE_VARIABLE = contract.STAGE_VARIABLE
# An answer later than API Gateway's integration timeout would have failed every user.
ANSWER_TIMEOUT_S = 29
# Time kept back to report the verdict to CodeDeploy and on-call.
REPORT_MARGIN_S = 10

logger = Logger(service=contract.SERVICE_NAME, stream=CurrentStdout())  # type: ignore[arg-type]

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


class FunctionFailed(RuntimeError):
    """The new version raised, timed out inside Lambda, or could not start."""


def model_mismatch(invoke: Invoke, expected: ModelMetadata, deployment_id: str) -> str | None:
    """Why the version under test does not serve the model whose golden answers this hook holds,
    or None. They come from the same image unless CloudFormation has not yet updated the hook
    when CodeDeploy starts it: then its golden answers are the previous model's, and comparing
    would give a misleading verdict."""
    try:
        response = invoke(api_gateway_event("GET", "/model", request_id=f"pre-traffic-{deployment_id}-0",
                                            user_agent="pre-traffic hook"))
        card = json.loads(response["body"])
        served = (str(card["name"]), str(card["version"]), str(card["golden"]["sha256"]))
    except Exception as error:  # no answer, or no model card: the golden questions will say more
        logger.info("the new version's model card could not be read", extra={"error": repr(error)})
        return None
    held = (expected.name, expected.version, expected.golden.sha256)
    if served == held:
        return None
    return (f"the new version serves model {served[0]} {served[1]} (golden answers "
            f"{served[2][:12]}...) but this hook holds {held[0]} {held[1]} ({held[2][:12]}...): "
            "the hook does not run the new version's image yet; deploy again")


def check_version(invoke: Invoke, golden: GoldenAnswers, deployment_id: str,
                  seconds_left: Callable[[], float] = lambda: float("inf"),
                  expected: ModelMetadata | None = None) -> Verdict:
    """Ask every golden question through `invoke`; the first failure, or a pass.

    Stops while the hook still has time to report: a hook that times out itself leaves
    CodeDeploy waiting an hour before it fails the deployment.
    """

    def ask_one(number: int, example: GoldenExample) -> GoldenAnswer:
        if seconds_left() < ANSWER_TIMEOUT_S + REPORT_MARGIN_S:
            raise NoAnswer("the hook ran out of time before asking it")
        event = api_gateway_event(
            "POST", "/predict", json.dumps(example.request), {"Content-Type": "application/json"},
            request_id=f"pre-traffic-{deployment_id}-{number}", user_agent="pre-traffic hook")
        try:
            response = invoke(event)
        except Exception as error:  # a timeout, a function error, an AWS error: all fail it
            raise NoAnswer(f"no answer: {error}") from None
        status = response.get("statusCode")
        if status != 200:
            raise NoAnswer(f"HTTP {status}: {str(response.get('body'))[:200]}")
        try:
            [prediction] = json.loads(response["body"])["predictions"]
            return GoldenAnswer(advice_id=prediction["advice_id"],
                                probabilities=prediction["probabilities"])
        except (KeyError, TypeError, ValueError) as error:
            raise NoAnswer(f"the answer is not a prediction: {error!r}") from None

    mismatch = None if expected is None else model_mismatch(invoke, expected, deployment_id)
    if mismatch is not None:
        return Verdict(False, mismatch)
    moved = first_moved_answer(golden, ask_one)
    if moved is not None:
        return Verdict(False, moved)
    return Verdict(True, f"all {len(golden.examples)} golden answers matched within "
                         f"{golden.tolerance}")


def lambda_invoker(client: Any, version_arn: str) -> Invoke:
    """Invoke `version_arn` synchronously, as the golden check (the client context marks it, so
    its answers stay out of the metrics); FunctionFailed when Lambda reports a function error."""
    client_context = base64.b64encode(
        json.dumps({"custom": contract.GOLDEN_CHECK_CONTEXT}).encode()).decode()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result = client.invoke(FunctionName=version_arn, InvocationType="RequestResponse",
                               ClientContext=client_context, Payload=json.dumps(event).encode())
        payload = json.loads(result["Payload"].read() or b"null")
        if "FunctionError" in result:
            detail = payload if not isinstance(payload, dict) else (
                f"{payload.get('errorType')}: {payload.get('errorMessage')}")
            raise FunctionFailed(f"{result['FunctionError']} error: {detail}")
        if not isinstance(payload, dict):
            raise FunctionFailed(f"unexpected payload {payload!r}")
        return payload

    return invoke


def deployment_target(deployment: Mapping[str, Any]) -> tuple[str, str] | None:
    """(function name, target version) from a Lambda deployment's AppSpec, as GetDeployment
    returns it (JSON, or YAML's plain `TargetVersion: 7` form); None if it names none."""
    revision = deployment.get("deploymentInfo", {}).get("revision", {})
    content = (revision.get("appSpecContent") or revision.get("string") or {}).get("content")
    if not content:
        return None
    try:
        appspec = json.loads(content)
        [resource] = [r for entry in appspec["Resources"] for r in entry.values()
                      if r.get("Type") == "AWS::Lambda::Function"]
        properties = resource["Properties"]
        return str(properties["Name"]), str(properties["TargetVersion"])
    except (ValueError, KeyError, TypeError, AttributeError):
        name = re.search(r"\bName:\s*[\"']?([^\s\"']+)", content)
        target = re.search(r"\bTargetVersion:\s*[\"']?([^\s\"']+)", content)
        return (name.group(1), target.group(1)) if name and target else None


def version_to_check(configured_arn: str, target: tuple[str, str] | None) -> tuple[str, str]:
    """The version ARN the golden questions go to, and a sentence on where it came from.

    The deployment names the version that will get traffic; the environment names the one
    CloudFormation published, which is the same unless CloudFormation updated this hook after
    it started the deployment. The deployment wins.
    """
    function_arn, _, configured = configured_arn.rpartition(":")
    if target is None:
        return configured_arn, "the deployment names no target version: checked the published one"
    name, version = target
    version = version.rpartition(":")[2]  # a number, or a version ARN
    if name not in (function_arn, function_arn.rpartition(":")[2]):
        raise FunctionFailed(f"the deployment shifts {name}, not this hook's function {function_arn}")
    if version != configured:
        return f"{function_arn}:{version}", (
            f"the deployment's target version {version}, not {configured} from the environment")
    return configured_arn, f"the deployment's target version {version}"


def notification(verdict: Verdict, *, stage: str, model: str, deployment_id: str) -> dict[str, Any]:
    """The failure as an Amazon Q Developer (Chatbot) custom notification, in the deployment's
    thread with CodeDeploy's own state changes."""
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{deployment_id}-pre-traffic",
        "content": {
            "textType": "client-markdown",
            "title": (f":x: {contract.SERVICE_NAME} {stage}: {model} failed its golden check; "
                      f"deployment {deployment_id} rolls back"),
            "description": verdict.reason,
            "nextSteps": [
                "No user was served by the new version: it got no traffic.",
                "Run `make check-model` on the model folder you deployed, then redeploy.",
            ],
        },
        "metadata": {"threadId": deployment_id, "summary": verdict.reason[:200],
                     "eventType": "PreTrafficCheckFailed"},
    }


def run_hook(
    event: Mapping[str, Any], *, version_arn: str, lambda_client: Any, codedeploy: Any,
    sns: Any, topic_arn: str, stage: str, model_dir: Path = contract.BUNDLED_MODEL_DIR,
    seconds_left: Callable[[], float] = lambda: float("inf"),
) -> dict[str, str]:
    """Check the deployment's target version, report to CodeDeploy (always, exactly once), tell
    on-call on failure."""
    deployment_id = str(event["DeploymentId"])
    model = "the model"
    checked, source = version_arn, "not read"
    try:
        metadata = ModelMetadata.read(model_dir)
        model = f"model {metadata.name} {metadata.version}"
        golden = read_golden(model_dir, metadata)
        target = deployment_target(codedeploy.get_deployment(deploymentId=deployment_id))
        checked, source = version_to_check(version_arn, target)
        verdict = check_version(lambda_invoker(lambda_client, checked), golden, deployment_id,
                                seconds_left, expected=metadata)
    except Exception as error:  # the hook must report whatever happens, or CodeDeploy waits 1 h
        verdict = Verdict(False, f"the check itself failed: {error!r}")
    status = "Succeeded" if verdict.passed else "Failed"
    logger.info("pre-traffic check", extra={"status": status, "reason": verdict.reason,
                                             "deployment_id": deployment_id,
                                             "version": checked, "version_source": source})
    # Reported first: a second delivery of an event already decided tells on-call nothing.
    if report(codedeploy, event, status) and not verdict.passed:
        try:
            sns.publish(TopicArn=topic_arn, Message=json.dumps(notification(
                verdict, stage=stage, model=model, deployment_id=deployment_id)))
        except Exception:  # the rollback matters more than the message about it
            logger.exception("could not publish the failure to the alerts topic")
    return {"status": status, "reason": verdict.reason}


def report(codedeploy: Any, event: Mapping[str, Any], status: str) -> bool:
    """PutLifecycleEventHookExecutionStatus; False when an event Lambda delivered twice
    (asynchronous invocation is at least once) finds it already reported, not an error."""
    try:
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=str(event["DeploymentId"]),
            lifecycleEventHookExecutionId=str(event["LifecycleEventHookExecutionId"]),
            status=status,
        )
    except Exception as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        if code != "LifecycleEventAlreadyCompletedException":
            raise
        logger.info("the lifecycle event was already reported", extra={"status": status})
        return False
    return True


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    """The hook's Lambda entry point."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    lambda_client = session.create_client("lambda", config=Config(
        read_timeout=ANSWER_TIMEOUT_S, connect_timeout=5, retries={"total_max_attempts": 1}))
    return run_hook(
        event, version_arn=os.environ[NEW_VERSION_VARIABLE], lambda_client=lambda_client,
        codedeploy=session.create_client("codedeploy"), sns=session.create_client("sns"),
        topic_arn=os.environ[TOPIC_VARIABLE], stage=os.environ[STAGE_VARIABLE],
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
