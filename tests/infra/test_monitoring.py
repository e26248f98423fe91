"""Dashboard, alarms and alerting in the synthesized template."""

from __future__ import annotations

import json
from typing import Any

from sleep_advisor_infra.alerting import CHATBOT_READ_ACTIONS
from sleep_advisor_infra.monitoring import INIT_DURATION, MAX_MEMORY_USED

from harness.cdk import Synthesis
from harness.samples import MODEL
from harness.templates import alarm_metrics, alarms_by_name, dashboard_metrics, only, render_reference

# A cold start's report, as Lambda writes it to a function with the JSON log format.
PLATFORM_REPORT = {
    "time": "2026-11-25T07:00:01.000Z",
    "type": "platform.report",
    "record": {
        "requestId": "6f7f0961-0b09-4f5b-8f52-1d2b4c9b0a10",
        "metrics": {"durationMs": 41.2, "billedDurationMs": 1650, "memorySizeMB": 1024,
                    "maxMemoryUsedMB": 176, "initDurationMs": 1608.3},
        "tracing": {"spanId": "5b0f4a8c7f1e2d3a", "type": "X-Amzn-Trace-Id",
                    "value": "Root=1-6b072495-825dc369cc4045d989f564cf;Parent=53995c3f42cd8ad8;Sampled=1"},
        "status": "success",
    },
}


def test_platform_metrics_come_from_metric_filters_on_the_function_logs(
    synthesis: Synthesis,
) -> None:
    template = synthesis.template
    log_group = template["Resources"]["APIHandler"]["Properties"]["LoggingConfig"]["LogGroup"]
    filters = {f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
               for f in template["Resources"].values() if f["Type"] == "AWS::Logs::MetricFilter"}
    used = {m[1] for m in dashboard_metrics(template) if m[1] in (MAX_MEMORY_USED, INIT_DURATION)}

    assert used == {MAX_MEMORY_USED, INIT_DURATION} == set(filters)
    for name, expected_value, unit in ((MAX_MEMORY_USED, 176, "Megabytes"),
                                       (INIT_DURATION, 1608.3, "Milliseconds")):
        metric_filter = filters[name]
        transformation = metric_filter["MetricTransformations"][0]
        assert metric_filter["LogGroupName"] == log_group
        assert transformation["Unit"] == unit
        assert transformation["MetricNamespace"] == "SleepAdvisor/dev"
        assert '$.type = "platform.report"' in metric_filter["FilterPattern"]
        assert _json_path(PLATFORM_REPORT, transformation["MetricValue"]) == expected_value
    assert "$.record.metrics.initDurationMs > 0" in filters[INIT_DURATION]["FilterPattern"]


def _json_path(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key in path.removeprefix("$.").split("."):
        value = value[key]
    return value


def test_aws_metrics_use_the_generated_function_and_api(synthesis: Synthesis) -> None:
    template = synthesis.template
    api = template["Resources"]["RestAPI"]["Properties"]
    used = set(dashboard_metrics(template)) | set(alarm_metrics(template))
    lambda_dimensions = {m[2] for m in used if m[0] == "AWS/Lambda"}
    api_dimensions = {m[2] for m in used if m[0] == "AWS/ApiGateway"}

    # Through the alias users reach; the rollout's error alarm also names the version.
    through_the_alias = frozenset({("FunctionName", "<Ref:APIHandler>"),
                                   ("Resource", "<Ref:APIHandler>:live")})
    assert lambda_dimensions == {through_the_alias, through_the_alias | {
        ("ExecutedVersion", "<GetAtt:APIHandler.Version.Version>")}}
    assert api_dimensions == {frozenset({("ApiName", api["Name"]), ("Stage", api["StageName"])})}
    assert api["Name"] == "sleep-advisor-dev"
    assert {m[0] for m in used} == {"AWS/Lambda", "AWS/ApiGateway", "SleepAdvisor/dev"}


def test_dashboard_has_the_widgets_on_call_needs(synthesis: Synthesis) -> None:
    _, dashboard = only(synthesis.template, "AWS::CloudWatch::Dashboard")
    body = json.loads(render_reference(dashboard["Properties"]["DashboardBody"]))
    widgets = {w["properties"].get("title"): w["properties"] for w in body["widgets"]}

    assert {
        "Invocations and errors", f"Prediction probability: {MODEL.name} {MODEL.version}",
        "Maximum memory used (MB)",
        "Initialisation (cold-start) duration (ms)", "Function duration p50 / p90 / p99 (ms)",
        "API requests, 4xx, 5xx", "API latency (ms)", "Throttles and concurrent executions",
        "Cold starts and inference latency", f"Answers per class: {MODEL.name}", "Alarms",
    } <= set(widgets)
    durations = widgets["Function duration p50 / p90 / p99 (ms)"]
    assert [m[-1]["stat"] for m in durations["metrics"]] == ["p50", "p90", "p99"]
    assert durations["annotations"]["horizontal"][0]["value"] == 10_000
    assert widgets["API latency (ms)"]["annotations"]["horizontal"][0]["value"] == 10_000
    assert len(widgets["Alarms"]["alarms"]) == 8  # six service alarms, two rollout alarms
    assert dashboard["Properties"]["DashboardName"] == "sleep-advisor-dev"


EXPECTED_ALARMS = {
    # name: (metric or expression, statistic, period s, threshold, operator, evaluated, to alarm, missing)
    "function-errors": ("expression", None, 300, 5, "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "latency-p99": ("Latency", "p99", 300, 8000, "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "throttles": ("Throttles", "Sum", 300, 1, "GreaterThanOrEqualToThreshold", 1, 1, "notBreaching"),
    "api-5xx": ("5XXError", "Average", 300, 0.05, "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "low-probability": (
        "PredictionProbability", "Average", 900, MODEL.low_probability_threshold,
        "LessThanThreshold", 2, 2, "notBreaching"),
    "no-traffic": ("Count", "Sum", 3600, 1, "LessThanThreshold", 12, 12, "breaching"),
}


def test_alarm_thresholds_periods_statistics_and_actions(synthesis: Synthesis) -> None:
    template = synthesis.template
    topic_id, _ = only(template, "AWS::SNS::Topic")
    alarms = alarms_by_name(template)

    # The rollout's own alarms are read in test_rollout.py.
    assert set(alarms) == set(EXPECTED_ALARMS) | {"rollout-errors", "rollout-low-probability"}
    for name, (metric, statistic, period, threshold, operator, evaluated, to_alarm,
               missing) in EXPECTED_ALARMS.items():
        properties = alarms[name]["Properties"]
        if metric == "expression":
            [expression] = [q for q in properties["Metrics"] if "Expression" in q]
            assert expression["Expression"] == "IF(invocations > 0, 100 * errors / invocations, 0)"
            assert {q["MetricStat"]["Period"] for q in properties["Metrics"] if "MetricStat" in q} == {period}
        else:
            assert properties["MetricName"] == metric, name
            assert properties.get("Statistic", properties.get("ExtendedStatistic")) == statistic
            assert properties["Period"] == period, name
        assert properties["Threshold"] == threshold, name
        assert properties["ComparisonOperator"] == operator, name
        assert properties["EvaluationPeriods"] == evaluated, name
        assert properties.get("DatapointsToAlarm", evaluated) == to_alarm, name
        assert properties["TreatMissingData"] == missing, name
        assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": topic_id}], name
        assert "Check first" in properties["AlarmDescription"], name


def test_topic_is_encrypted_with_a_rotating_key_cloudwatch_may_use(synthesis: Synthesis) -> None:
    template = synthesis.template
    key_id, key = only(template, "AWS::KMS::Key")
    _, topic = only(template, "AWS::SNS::Topic")
    _, topic_policy = only(template, "AWS::SNS::TopicPolicy")

    assert key["Properties"]["EnableKeyRotation"] is True
    # Destroying the stage schedules the key's deletion (after KMS's shortest waiting period)
    # instead of leaving a billed key behind that nothing uses.
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Delete", "Delete")
    assert key["Properties"]["PendingWindowInDays"] == 7
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    [cloudwatch] = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
                    if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Effect"] == "Allow"
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    statements = topic_policy["Properties"]["PolicyDocument"]["Statement"]
    [tls] = [s for s in statements if s["Effect"] == "Deny"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    publishers = {s["Principal"]["Service"]: s for s in statements if s["Effect"] == "Allow"}
    # CloudWatch for alarms, EventBridge for rollouts (test_rollout.py).
    assert set(publishers) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    assert publishers["cloudwatch.amazonaws.com"]["Action"] == "sns:Publish"


def test_without_slack_ids_the_stack_synthesizes_without_chatbot_and_warns(
    synthesis: Synthesis,
) -> None:
    types = {r["Type"] for r in synthesis.template["Resources"].values()}

    assert "AWS::Chatbot::SlackChannelConfiguration" not in types
    assert "AWS::SNS::Subscription" not in types
    assert "Slack alerts are off" in synthesis.output


def test_slack_channel_is_read_only_and_subscribed(configured_synthesis: Synthesis) -> None:
    template = configured_synthesis.template
    _, channel = only(template, "AWS::Chatbot::SlackChannelConfiguration")
    topic_id, _ = only(template, "AWS::SNS::Topic")
    properties = channel["Properties"]
    [guardrail_ref] = properties["GuardrailPolicies"]
    guardrail = template["Resources"][guardrail_ref["Ref"]]

    assert (properties["SlackWorkspaceId"], properties["SlackChannelId"]) == ("T0123ABCD", "C0456EFGH")
    assert properties["SnsTopicArns"] == [{"Ref": topic_id}]
    assert properties["LoggingLevel"] == "ERROR"
    assert guardrail["Type"] == "AWS::IAM::ManagedPolicy"
    [statement] = guardrail["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(CHATBOT_READ_ACTIONS)
    assert all(":Describe" in a or ":Get" in a or ":List" in a for a in statement["Action"])
    assert "AdministratorAccess" not in json.dumps(template)
    assert "Slack alerts are off" not in configured_synthesis.output


def test_email_subscription_by_context(configured_synthesis: Synthesis) -> None:
    _, subscription = only(configured_synthesis.template, "AWS::SNS::Subscription")

    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"


