"""The function's container image, its least-privilege role and its log group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnResource, RemovalPolicy
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from sleep_advisor_infra.chalice_app import ChaliceApp
from sleep_advisor_infra.config import REPO_ROOT
from sleep_advisor_infra.nag import acknowledge


def outside_the_image(context: Path) -> list[str]:
    """Top-level entries the .dockerignore allow-list never lets in (.venv, node_modules, ...).

    CDK walks and copies the whole build context before applying .dockerignore's negations;
    naming these up front takes that from seconds to milliseconds.
    """
    rules = (context / ".dockerignore").read_text().splitlines()
    allowed = {Path(rule[1:]).parts[0] for rule in rules if rule.startswith("!")}
    return sorted(entry.name for entry in context.iterdir() if entry.name not in allowed)


class FunctionImage(Construct):
    """What the function runs from and may do: an image built from the root Dockerfile (in
    `context`, the repository unless a test builds another), a role
    that writes only its own logs and traces and pulls only its image, a JSON log group.

    Attributes: `image`, `role`, `log_group`. `configure(function)` switches Chalice's
    generated function to all three.
    """

    def __init__(self, scope: Construct, construct_id: str, *,
                 log_retention: logs.RetentionDays, context: Path = REPO_ROOT) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY,
        )
        self.image = ecr_assets.DockerImageAsset(
            self, "Image", directory=str(context), platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=outside_the_image(context),
        )
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Sleep Advisor function: write its own logs and traces, pull its image",
        )
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn],
        ))
        # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level scoping.
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"],
        ))
        self.image.repository.grant_pull(self.role)
        acknowledge(
            self.role, "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments, xray:PutTelemetryRecords and ecr:GetAuthorizationToken do "
            "not support resource-level permissions; log writes and image pulls are scoped to "
            "the function's log group and the asset repository.",
        )

    def with_command(self, scope: Construct, construct_id: str, *, command: str,
                     role: iam.IRole, log_group: logs.ILogGroup,
                     **props: Any) -> lambda_.DockerImageFunction:
        """Another function from this image, running `command` instead of the app (the
        pre-traffic hook, the drift check): the same code and model as the version it serves
        beside, JSON logs in `log_group`, traced."""
        return lambda_.DockerImageFunction(
            scope, construct_id,
            code=lambda_.DockerImageCode.from_ecr(
                self.image.repository, tag_or_digest=self.image.image_tag, cmd=[command]),
            role=role, log_group=log_group, logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE, **props)

    def configure(self, app: ChaliceApp) -> None:
        """Switch Chalice's zip-packaged function to the image (Chalice has no image support)."""
        function = app.function
        app.set_function_property("PackageType", "Image")
        app.set_function_property("ImageUri", self.image.image_uri)
        # Properties SAM would otherwise require or reject for an image.
        for zip_property in ("CodeUri", "Handler", "Runtime", "Layers"):
            app.delete_function_property(zip_property)
        app.set_function_property("LoggingConfig", {
            "LogFormat": "JSON",
            "LogGroup": self.log_group.log_group_name,
            "ApplicationLogLevel": "INFO",
            # platform.report lines (memory, init duration) are INFO: keep them for the dashboard.
            "SystemLogLevel": "INFO",
        })
        # The image pull is checked when the function is created: the policy must exist first.
        for part in (self.role, self.role.node.find_child("DefaultPolicy")):
            default_child = part.node.default_child
            if isinstance(default_child, CfnResource):
                function.add_resource_dependency(default_child)
        acknowledge(
            function, "Serverless::Serverless-LambdaDLQ",
            "API Gateway invokes the function synchronously: a failed request is answered with "
            "an error to the client, and Lambda never retries it, so a dead-letter queue "
            "would never receive anything.",
        )


def own_logs_and_role(scope: Construct, prefix: str, log_retention: logs.RetentionDays,
                      description: str) -> tuple[logs.LogGroup, iam.Role]:
    """A helper function's own log group, and a role that may write only to it (not to every
    log group in the account, which the basic execution policy would allow)."""
    log_group = logs.LogGroup(scope, f"{prefix}Logs", retention=log_retention,
                              removal_policy=RemovalPolicy.DESTROY)
    role = iam.Role(scope, f"{prefix}Role",
                    assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=description)
    role.add_to_policy(iam.PolicyStatement(
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group.log_group_arn],
    ))
    return log_group, role
