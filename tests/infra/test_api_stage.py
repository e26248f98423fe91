"""The API stage in the synthesized stack: throttling, logs, validation, errors, authorizer."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Template
from sleep_advisor_infra.api_stage import AUTHORIZER_NAME

from harness.api_gateway import enforced_only, hostile_context, render_gateway_response
from harness.samples import ANY_FEATURE, SAMPLE_INSTANCE
from harness.templates import only_of as only
from harness.templates import resource


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
    fields = json.loads(access["Format"])
    # One JSON line per request, joinable to the function's logs and to X-Ray by id.
    assert {"requestId", "status", "responseLatency", "integrationLatency", "errorType",
            "xrayTraceId"} <= set(fields)
    assert all(re.fullmatch(r"\$context\.[A-Za-z.]+", value) for value in fields.values())
    access_group = access["DestinationArn"]["Fn::GetAtt"][0]
    assert resource(template, access_group)["Properties"]["RetentionInDays"] == 30


def test_traces_are_sampled_by_a_rule_for_this_stage(template: Template) -> None:
    api = resource(template, "RestAPI")["Properties"]
    _, rule = only(template, "AWS::XRay::SamplingRule")
    sampling = rule["Properties"]["SamplingRule"]

    # API Gateway names its X-Ray service <api name>/<stage>; the rule must match it to apply.
    assert sampling["ServiceName"] == f"{api['Name']}/{api['StageName']}"
    assert sampling["ServiceType"] == "AWS::ApiGateway::Stage"
    assert (sampling["ReservoirSize"], sampling["FixedRate"]) == (0, 0.05)
    assert sampling["Priority"] < 10_000  # ahead of X-Ray's default rule
    assert len(sampling["RuleName"]) <= 32


def test_predict_body_is_validated_against_the_model_schema(template: Template) -> None:
    body = resource(template, "RestAPI")["Properties"]["DefinitionBody"]
    predict = body["paths"]["/predict"]["post"]
    [parameter] = predict["parameters"]
    model = body["definitions"][parameter["schema"]["$ref"].removeprefix("#/definitions/")]
    function_settings = resource(template, "APIHandler")["Properties"]["Environment"]["Variables"]
    max_batch = int(function_settings["SLEEP_ADVISOR_MAX_BATCH_INSTANCES"])

    assert body["x-amazon-apigateway-request-validators"]["body"]["validateRequestBody"] is True
    assert predict["x-amazon-apigateway-request-validator"] == "body"
    assert (parameter["in"], parameter["required"]) == ("body", True)
    # The deployed model, read as API Gateway reads it (draft 4), against sample requests.
    assert enforced_only(model).is_valid({"features": SAMPLE_INSTANCE})
    assert enforced_only(model).is_valid({"instances": [SAMPLE_INSTANCE] * max_batch})
    assert not enforced_only(model).is_valid({"features": {**SAMPLE_INSTANCE, ANY_FEATURE.name: "2"}})
    assert not enforced_only(model).is_valid({"features": {ANY_FEATURE.name: 7}})
    # The gateway's batch limit is the function's own setting, not a second copy of it.
    assert model["properties"]["instances"]["maxItems"] == max_batch


def test_gateway_errors_render_as_json_in_the_service_error_shape(template: Template) -> None:
    # Rendered as API Gateway renders them (harness/api_gateway.py): every variable substituted
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


def test_api_routes_are_the_chalice_app_routes(template: Template) -> None:
    import app as service

    body = resource(template, "RestAPI")["Properties"]["DefinitionBody"]
    deployed = {(path, method.upper()) for path, methods in body["paths"].items()
                for method in methods}
    served = {(path, method) for path, methods in service.app.routes.items() for method in methods}

    assert deployed == served == {("/predict", "POST"), ("/health", "GET"), ("/model", "GET")}
