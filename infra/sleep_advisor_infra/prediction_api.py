"""The Chalice app on Lambda as a container image, behind a hardened API Gateway stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib.config import BUNDLED_MODEL_DIR, Settings
from chalicelib.metadata import METADATA_FILENAME, ModelMetadata
from chalicelib.schemas import gateway_request_schema
from sleep_advisor_infra.config import StageConfig
from sleep_advisor_infra.nag import acknowledge

REPO_ROOT = Path(__file__).resolve().parents[2]
# Logical ids in the template Chalice generates.
FUNCTION_ID = "APIHandler"
REST_API_ID = "RestAPI"
API_STAGE_NAME = "api"
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


RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS, 7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
}


class ImageOnlyChalice(Chalice):
    """Chalice's construct without its deployment-package asset.

    Chalice zips the app and registers the zip as an S3 asset for the function's CodeUri; the
    function runs from the container image instead, so `cdk deploy` would upload that zip for
    nothing. This builds the same SAM template, minus the asset (CodeUri is deleted later).
    """

    def _generate_sam_template_with_assets(self, chalice_out_dir: str, package_id: str) -> str:
        package_dir = Path(self._sam_package_dir)
        template = json.loads((package_dir / "sam.json").read_text())
        if any(r["Type"] == "AWS::Serverless::LayerVersion" for r in template["Resources"].values()):
            raise ValueError("automatic_layer is not supported: the function runs from an image")
        output = Path(chalice_out_dir) / f"{package_id}.sam_with_assets.json"
        output.write_text(json.dumps(template, indent=2))
        return str(output)


class PredictionApi(Construct):
    """Chalice's API and function, switched to a container image and hardened.

    Attributes: `function_name`, `rest_api_id`, `api_name`, `api_stage_name`, `url`,
    `function_log_group`, `access_log_group`, `user_pool`, `metrics_namespace`,
    `memory_size_mb`, `service_name`, `model_metadata` (of the model the image ships).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig,
        user_pool: cognito.IUserPool,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.user_pool = user_pool
        self.api_stage_name = API_STAGE_NAME
        # Stages deployed side by side in one account must not mix their metrics.
        self.api_name = f"sleep-advisor-{config.stage}"
        self.metrics_namespace = f"SleepAdvisor/{config.stage}"
        self.memory_size_mb = config.memory_size_mb
        chalice_config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
        self.service_name: str = chalice_config["environment_variables"]["POWERTOOLS_SERVICE_NAME"]
        self.model_metadata = ModelMetadata.model_validate_json(
            (BUNDLED_MODEL_DIR / METADATA_FILENAME).read_text(encoding="utf-8")
        )

        self.function_log_group = logs.LogGroup(
            self, "FunctionLogs",
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs",
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.image = ecr_assets.DockerImageAsset(
            self, "Image",
            directory=str(REPO_ROOT),
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.role = self._function_role()

        self.chalice = ImageOnlyChalice(
            self, "Chalice",
            source_dir=str(REPO_ROOT),
            stage_config={
                "api_gateway_stage": API_STAGE_NAME,
                "api_gateway_endpoint_type": "REGIONAL",
                "lambda_memory_size": config.memory_size_mb,
                "lambda_timeout": config.timeout_seconds,
                "xray": True,
                # Merged over .chalice/config.json's variables.
                "environment_variables": {"POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace},
                # The role is created below with only what the function needs; Chalice's own
                # would allow writing to every log group in the account.
                "manage_iam_role": False,
                "iam_role_arn": "arn:aws:iam::000000000000:role/replaced-by-cdk",
                **({"reserved_concurrency": config.reserved_concurrency}
                   if config.reserved_concurrency is not None else {}),
            },
        )
        self._use_container_image()
        self._harden_api(config, stack)
        self._acknowledge_findings()
        if config.configure_api_gateway_logging_role:
            self._api_gateway_logging_role()

        function = self.chalice.get_resource(FUNCTION_ID)
        rest_api = self.chalice.get_resource(REST_API_ID)
        self.function_name: str = function.ref
        self.rest_api_id: str = rest_api.ref
        self.url = f"https://{rest_api.ref}.execute-api.{stack.region}.{stack.url_suffix}/{API_STAGE_NAME}/"

    def _acknowledge_findings(self) -> None:
        # These resources are SAM resources until CloudFormation transforms them; the test
        # suite runs cdk-nag on the transformed template, where these findings appear.
        acknowledge(
            self.chalice.get_resource(REST_API_ID), "AwsSolutions::AwsSolutions-APIG2",
            "Request validation is defined in the API's OpenAPI body "
            "(x-amazon-apigateway-request-validators, a body validator and the "
            "PredictionRequest model on POST /predict), which cdk-nag does not read; "
            "tests/infra asserts it, and the function validates every request again.",
        )
        acknowledge(
            self.chalice.get_resource(REST_API_ID), "AwsSolutions::AwsSolutions-APIG3",
            "AWS WAF costs at least $5 a month plus $1 per rule, about the service's whole "
            "budget (NFR-2). Stage throttling, Cognito authorization, a request validator and "
            "body-size limits protect the API; add a web ACL when traffic justifies it.",
        )
        acknowledge(
            self.chalice.get_resource(FUNCTION_ID), "Serverless::Serverless-LambdaDLQ",
            "API Gateway invokes the function synchronously: a failed request is answered with "
            "an error to the client, and Lambda never retries it, so a dead-letter queue "
            "would never receive anything.",
        )

    def _api_gateway_logging_role(self) -> None:
        # Execution and access logging need this account-wide (per region) setting before the
        # stage is created, or the deployment fails.
        role = iam.Role(
            self, "ApiGatewayLoggingRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                "service-role/AmazonAPIGatewayPushToCloudWatchLogs")],
        )
        self.api_gateway_logging_role = role
        account = apigateway.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        # The setting is one per account and region, shared by every API there: destroying this
        # stage must not delete the role it points at, or logging stops for all of them (aws-cdk
        # issues 10878 and 6194; CDK's own RestApi retains its role for the same reason).
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        self.chalice.get_resource(REST_API_ID).add_resource_dependency(account)
        acknowledge(
            role, "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "The policy AWS documents for API Gateway's account-level logging role; it only "
            "allows writing CloudWatch Logs, which API Gateway needs for every stage's groups.",
        )

    def _function_role(self) -> iam.Role:
        role = iam.Role(
            self, "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Sleep Advisor function: write its own logs and traces, pull its image",
        )
        role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.function_log_group.log_group_arn],
        ))
        # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level scoping.
        role.add_to_policy(iam.PolicyStatement(
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            resources=["*"],
        ))
        self.image.repository.grant_pull(role)
        acknowledge(
            role, "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments, xray:PutTelemetryRecords and ecr:GetAuthorizationToken do "
            "not support resource-level permissions; log writes and image pulls are scoped to "
            "the function's log group and the asset repository.",
        )
        return role

    def _use_container_image(self) -> None:
        # Chalice has no container-image support: switch its function to the image and drop the
        # zip-package properties SAM would otherwise require or reject.
        function = self.chalice.get_resource(FUNCTION_ID)
        function.add_property_override("PackageType", "Image")
        function.add_property_override("ImageUri", self.image.image_uri)
        for zip_property in ("CodeUri", "Handler", "Runtime", "Layers"):
            function.add_property_deletion_override(zip_property)
        function.add_property_override("Role", self.role.role_arn)
        function.add_property_override("LoggingConfig", {
            "LogFormat": "JSON",
            "LogGroup": self.function_log_group.log_group_name,
            "ApplicationLogLevel": "INFO",
            # platform.report lines (memory, init duration) are INFO: keep them for the dashboard.
            "SystemLogLevel": "INFO",
        })
        # The image pull is checked when the function is created: the policy must exist first.
        for part in (self.role, self.role.node.find_child("DefaultPolicy")):
            function.add_resource_dependency(part.node.default_child)

    def _harden_api(self, config: StageConfig, stack: Stack) -> None:
        rest_api = self.chalice.get_resource(REST_API_ID)
        max_batch = Settings().max_batch_instances
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
            "LoggingLevel": "ERROR",
            # Request and response bodies hold health data: never in execution logs.
            "DataTraceEnabled": False,
            "MetricsEnabled": False,
        }])
        rest_api.add_property_override("AccessLogSetting", {
            "DestinationArn": self.access_log_group.log_group_arn,
            "Format": ACCESS_LOG_FORMAT,
        })
        body = "DefinitionBody"
        rest_api.add_property_override(f"{body}.definitions.{REQUEST_MODEL}",
                                       gateway_request_schema(self.model_metadata, max_batch))
        rest_api.add_property_override(f"{body}.x-amazon-apigateway-request-validators", {
            "body": {"validateRequestBody": True, "validateRequestParameters": False},
        })
        predict = f"{body}.paths./predict.post"
        rest_api.add_property_override(f"{predict}.x-amazon-apigateway-request-validator", "body")
        rest_api.add_property_override(f"{predict}.parameters", [{
            "in": "body", "name": REQUEST_MODEL, "required": True,
            "schema": {"$ref": f"#/definitions/{REQUEST_MODEL}"},
        }])
        rest_api.add_property_override(f"{body}.x-amazon-apigateway-gateway-responses",
                                       GATEWAY_RESPONSES)
        rest_api.add_property_override(f"{body}.securityDefinitions", {
            AUTHORIZER_NAME: {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": [self.user_pool.user_pool_arn],
                },
            },
        })
        for path, method in AUTHORIZED_ROUTES:
            rest_api.add_property_override(f"{body}.paths.{path}.{method}.security",
                                           [{AUTHORIZER_NAME: []}])
        # API Gateway creates this group on first error with no retention; own it instead.
        logs.CfnLogGroup(
            self, "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{rest_api.ref}/{API_STAGE_NAME}",
            retention_in_days=config.log_retention_days,
        )
