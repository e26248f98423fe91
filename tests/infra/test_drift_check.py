"""The hourly drift check as CloudFormation deploys it: the service's image, a schedule, and a role
that reads only the service's log, writes only its own and tells only the alerts topic."""

from __future__ import annotations

import json
import re
from typing import Any

from sleep_advisor_infra.drift import DRIFT_CHECK_COMMAND

from chalicelib import contract
from chalicelib.drift_check import LOG_GROUP_VARIABLE
from harness.samples import MODEL
from harness.templates import actions_of, alarms_by_name, logical_id, only


def test_the_check_runs_the_service_image_hourly_with_least_privilege(
    deployed: dict[str, Any],
) -> None:
    resources = deployed["Resources"]
    check_id = logical_id(deployed, "AWS::Lambda::Function", "DriftCheckFunction")
    check = resources[check_id]["Properties"]
    role_id = check["Role"]["Fn::GetAtt"][0]
    service_log = resources["APIHandler"]["Properties"]["LoggingConfig"]["LogGroup"]
    own_log = check["LoggingConfig"]["LogGroup"]
    topic_id, _ = only(deployed, "AWS::SNS::Topic")
    key_id, _ = only(deployed, "AWS::KMS::Key")
    image_tag = re.compile(r":([0-9a-f]{64})")

    # Named by CloudFormation: a change that replaces it can deploy.
    assert "FunctionName" not in check
    assert image_tag.findall(json.dumps(check["Code"]["ImageUri"])) == image_tag.findall(
        json.dumps(resources["APIHandler"]["Properties"]["Code"]["ImageUri"]))
    assert check["ImageConfig"] == {"Command": [DRIFT_CHECK_COMMAND]}
    variables = check["Environment"]["Variables"]
    assert variables[LOG_GROUP_VARIABLE] == service_log
    assert variables[contract.ALERTS_TOPIC_VARIABLE] == {"Ref": topic_id}
    assert variables[contract.METRICS_NAMESPACE_VARIABLE] == "SleepAdvisor/dev"

    actions = actions_of(deployed, role_id)
    service_log_id, own_log_id = service_log["Ref"], own_log["Ref"]
    # The service's one log group (its Arn attribute, ending in ":*").
    assert actions["logs:FilterLogEvents"] == [{"Fn::GetAtt": [service_log_id, "Arn"]}]
    assert actions["logs:PutLogEvents"] == actions["logs:CreateLogStream"] == [
        {"Fn::GetAtt": [own_log_id, "Arn"]}]
    assert actions["sns:Publish"] == [{"Ref": topic_id}]
    assert actions["kms:GenerateDataKey"] == [{"Fn::GetAtt": [key_id, "Arn"]}]
    # No CloudWatch permission: its metric is an EMF line in its own log.
    assert set(actions) == {
        "logs:FilterLogEvents", "logs:CreateLogStream", "logs:PutLogEvents", "sns:Publish",
        "kms:GenerateDataKey", "kms:Decrypt", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"]

    [rule] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"
              and "ScheduleExpression" in r["Properties"]]
    assert rule["ScheduleExpression"] == "cron(5 * * * ? *)"
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [check_id, "Arn"]}
    # Invoked by its two rules only: the schedule and the drift alarm's state change.
    [alarm_rule] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"
                    and r["Properties"].get("EventPattern", {}).get("source") == ["aws.cloudwatch"]]
    drift_alarm = next(k for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"
                       and r["Properties"]["AlarmName"] == "sleep-advisor-dev-input-drift")
    assert alarm_rule["EventPattern"] == {
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [{"Fn::GetAtt": [drift_alarm, "Arn"]}],
        "detail": {"state": {"value": ["ALARM"]}}}
    assert [t["Arn"] for t in alarm_rule["Targets"]] == [{"Fn::GetAtt": [check_id, "Arn"]}]
    permissions = [r["Properties"] for r in resources.values()
                   if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"]["Principal"] == "events.amazonaws.com"]
    assert len(permissions) == 2 and all(
        p["FunctionName"] == {"Fn::GetAtt": [check_id, "Arn"]} and "SourceArn" in p
        for p in permissions)
    # A failed or late run is not retried: the next hour's reads the same lines.
    [invoke_config] = [r["Properties"] for r in resources.values()
                       if r["Type"] == "AWS::Lambda::EventInvokeConfig"
                       and r["Properties"]["FunctionName"] == {"Ref": check_id}]
    assert invoke_config["MaximumRetryAttempts"] == 0
    assert invoke_config["MaximumEventAgeInSeconds"] == 900


def test_the_drift_alarm_reads_the_metric_the_check_writes(deployed: dict[str, Any]) -> None:
    alarm = alarms_by_name(deployed)["input-drift"]["Properties"]
    [fill] = [q for q in alarm["Metrics"] if "Expression" in q]
    [score] = [q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q]

    # An hour without a datapoint (below 0.1, too few nights) is 0, so the alarm goes OK in
    # the first such hour instead of judging by the last datapoint it has.
    assert fill["Expression"] == "FILL(drift, 0)" and fill.get("ReturnData", True)
    assert score["Period"] == 3600 and score["Stat"] == "Maximum"
    assert score["Metric"]["Namespace"] == "SleepAdvisor/dev"
    assert score["Metric"]["MetricName"] == contract.DRIFT_SCORE
    # chalicelib.drift_check writes these dimensions (tests/api/test_drift_check.py).
    assert {(d["Name"], d["Value"]) for d in score["Metric"]["Dimensions"]} == {
        (contract.SERVICE_DIMENSION, contract.SERVICE_NAME),
        (contract.MODEL_VERSION_DIMENSION, MODEL.version)}
    assert "make drift-report" in alarm["AlarmDescription"]
