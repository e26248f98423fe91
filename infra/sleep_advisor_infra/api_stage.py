"""The API stage Chalice generates, hardened: what API Gateway does before the function runs.

Chalice emits no throttling, access or execution logging, request validation, authorizer or
error shape for API Gateway's own answers; each is added here as an override on the generated
`AWS::Serverless::Api`, and tests/ checks the result after SAM's transform.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray
from constructs import Construct

from chalicelib import contract
from chalicelib.metadata import ModelMetadata
from chalicelib.schemas import gateway_request_schema
from sleep_advisor_infra.config import StageConfig
from sleep_advisor_infra.nag import acknowledge

# Routes that need a signed-in user; /health stays open for uptime checks.
AUTHORIZED_ROUTES = (("/predict", "post"), ("/model", "get"))
AUTHORIZER_NAME = "SleepAdvisorUsers"
REQUEST_MODEL = "PredictionRequest"

ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "errorType": "$context.error.responseType",
    "authorizerError": "$context.authorizer.error",
    "xrayTraceId": "$context.xrayTraceId",
}, separators=(",", ":"))


def _error_response(code: str) -> dict[str, Any]:
    # The same {"Code", "Message"} shape the function answers with, for errors API Gateway
    # produces itself ($context.error.messageString is already a quoted JSON string).
    return {"responseTemplates": {
        "application/json": f'{{"Code":"{code}","Message":$context.error.messageString}}'}}


# Gateway-response templates are not VTL: API Gateway only substitutes variables, so $util
# stays literal text and $context.error.validationErrorString (raw double quotes inside) cannot
# be embedded in JSON safely. The function's own 400s carry the per-field detail.
GATEWAY_RESPONSES = {
    "BAD_REQUEST_BODY": {"statusCode": 400, **_error_response("InvalidRequest")},
    "UNAUTHORIZED": {"statusCode": 401, **_error_response("UnauthorizedError")},
    "ACCESS_DENIED": {"statusCode": 403, **_error_response("ForbiddenError")},
    "MISSING_AUTHENTICATION_TOKEN": {"statusCode": 403, **_error_response("NotFoundError")},
    "THROTTLED": {"statusCode": 429, **_error_response("TooManyRequestsError")},
    "REQUEST_TOO_LARGE": {"statusCode": 413, **_error_response("PayloadTooLarge")},
    "UNSUPPORTED_MEDIA_TYPE": {"statusCode": 415, **_error_response("UnsupportedMediaType")},
    "DEFAULT_4XX": _error_response("BadRequestError"),
    "DEFAULT_5XX": _error_response("InternalServerError"),
}


XRAY_RULE_NAME_LIMIT = 32


class ApiStage(Construct):
    """Throttling, logs, tracing, request validation and a Cognito authorizer on Chalice's API.

    Attributes: `api_name`, `stage_name`, `url`, `access_log_group`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, rest_api: CfnResource, config: StageConfig,
        user_pool: cognito.IUserPool, model: ModelMetadata,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.api_name = contract.resource_name(config.stage)
        self.stage_name = contract.API_STAGE_NAME
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=config.log_retention, removal_policy=RemovalPolicy.DESTROY,
        )
        rest_api.add_property_override("Name", self.api_name)
        # Without OpenApiVersion, SAM's transform also deploys the API to a stage named "Stage"
        # (serverless-application-model issues 191, 1202): a second, unthrottled, unlogged
        # copy of the API. "2.0" is the version of the body Chalice generates.
        rest_api.add_property_override("OpenApiVersion", "2.0")
        rest_api.add_property_override("TracingEnabled", True)
        rest_api.add_property_override("MethodSettings", [{
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": config.throttle_rate_per_second,
            "ThrottlingBurstLimit": config.throttle_burst,
            # Not INFO: at INFO, execution logs carry the request validator's detail, which
            # quotes the refused value (a feature's, or a category that is not one).
            "LoggingLevel": "ERROR",
            # Request and response bodies hold health data: never in execution logs.
            "DataTraceEnabled": False,
            "MetricsEnabled": False,
        }])
        rest_api.add_property_override("AccessLogSetting", {
            "DestinationArn": self.access_log_group.log_group_arn,
            "Format": ACCESS_LOG_FORMAT,
        })
        self._validate_requests(rest_api, model, config.max_batch_instances)
        rest_api.add_property_override("DefinitionBody.x-amazon-apigateway-gateway-responses",
                                       GATEWAY_RESPONSES)
        self._authorize(rest_api, user_pool)
        # API Gateway creates this group on first error with no retention; own it instead.
        logs.CfnLogGroup(
            self, "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{rest_api.ref}/{self.stage_name}",
            retention_in_days=config.log_retention_days,
        )
        # API Gateway decides which requests X-Ray traces, and the function follows its
        # decision: one rule for this stage, ahead of X-Ray's default (priority 10000).
        self.sampling_rule = xray.CfnSamplingRule(
            self, "TraceSampling",
            sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
                # X-Ray allows rule names of at most 32 characters.
                rule_name=contract.bounded_name(self.api_name, XRAY_RULE_NAME_LIMIT),
                priority=100, version=1,
                reservoir_size=0, fixed_rate=config.trace_sampling_rate,
                service_name=f"{self.api_name}/{self.stage_name}",
                service_type="AWS::ApiGateway::Stage",
                host="*", http_method="*", url_path="*", resource_arn="*",
            ),
        )
        self.url = (f"https://{rest_api.ref}.execute-api.{stack.region}.{stack.url_suffix}/"
                    f"{self.stage_name}/")
        acknowledge(
            rest_api, "AwsSolutions::AwsSolutions-APIG2",
            "Request validation is defined in the API's OpenAPI body "
            "(x-amazon-apigateway-request-validators, a body validator and the "
            "PredictionRequest model on POST /predict), which cdk-nag does not read; "
            "tests/ assert it, and the function validates every request again.",
        )
        acknowledge(
            rest_api, "AwsSolutions::AwsSolutions-APIG3",
            "AWS WAF costs at least $5 a month plus $1 per rule, about the service's whole "
            "budget (NFR-2). Stage throttling, Cognito authorization, a request validator and "
            "body-size limits protect the API; add a web ACL when traffic justifies it.",
        )

    @staticmethod
    def _validate_requests(rest_api: CfnResource, model: ModelMetadata, max_batch: int) -> None:
        body = "DefinitionBody"
        rest_api.add_property_override(f"{body}.definitions.{REQUEST_MODEL}",
                                       gateway_request_schema(model, max_batch))
        rest_api.add_property_override(f"{body}.x-amazon-apigateway-request-validators", {
            "body": {"validateRequestBody": True, "validateRequestParameters": False},
        })
        predict = f"{body}.paths./predict.post"
        rest_api.add_property_override(f"{predict}.x-amazon-apigateway-request-validator", "body")
        rest_api.add_property_override(f"{predict}.parameters", [{
            "in": "body", "name": REQUEST_MODEL, "required": True,
            "schema": {"$ref": f"#/definitions/{REQUEST_MODEL}"},
        }])

    @staticmethod
    def _authorize(rest_api: CfnResource, user_pool: cognito.IUserPool) -> None:
        body = "DefinitionBody"
        rest_api.add_property_override(f"{body}.securityDefinitions", {
            AUTHORIZER_NAME: {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": [user_pool.user_pool_arn],
                },
            },
        })
        for path, method in AUTHORIZED_ROUTES:
            rest_api.add_property_override(f"{body}.paths.{path}.{method}.security",
                                           [{AUTHORIZER_NAME: []}])
