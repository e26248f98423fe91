"""cdk-nag rule packs and the project's acknowledged findings, each with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def attach_rule_packs(scope: IConstruct) -> None:
    """AwsSolutions and Serverless packs as policy-validation plugins: synth fails on a finding.

    Acknowledgments are also written into each resource's CloudFormation Metadata, so that the
    test suite can check the template again after the SAM transform, where the API stage and
    the Lambda function first exist as plain resources.
    """
    Validations.of(scope).add_plugins(
        AwsSolutionsChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
    )


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))
