"""API Gateway's account-level logging role: one setting per account and region."""

from __future__ import annotations

from aws_cdk import CfnResource, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from constructs import Construct

from sleep_advisor_infra.nag import acknowledge


class ApiGatewayLoggingRole(Construct):
    """The CloudWatch role API Gateway writes execution and access logs through.

    Set before the stage is created (or its deployment fails), and retained when the stage is
    destroyed: every API in the account and region shares the setting, and deleting the role
    it points at stops their logging (aws-cdk issues 10878 and 6194; CDK's own RestApi retains
    its role for the same reason). Attributes: `role`, `account`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, before: CfnResource) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                "service-role/AmazonAPIGatewayPushToCloudWatchLogs")],
        )
        self.account = apigateway.CfnAccount(self, "Account",
                                             cloud_watch_role_arn=self.role.role_arn)
        self.role.apply_removal_policy(RemovalPolicy.RETAIN)
        self.account.apply_removal_policy(RemovalPolicy.RETAIN)
        before.add_resource_dependency(self.account)
        acknowledge(
            self.role, "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:"
            "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "The policy AWS documents for API Gateway's account-level logging role; it only "
            "allows writing CloudWatch Logs, which API Gateway needs for every stage's groups.",
        )
