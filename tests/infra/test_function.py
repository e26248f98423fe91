"""The function in the synthesized stack: its image, settings, logs and role."""

from __future__ import annotations

import json

from aws_cdk.assertions import Template
from sleep_advisor_infra.config import StageConfig

from harness.api_gateway import API_GATEWAY_INTEGRATION_TIMEOUT_S
from harness.templates import resource


def test_function_settings(template: Template) -> None:
    function = resource(template, "APIHandler")
    properties = function["Properties"]

    assert properties["MemorySize"] == StageConfig().memory_size_mb
    # An answer later than API Gateway's integration timeout is lost: stay well below it.
    assert properties["Timeout"] <= API_GATEWAY_INTEGRATION_TIMEOUT_S - 4
    assert properties["Tracing"] == "Active"
    assert properties["Architectures"] == ["x86_64"]
    assert "ReservedConcurrentExecutions" not in properties
    variables = properties["Environment"]["Variables"]
    # Per stage, so that stages in one account keep their metrics apart.
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SleepAdvisor/dev"
    # Events carry health data: never logged whole.
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert variables["SLEEP_ADVISOR_LOG_FEATURES"] == "false"


def test_function_logs_go_to_a_json_log_group_with_retention(template: Template) -> None:
    logging_config = resource(template, "APIHandler")["Properties"]["LoggingConfig"]
    log_group_id = logging_config["LogGroup"]["Ref"]

    assert logging_config["LogFormat"] == "JSON"
    assert logging_config["SystemLogLevel"] == "INFO"  # keeps platform.report lines
    assert resource(template, log_group_id)["Properties"]["RetentionInDays"] == 30
    assert "FunctionLogs" in log_group_id


def test_function_role_is_least_privilege(template: Template) -> None:
    role_arn = resource(template, "APIHandler")["Properties"]["Role"]
    role_id = role_arn["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy", {
        "Properties": {"Roles": [{"Ref": role_id}]}})
    [(_, policy)] = policies.items()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    granted = {action: json.dumps(statement["Resource"]) for statement in statements
               for action in statement["Action"]}

    assert all(statement["Effect"] == "Allow" for statement in statements)
    assert set(granted) == {
        "logs:CreateLogStream", "logs:PutLogEvents",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
    }
    assert "FunctionLogs" in granted["logs:PutLogEvents"]
    assert "container-assets" in granted["ecr:BatchGetImage"]
    # Only actions that support no resource scoping get "*".
    assert {a for a, r in granted.items() if r == '"*"'} == {
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "ecr:GetAuthorizationToken"}
    # No Chalice-generated role with its account-wide log permissions.
    assert "DefaultRole" not in template.to_json()["Resources"]
    assert not resource(template, role_id)["Properties"].get("ManagedPolicyArns")
