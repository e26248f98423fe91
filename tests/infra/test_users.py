"""The Cognito user pool the mobile app signs in with."""

from __future__ import annotations

from aws_cdk.assertions import Template
from sleep_advisor_infra.api_stage import AUTHORIZER_NAME

from harness.cdk import CONFIGURED_CONTEXT, Synthesis
from harness.templates import only_of as only
from harness.templates import resource


def test_user_pool_for_a_mobile_app(template: Template) -> None:
    _, pool = only(template, "AWS::Cognito::UserPool")
    _, client = only(template, "AWS::Cognito::UserPoolClient")

    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["DeletionPolicy"] == "Retain"
    # Billed per monthly active user above the free 10,000: Lite, not the Essentials default.
    assert pool["Properties"]["UserPoolTier"] == "LITE"
    assert client["Properties"]["GenerateSecret"] is False
    assert set(client["Properties"]["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}


def test_existing_user_pool_by_context(configured_synthesis: Synthesis) -> None:
    template = Template.from_json(configured_synthesis.template,
                                  skip_cyclical_dependencies_check=True)
    authorizer = resource(template, "RestAPI")["Properties"]["DefinitionBody"][
        "securityDefinitions"][AUTHORIZER_NAME]

    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.resource_count_is("AWS::ApiGateway::Account", 0)
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        CONFIGURED_CONTEXT["user_pool_arn"]]
