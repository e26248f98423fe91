"""Safe rollouts, read after the SAM transform (what CloudFormation deploys): a version behind
the live alias, CodeDeploy shifting traffic under the new version's alarms, the pre-traffic
hook, least-privilege roles, and the state changes on their way to Slack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sleep_advisor_infra.chalice_app import LIVE_ALIAS as ALIAS
from sleep_advisor_infra.chalice_app import VERSION_LOCKED_PROPERTIES
from sleep_advisor_infra.rollout import ALIAS_ID, HOOK_COMMAND

from chalicelib import contract
from chalicelib.pre_traffic_hook import NEW_VERSION_VARIABLE
from harness import REPO_ROOT
from harness.cdk import Synthesis
from harness.lambda_metrics import lambda_metric_dimensions, version_locked_properties
from harness.samples import MODEL
from harness.templates import (
    actions_of,
    alarms_by_name,
    dashboard_metrics,
    logical_id,
    only,
    render_reference,
    resources_of,
    statements_of,
)

ROLLOUT_ALARMS = {"rollout-errors", "rollout-low-probability"}


def rollout_alarm_ids(template: dict[str, Any]) -> set[str]:
    by_name = alarms_by_name(template)
    return {k for k, r in resources_of(template, "AWS::CloudWatch::Alarm").items()
            if any(by_name.get(name) is r for name in ROLLOUT_ALARMS)}


def test_each_deploy_publishes_a_version_behind_the_live_alias(deployed: dict[str, Any]) -> None:
    version_id, version = only(deployed, "AWS::Lambda::Version")
    alias_id, alias = only(deployed, "AWS::Lambda::Alias")

    assert version["Properties"]["FunctionName"] == {"Ref": "APIHandler"}
    assert alias_id == ALIAS_ID  # the id the API's integration URIs name
    assert alias["Properties"]["Name"] == ALIAS
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_codedeploy_shifts_traffic_and_rolls_back_on_the_rollout_alarms(
    deployed: dict[str, Any],
) -> None:
    _, alias = only(deployed, "AWS::Lambda::Alias")
    group_id, group = only(deployed, "AWS::CodeDeploy::DeploymentGroup")
    application_id, _ = only(deployed, "AWS::CodeDeploy::Application")
    hook_id = logical_id(deployed, "AWS::Lambda::Function", "RolloutPreTrafficHook")
    alarm_ids = rollout_alarm_ids(deployed)
    properties = group["Properties"]

    assert alias["UpdatePolicy"] == {"CodeDeployLambdaAliasUpdate": {
        "ApplicationName": {"Ref": application_id},
        "DeploymentGroupName": {"Ref": group_id},
        "BeforeAllowTrafficHook": {"Ref": hook_id},
    }}
    assert properties["DeploymentConfigName"] == {"Fn::Sub": [
        "CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent10Minutes"}]}
    assert properties["AlarmConfiguration"]["Enabled"] is True
    assert {a["Name"]["Ref"] for a in properties["AlarmConfiguration"]["Alarms"]} == alarm_ids
    assert set(properties["AutoRollbackConfiguration"]["Events"]) >= {
        "DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"}
    assert properties["AutoRollbackConfiguration"]["Enabled"] is True


def test_the_deployment_group_uses_the_projects_role_not_sams_default(
    deployed: dict[str, Any],
) -> None:
    # SAM's default role may invoke only hooks named CodeDeployHook_* (SAM issues 219, 250):
    # this hook is not so named, so the group must use a role that names it.
    _, group = only(deployed, "AWS::CodeDeploy::DeploymentGroup")
    hook_id = logical_id(deployed, "AWS::Lambda::Function", "RolloutPreTrafficHook")
    hook_name = deployed["Resources"][hook_id]["Properties"]["FunctionName"]
    role_id = group["Properties"]["ServiceRoleArn"]["Fn::GetAtt"][0]
    role = deployed["Resources"][role_id]["Properties"]

    assert not hook_name.startswith("CodeDeployHook_")
    assert "CodeDeployServiceRole" not in deployed["Resources"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "codedeploy.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    by_sid = {s["Sid"]: s for s in statements_of(deployed, role_id)}
    assert set(by_sid) == {"ShiftTheLiveAlias", "ReadTheRolloutAlarms", "RunThePreTrafficHook"}
    invoke = by_sid["RunThePreTrafficHook"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"]["Fn::Sub"].endswith(f":function:{hook_name}")
    assert [render_reference(r) for r in by_sid["ShiftTheLiveAlias"]["Resource"]] == [
        "<GetAtt:APIHandler.Arn>", f"<GetAtt:APIHandler.Arn>:{ALIAS}"]
    # Every rollout alarm of this stage, whatever version's: a pattern that names them all.
    [pattern] = [render_reference(by_sid["ReadTheRolloutAlarms"]["Resource"])]
    assert pattern.endswith(":alarm:sleep-advisor-dev-rollout-*")
    for name in (r["Properties"]["AlarmName"] for r in alarms_by_name(deployed).values()):
        assert name.startswith("sleep-advisor-dev-rollout-") == any(
            name.startswith(f"sleep-advisor-dev-{short}-") for short in ROLLOUT_ALARMS)
    _, version = only(deployed, "AWS::Lambda::Version")
    # A rolled-back deploy's version goes with the rollback: the same commit can be retried.
    assert version["DeletionPolicy"] == "Delete"


def test_api_gateway_invokes_the_alias_never_the_unqualified_function(
    deployed: dict[str, Any],
) -> None:
    body = deployed["Resources"]["RestAPI"]["Properties"]["Body"]
    uris = [operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            for methods in body["paths"].values() for operation in methods.values()]
    [permission] = [r for r in deployed["Resources"].values()
                    if r["Type"] == "AWS::Lambda::Permission"
                    and r["Properties"]["Principal"] == "apigateway.amazonaws.com"]

    assert len(uris) == 3 and all(f"${{{ALIAS_ID}}}/invocations" in uri for uri in uris), uris
    assert permission["Properties"]["FunctionName"] == {"Ref": ALIAS_ID}
    assert "APIHandler.Arn" not in json.dumps(body)


def test_the_hook_runs_the_new_image_against_the_new_version_with_least_privilege(
    deployed: dict[str, Any],
) -> None:
    hook_id = logical_id(deployed, "AWS::Lambda::Function", "RolloutPreTrafficHook")
    hook = deployed["Resources"][hook_id]["Properties"]
    version_id, _ = only(deployed, "AWS::Lambda::Version")
    role_id = hook["Role"]["Fn::GetAtt"][0]
    function_image = deployed["Resources"]["APIHandler"]["Properties"]["Code"]["ImageUri"]
    image_tag = re.compile(r":([0-9a-f]{64})")

    assert hook["FunctionName"] == contract.resource_name("dev", "pre-traffic")
    # The same image asset (the URIs are written differently by CDK and by Chalice's SAM).
    assert image_tag.findall(json.dumps(hook["Code"]["ImageUri"])) == image_tag.findall(
        json.dumps(function_image))
    assert hook["ImageConfig"] == {"Command": [HOOK_COMMAND]}
    assert hook["Environment"]["Variables"][NEW_VERSION_VARIABLE] == {"Ref": version_id}
    assert "ManagedPolicyArns" not in deployed["Resources"][role_id]["Properties"]
    reporter_id = logical_id(deployed, "AWS::Lambda::Function", "RolloutHookFailureReporter")
    actions = actions_of(deployed, role_id)
    group_arn = {"Fn::Sub": (
        "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
        "${ServerlessDeploymentApplication}/${APIHandlerDeploymentGroup}")}
    # This function's versions, and the failure reporter (Lambda invokes a destination with
    # the hook's role).
    assert {render_reference(r) for r in actions["lambda:InvokeFunction"]} == {
        "<GetAtt:APIHandler.Arn>:*", f"<GetAtt:{reporter_id}.Arn>", f"<GetAtt:{reporter_id}.Arn>:*"}
    assert actions["codedeploy:PutLifecycleEventHookExecutionStatus"] == [group_arn]
    assert actions["codedeploy:GetDeployment"] == [group_arn]
    assert set(actions) == {
        "lambda:InvokeFunction", "codedeploy:GetDeployment",
        "codedeploy:PutLifecycleEventHookExecutionStatus",
        "sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "logs:CreateLogStream",
        "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # Lambda pulls the image under the CDK asset repository's policy, not this role


def test_the_rollout_alarms_watch_the_new_version_and_the_new_model(
    deployed: dict[str, Any],
) -> None:
    alarms = alarms_by_name(deployed)
    version_id, _ = only(deployed, "AWS::Lambda::Version")
    errors = alarms["rollout-errors"]["Properties"]
    probability = alarms["rollout-low-probability"]["Properties"]

    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == (
        "AWS/Lambda", "Errors", "Sum")
    assert {d["Name"]: render_reference(d["Value"]) for d in errors["Dimensions"]} == {
        "FunctionName": "<Ref:APIHandler>",
        "Resource": f"<Ref:APIHandler>:{ALIAS}",
        "ExecutedVersion": f"<GetAtt:{version_id}.Version>",
    }
    assert (errors["Period"], errors["Threshold"], errors["EvaluationPeriods"]) == (60, 1, 1)
    assert errors["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # The new version's answers' average, judged in minutes with at least 3 of them.
    [expression] = [m for m in probability["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "IF(answers >= 3, probability)"
    inputs = {m["Id"]: m["MetricStat"] for m in probability["Metrics"] if "MetricStat" in m}
    assert {i: s["Stat"] for i, s in inputs.items()} == {
        "answers": "SampleCount", "probability": "Average"}
    for stat in inputs.values():
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (
            "SleepAdvisor/dev", contract.PREDICTION_PROBABILITY)
        assert {d["Name"]: render_reference(d["Value"])
                for d in stat["Metric"]["Dimensions"]} == {
            contract.SERVICE_DIMENSION: contract.SERVICE_NAME,
            contract.MODEL_VERSION_DIMENSION: MODEL.version,
            contract.FUNCTION_VERSION_DIMENSION: f"<GetAtt:{version_id}.Version>",
        }
        assert stat["Period"] == 60
    assert (probability["EvaluationPeriods"], probability["DatapointsToAlarm"]) == (10, 2)
    assert probability["Threshold"] == MODEL.low_probability_threshold
    assert probability["ComparisonOperator"] == "LessThanThreshold"
    # SAM's copy of AutoPublishCodeSha256, the version's fingerprint.
    fingerprint = deployed["Resources"]["APIHandler"]["Properties"]["Description"]
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    for alarm in (errors, probability):
        assert alarm["TreatMissingData"] == "notBreaching"
        # They page nobody (CodeDeploy's FAILURE does), and each version has its own.
        assert "AlarmActions" not in alarm and "OKActions" not in alarm
        assert alarm["AlarmName"].endswith(f"-{fingerprint[:10]}")


def test_every_lambda_metric_uses_dimensions_lambda_publishes(deployed: dict[str, Any]) -> None:
    # CloudWatch's own list of Lambda's metrics and dimension sets (from aws-cdk-lib): a
    # version's metrics exist only per alias and executed version, and a typo names nothing.
    used = [m for m in dashboard_metrics(deployed) + alarm_metrics_of(deployed)
            if m[0] == "AWS/Lambda"]

    assert used
    for _, name, dimensions in used:
        assert frozenset(d for d, _ in dimensions) in lambda_metric_dimensions()[name], (name, dimensions)


def alarm_metrics_of(template: dict[str, Any]) -> list[Any]:
    from harness.templates import alarm_metrics

    return alarm_metrics(template)


def test_the_dashboard_shows_what_users_reach_through_the_alias(deployed: dict[str, Any]) -> None:
    version_id, _ = only(deployed, "AWS::Lambda::Version")
    through_the_alias = {"FunctionName": "<Ref:APIHandler>", "Resource": f"<Ref:APIHandler>:{ALIAS}"}
    by_version = {**through_the_alias, "ExecutedVersion": f"<GetAtt:{version_id}.Version>"}
    lambda_widgets = [dict(m[2]) for m in dashboard_metrics(deployed) if m[0] == "AWS/Lambda"]

    assert lambda_widgets and all(d in (through_the_alias, by_version) for d in lambda_widgets)
    # The canary's own widget: the deployed version's requests and errors.
    assert lambda_widgets.count(by_version) == 2


def test_every_state_change_of_a_rollout_reaches_the_alerts_topic_as_a_slack_message(
    deployed: dict[str, Any],
) -> None:
    rule = deployed["Resources"][logical_id(deployed, "AWS::Events::Rule",
                                            "RolloutDeploymentStateChanges")]
    topic_id, _ = only(deployed, "AWS::SNS::Topic")
    application_id, _ = only(deployed, "AWS::CodeDeploy::Application")
    group_id, _ = only(deployed, "AWS::CodeDeploy::DeploymentGroup")
    pattern = rule["Properties"]["EventPattern"]
    [target] = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]

    assert pattern["source"] == ["aws.codedeploy"]
    assert pattern["detail-type"] == ["CodeDeploy Deployment State-change Notification"]
    assert pattern["detail"] == {"application": [{"Ref": application_id}],
                                 "deploymentGroup": [{"Ref": group_id}]}
    assert target["Arn"] == {"Ref": topic_id}
    # EventBridge's substitution, with an event CodeDeploy sends (EventBridge's reference).
    event = {"detail": {"state": "FAILURE", "deploymentId": "d-ABCDEF123"}}
    message = json.loads(render_input_template(
        transformer["InputTemplate"], transformer["InputPathsMap"], event))
    assert (message["version"], message["source"]) == ("1.0", "custom")
    assert message["metadata"]["threadId"] == "d-ABCDEF123"
    assert message["content"]["title"] == (
        f"sleep-advisor dev: rollout of model {MODEL.name} {MODEL.version}: FAILURE")
    # CloudWatch's own alarm messages carry no thread id (and the rollout alarms notify
    # nobody): the text must not send on-call looking for one in the thread.
    assert "in this thread" not in message["content"]["description"]
    assert "deployment history" in message["content"]["description"]


def test_only_an_update_of_the_alias_goes_through_codedeploy(deployed: dict[str, Any]) -> None:
    # CloudFormation applies UpdatePolicy to updates only: a stage's first deploy creates the
    # alias on its first version directly, with no hook and no canary, as the README says.
    _, alias = only(deployed, "AWS::Lambda::Alias")
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())

    assert set(alias) - {"Type", "Properties", "Metadata"} == {"UpdatePolicy"}
    assert "**The first deploy of a stage** creates the alias directly" in readme
    assert "no golden check by the hook and no canary" in readme


def render_input_template(template: str, paths: dict[str, str], event: dict[str, Any]) -> str:
    """EventBridge's input transformer: a placeholder inside a JSON string takes the value's
    text, one outside any string takes the value as JSON."""
    rendered, inside_string, escaped = [], False, False
    for index, part in enumerate(re.split(r"(<[\w-]+>)", template)):
        if index % 2:  # a placeholder
            value: Any = event
            for key in paths[part[1:-1]].removeprefix("$.").split("."):
                value = value[key]
            rendered.append(str(value) if inside_string else json.dumps(value))
            continue
        for character in part:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                inside_string = not inside_string
        rendered.append(part)
    return "".join(rendered)


def test_eventbridge_may_publish_to_the_encrypted_topic(deployed: dict[str, Any]) -> None:
    _, key = only(deployed, "AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    [events] = [s for s in statements if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert set(events["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert events["Resource"] == "*"  # in a key policy: this key


@pytest.mark.parametrize(("stage", "preference"), [
    ("beta_synthesis", "AllAtOnce"), ("configured_synthesis", "Linear10PercentEvery1Minute")])
def test_the_deployment_preference_is_a_context_setting(
    request: pytest.FixtureRequest, stage: str, preference: str
) -> None:
    synthesis: Synthesis = request.getfixturevalue(stage)

    properties = synthesis.template["Resources"]["APIHandler"]["Properties"]
    assert properties["DeploymentPreference"]["Type"] == preference
    assert properties["AutoPublishAlias"] == ALIAS
    assert "AutoPublishAliasAllProperties" not in properties
    assert re.fullmatch(r"[0-9a-f]{64}", properties["AutoPublishCodeSha256"])


def test_an_unknown_deployment_preference_is_refused(synthesize: Any) -> None:
    with pytest.raises(ValueError, match="deployment_preference must be one of"):
        synthesize(deployment_preference="Canary50Percent1Minute")


def test_a_hook_that_cannot_report_fails_the_deployment_in_minutes(
    deployed: dict[str, Any],
) -> None:
    # CodeDeploy invokes the hook asynchronously and waits an hour for its report: a hook that
    # cannot start or report is retried never, and its failure destination reports Failed.
    hook_id = logical_id(deployed, "AWS::Lambda::Function", "RolloutPreTrafficHook")
    reporter_id = logical_id(deployed, "AWS::Lambda::Function", "RolloutHookFailureReporter")
    [config] = [r for r in resources_of(deployed, "AWS::Lambda::EventInvokeConfig").values()
                if r["Properties"]["FunctionName"] == {"Ref": hook_id}]
    reporter = deployed["Resources"][reporter_id]["Properties"]
    role_id = reporter["Role"]["Fn::GetAtt"][0]
    actions = {action: statement["Resource"] for statement in statements_of(deployed, role_id)
               for action in ([statement["Action"]] if isinstance(statement["Action"], str)
                              else statement["Action"])}

    assert config["Properties"]["FunctionName"] == {"Ref": hook_id}
    assert config["Properties"]["MaximumRetryAttempts"] == 0
    assert config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [reporter_id, "Arn"]}
    # A zip on Lambda's own Python runtime: it must run when the image does not.
    assert "ImageUri" not in json.dumps(reporter["Code"]) and reporter["Runtime"].startswith(
        "python3")
    assert reporter["Handler"] == "index.handler"
    assert actions["codedeploy:PutLifecycleEventHookExecutionStatus"] == {"Fn::Sub": (
        "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
        "${ServerlessDeploymentApplication}/${APIHandlerDeploymentGroup}")}
    assert set(actions) == {
        "codedeploy:PutLifecycleEventHookExecutionStatus", "sns:Publish", "kms:GenerateDataKey",
        "kms:Decrypt", "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
        "xray:PutTelemetryRecords"}


def test_the_fingerprints_properties_are_what_lambda_locks_in_sams_names() -> None:
    # CDK's VERSION_LOCKED (read from the installed aws-cdk-lib) in CloudFormation's names; SAM
    # names three of them otherwise. A CDK upgrade that locks another property fails here.
    sam_names = {"Code": {"CodeUri", "InlineCode", "ImageUri"}, "TracingConfig": {"Tracing"},
                 "DeadLetterConfig": {"DeadLetterQueue"}}
    expected = set().union(*(sam_names.get(name, {name}) for name in version_locked_properties()))

    assert expected == VERSION_LOCKED_PROPERTIES
