"""The API and the function in the synthesized stack (aws_cdk.assertions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from sleep_advisor_infra.prediction_api import ACCESS_LOG_FORMAT, AUTHORIZER_NAME

from chalicelib.config import BUNDLED_MODEL_DIR, Settings
from chalicelib.metadata import METADATA_FILENAME, ModelMetadata
from chalicelib.schemas import gateway_request_schema
from harness.api_gateway import hostile_context, render_gateway_response
from harness.cdk import DEFAULT_CONTEXT


def resource(template: Template, logical_id: str) -> dict[str, Any]:
    return template.to_json()["Resources"][logical_id]  # type: ignore[no-any-return]


def only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, found)] = template.find_resources(resource_type).items()
    return logical_id, found


def test_function_settings(template: Template) -> None:
    function = resource(template, "APIHandler")
    properties = function["Properties"]

    assert properties["MemorySize"] == DEFAULT_CONTEXT["memory_size_mb"]
    assert properties["Timeout"] == 10 < 29  # API Gateway gives up after 29 s
    assert properties["Tracing"] == "Active"
    assert properties["Architectures"] == ["x86_64"]
    assert "ReservedConcurrentExecutions" not in properties
    variables = properties["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "sleep-advisor"
    # Per stage, so that stages in one account keep their metrics apart.
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SleepAdvisor/dev"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "sleep-advisor"
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert variables["OMP_NUM_THREADS"] == "1"


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


def test_api_stage_settings(template: Template) -> None:
    api = resource(template, "RestAPI")["Properties"]

    assert api["EndpointConfiguration"] == "REGIONAL"
    assert api["StageName"] == "api"
    assert api["TracingEnabled"] is True
    assert api["MethodSettings"] == [{
        "ResourcePath": "/*", "HttpMethod": "*",
        "ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100,
        "LoggingLevel": "ERROR", "DataTraceEnabled": False, "MetricsEnabled": False,
    }]
    access = api["AccessLogSetting"]
    assert access["Format"] == ACCESS_LOG_FORMAT
    assert json.loads(ACCESS_LOG_FORMAT)["requestId"] == "$context.requestId"
    access_group = access["DestinationArn"]["Fn::GetAtt"][0]
    assert resource(template, access_group)["Properties"]["RetentionInDays"] == 30


def test_predict_body_is_validated_against_the_model_schema(template: Template) -> None:
    body = resource(template, "RestAPI")["Properties"]["DefinitionBody"]
    predict = body["paths"]["/predict"]["post"]
    metadata = ModelMetadata.model_validate_json(
        (BUNDLED_MODEL_DIR / METADATA_FILENAME).read_text())

    assert body["x-amazon-apigateway-request-validators"]["body"]["validateRequestBody"] is True
    assert predict["x-amazon-apigateway-request-validator"] == "body"
    assert predict["parameters"] == [{
        "in": "body", "name": "PredictionRequest", "required": True,
        "schema": {"$ref": "#/definitions/PredictionRequest"},
    }]
    assert body["definitions"]["PredictionRequest"] == gateway_request_schema(
        metadata, Settings().max_batch_instances)


def test_gateway_errors_render_as_json_in_the_service_error_shape(template: Template) -> None:
    # Rendered as API Gateway renders them (tests/api_gateway.py): every variable substituted
    # with hostile text, everything else left literal. Each must still parse as the error shape.
    responses = resource(template, "RestAPI")["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"]
    context = hostile_context()

    for name, response in responses.items():
        for content_type, body_template in response["responseTemplates"].items():
            rendered = render_gateway_response(body_template, context)
            try:
                body = json.loads(rendered)
            except ValueError as error:
                pytest.fail(f"{name} ({content_type}) renders as invalid JSON: {error}\n{rendered}")
            assert set(body) == {"Code", "Message"}, name
            assert isinstance(body["Code"], str) and body["Code"], name
            assert body["Message"] == context["context.error.message"], name
    assert {"BAD_REQUEST_BODY", "UNAUTHORIZED", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(
        responses)
    assert responses["THROTTLED"]["statusCode"] == 429
    assert responses["BAD_REQUEST_BODY"]["statusCode"] == 400


def test_the_rendering_model_catches_templates_api_gateway_would_break() -> None:
    # VTL is not evaluated, and a raw variable inside quotes breaks on a double quote.
    context = hostile_context()
    for broken in ('{"Message":"$util.escapeJavaScript($context.error.message)"}',
                   '{"Message":"$context.error.validationErrorString"}'):
        with pytest.raises(ValueError):
            json.loads(render_gateway_response(broken, context))


def test_cognito_authorizer_guards_predict_and_model_not_health(template: Template) -> None:
    body = resource(template, "RestAPI")["Properties"]["DefinitionBody"]
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    authorizer = body["securityDefinitions"][AUTHORIZER_NAME]

    assert authorizer["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::GetAtt": [pool_id, "Arn"]}]
    assert body["paths"]["/predict"]["post"]["security"] == [{AUTHORIZER_NAME: []}]
    assert body["paths"]["/model"]["get"]["security"] == [{AUTHORIZER_NAME: []}]
    assert "security" not in body["paths"]["/health"]["get"]


def test_user_pool_for_a_mobile_app(template: Template) -> None:
    _, pool = only(template, "AWS::Cognito::UserPool")
    _, client = only(template, "AWS::Cognito::UserPoolClient")

    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["DeletionPolicy"] == "Retain"
    assert client["Properties"]["GenerateSecret"] is False
    assert set(client["Properties"]["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}


def test_api_routes_are_the_chalice_app_routes(template: Template) -> None:
    import app as service

    body = resource(template, "RestAPI")["Properties"]["DefinitionBody"]
    deployed = {(path, method.upper()) for path, methods in body["paths"].items()
                for method in methods}
    served = {(path, method) for path, methods in service.app.routes.items() for method in methods}

    assert deployed == served == {("/predict", "POST"), ("/health", "GET"), ("/model", "GET")}


def test_api_gateway_logging_role_is_set_before_the_stage(template: Template) -> None:
    account_id, account = only(template, "AWS::ApiGateway::Account")

    assert account_id in resource(template, "RestAPI")["DependsOn"]
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = resource(template, role_id)
    assert "apigateway.amazonaws.com" in json.dumps(role)
    # One setting per account and region, shared by every stage's API: destroying this stage
    # must leave the role the setting points at, or every API's logging in the region stops.
    for shared in (account, role):
        assert (shared["DeletionPolicy"], shared["UpdateReplacePolicy"]) == ("Retain", "Retain")
    execution_logs = template.find_resources("AWS::Logs::LogGroup", {"Properties": {
        "LogGroupName": {"Fn::Join": Match.any_value()}}})
    assert len(execution_logs) == 1


def test_outputs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]

    assert "RestAPI" in json.dumps(outputs["ApiUrl"]["Value"])
    assert outputs["FunctionName"]["Value"] == {"Ref": "APIHandler"}
    assert {"UserPoolId", "UserPoolClientId"} <= set(outputs)


def test_resource_counts_guard_against_accidental_deletion(template: Template) -> None:
    for resource_type, count in {
        "AWS::Serverless::Function": 1, "AWS::Serverless::Api": 1,
        "AWS::Cognito::UserPool": 1, "AWS::Logs::LogGroup": 3, "AWS::IAM::Role": 2,
    }.items():
        template.resource_count_is(resource_type, count)


def test_context_sets_memory_throttling_and_concurrency(synthesize: Callable[..., Template]) -> None:
    template = synthesize(memory_size_mb="2048", throttle_rate_per_second="5",
                          throttle_burst="10", reserved_concurrency="20", stage="prod")
    function = resource(template, "APIHandler")["Properties"]
    settings = resource(template, "RestAPI")["Properties"]["MethodSettings"][0]

    assert function["MemorySize"] == 2048
    assert function["ReservedConcurrentExecutions"] == 20
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (5, 10)


def test_existing_user_pool_by_context(synthesize: Callable[..., Template]) -> None:
    arn = "arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_Example1"
    template = synthesize(user_pool_arn=arn, configure_api_gateway_logging_role=False)
    authorizer = resource(template, "RestAPI")["Properties"]["DefinitionBody"][
        "securityDefinitions"][AUTHORIZER_NAME]

    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.resource_count_is("AWS::ApiGateway::Account", 0)
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [arn]


@pytest.mark.parametrize("bad", [{"timeout_seconds": "29"}, {"memory_size_mb": "64"},
                                 {"user_pool_arn": "pool-1"}, {"log_retention_days": "31"}])
def test_invalid_context_is_refused(synthesize: Callable[..., Template], bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        synthesize(**bad)
