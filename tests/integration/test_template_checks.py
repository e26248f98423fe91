"""The synthesized template through the SAM transform, cfn-lint and cdk-nag, all offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cdk import Synthesis
from harness.checks import (
    cfn_lint_errors,
    nag_violations,
    sam_transform,
    violations_in,
)

# Every acknowledged cdk-nag finding, where it applies after the SAM transform.
EXPECTED_ACKNOWLEDGMENTS = {
    "AwsSolutions-COG2 Transformed/Template/UsersUserPool7E610616",
    "AwsSolutions-COG8 Transformed/Template/UsersUserPool7E610616",
    "AwsSolutions-IAM5[Resource::*] "
    "Transformed/Template/FunctionRoleDefaultPolicy5265322F",
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs] "
    "Transformed/Template/ApiGatewayLoggingRoleCE57A8ED",
    "AwsSolutions-APIG2 Transformed/Template/RestAPI",
    "AwsSolutions-APIG3 Transformed/Template/RestAPIapiStage",
    "Serverless-LambdaDLQ Transformed/Template/APIHandler",
    # The rollout: the hook's scoping, its missing DLQ, and the notification rule's.
    "AwsSolutions-IAM5[Resource::*] Transformed/Template/RolloutHookRoleDefaultPolicyA8959AFA",
    "AwsSolutions-IAM5[Resource::<APIHandler.Arn>:*] "
    "Transformed/Template/RolloutHookRoleDefaultPolicyA8959AFA",
    "Serverless-LambdaDLQ Transformed/Template/RolloutPreTrafficHook1C5729F5",
    "Serverless-EventBusDLQ Transformed/Template/RolloutDeploymentStateChanges4179B3A2",
    # The hook's failure reporter: X-Ray's actions, CDK's destination grant, no DLQ of its own.
    "AwsSolutions-IAM5[Resource::*] Transformed/Template/RolloutHookFailureRoleDefaultPolicyEDD815DF",
    "AwsSolutions-IAM5[Resource::<RolloutHookFailureReporterACD7EFA4.Arn>:*] "
    "Transformed/Template/RolloutHookRoleDefaultPolicyA8959AFA",
    "Serverless-LambdaDLQ Transformed/Template/RolloutHookFailureReporterACD7EFA4",
    # CodeDeploy reads this stage's rollout alarms by name pattern (one pair per version).
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:"
    "<AWS::AccountId>:alarm:sleep-advisor-dev-rollout-*] "
    "Transformed/Template/RolloutDeploymentRoleDefaultPolicy826D8028",
    # The drift check: X-Ray's actions; a missed hourly run is made good by the next one.
    "AwsSolutions-IAM5[Resource::*] Transformed/Template/DriftCheckCheckRoleDefaultPolicyDCAD80FD",
    "Serverless-LambdaDLQ Transformed/Template/DriftCheckFunction784DF828",
    "Serverless-EventBusDLQ Transformed/Template/DriftCheckSchedule9B34416A",
    "Serverless-EventBusDLQ Transformed/Template/DriftCheckAlarmExplained0EFD77DA",
    "Serverless-LambdaAsyncFailureDestination "
    "Transformed/Template/DriftCheckFunctionEventInvokeConfigA5D4462B",
}


@pytest.fixture(scope="module")
def transformed(cli_synthesis: Synthesis) -> dict[str, Any]:
    return sam_transform(cli_synthesis.template)


@pytest.mark.parametrize("stage", ["configured_synthesis", "longest_stage_synthesis"])
def test_other_stages_are_clean_for_cfn_lint_and_cdk_nag_after_the_transform(
    request: pytest.FixtureRequest, stage: str, tmp_path: Path
) -> None:
    # configured: Slack, e-mail, an existing user pool, reserved concurrency (resources the
    # default lacks); longest: every generated name within AWS's limits (cfn-lint knows them:
    # an X-Ray rule name over 32 characters is E3033).
    synthesis: Synthesis = request.getfixturevalue(stage)
    after = sam_transform(synthesis.template)

    assert cfn_lint_errors(synthesis.template) == []
    assert cfn_lint_errors(after) == []
    assert violations_in(nag_violations(synthesis.template, after, tmp_path)) == []


@pytest.fixture(scope="module")
def nag_report(
    cli_synthesis: Synthesis, transformed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return nag_violations(cli_synthesis.template, transformed, tmp_path_factory.mktemp("nag"))


def test_sam_transform_yields_an_image_function_and_a_configured_stage(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    function = resources["APIHandler"]
    [stage] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]

    assert not [r for r in resources.values() if r["Type"].startswith("AWS::Serverless::")]
    assert function["Type"] == "AWS::Lambda::Function"
    assert function["Properties"]["PackageType"] == "Image"
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert "ImageUri" in function["Properties"]["Code"]
    assert stage["Properties"]["TracingEnabled"] is True
    assert stage["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == 50
    assert "DestinationArn" in stage["Properties"]["AccessLogSetting"]


def test_the_api_is_served_on_exactly_the_configured_stage(transformed: dict[str, Any]) -> None:
    # SAM gives the Deployment a StageName "Stage" unless OpenApiVersion is set: a second stage
    # without throttling, logs or tracing. Count stages from both places CloudFormation makes them.
    resources = transformed["Resources"].values()
    stages = [r["Properties"] for r in resources if r["Type"] == "AWS::ApiGateway::Stage"]
    deployments = [r["Properties"] for r in resources if r["Type"] == "AWS::ApiGateway::Deployment"]
    names = [s["StageName"] for s in stages] + [d["StageName"] for d in deployments if "StageName" in d]

    assert names == ["api"]
    [stage] = stages
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"]
    [method_settings] = stage["MethodSettings"]
    assert method_settings["LoggingLevel"] == "ERROR"
    assert method_settings["ThrottlingRateLimit"] > 0 and method_settings["ThrottlingBurstLimit"] > 0


def test_cfn_lint_finds_no_error_in_the_synthesized_template(cli_synthesis: Synthesis) -> None:
    assert cfn_lint_errors(cli_synthesis.template) == []


def test_cfn_lint_finds_no_error_after_the_transform(transformed: dict[str, Any]) -> None:
    assert cfn_lint_errors(transformed) == []


def test_cdk_nag_after_the_transform_has_no_unacknowledged_finding(
    nag_report: dict[str, Any],
) -> None:
    assert violations_in(nag_report) == []


def test_every_acknowledged_finding_is_expected_and_has_a_reason(
    nag_report: dict[str, Any],
) -> None:
    acknowledged = [
        violation for plugin in nag_report["pluginReports"]
        for violation in plugin.get("suppressedViolations", [])
    ]

    assert set(violations_in(nag_report, "suppressedViolations")) == EXPECTED_ACKNOWLEDGMENTS
    assert all(len(v["reason"]) > 40 for v in acknowledged)
