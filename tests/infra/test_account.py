"""API Gateway's account-level logging role in the synthesized stack."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match, Template

from harness.templates import only_of as only
from harness.templates import resource


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
