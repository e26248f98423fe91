"""Dashboard, alarms and alerting in the synthesized template."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sleep_advisor_infra.alerting import CHATBOT_READ_ACTIONS

from harness.cdk import Synthesis
from harness.logs_insights import (
    COLD_PLATFORM_REPORT,
    WARM_PLATFORM_REPORT,
    dashboard_queries,
    fields_read,
)
from harness.samples import MODEL
from harness.templates import (
    alarm_metrics,
    alarms_by_name,
    dashboard_metrics,
    dashboard_widgets,
    logical_id,
    only,
    render_reference,
)


def test_dashboard_only_series_are_logs_insights_queries_on_the_function_logs(
    synthesis: Synthesis,
) -> None:
    template = synthesis.template
    log_group = template["Resources"]["APIHandler"]["Properties"]["LoggingConfig"]["LogGroup"]
    drift_check = logical_id(template, "AWS::Lambda::Function", "DriftCheckFunction")
    drift_log_group = template["Resources"][drift_check]["Properties"]["LoggingConfig"]["LogGroup"]
    sources = {w["properties"]["query"].split("|")[0].strip()
               for w in dashboard_widgets(template) if w["type"] == "log"}
    queries = dashboard_queries(template)
    class_mix = queries[f"Answers per class: {MODEL.name}"]

    # No metric filter: each would be a paid custom metric.
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::MetricFilter"]
    # The function's log group, and the drift check's (its per-feature distances).
    assert sources == {f"SOURCE '{render_reference(log_group)}'",
                       f"SOURCE '{render_reference(drift_log_group)}'"}
    assert {f"advice_counts.{c}" for c in MODEL.class_ids} | {"message"} == fields_read(class_mix)
    # Each cold start's report has the init duration; the warm ones have none.
    cold_starts = queries["Cold starts"]
    assert "ispresent(record.metrics.initDurationMs)" in cold_starts
    assert "initDurationMs" in COLD_PLATFORM_REPORT["record"]["metrics"]
    assert "initDurationMs" not in WARM_PLATFORM_REPORT["record"]["metrics"]


def test_aws_metrics_use_the_generated_function_and_api(synthesis: Synthesis) -> None:
    template = synthesis.template
    api = template["Resources"]["RestAPI"]["Properties"]
    used = set(dashboard_metrics(template)) | set(alarm_metrics(template))
    lambda_dimensions = {m[2] for m in used if m[0] == "AWS/Lambda"}
    api_dimensions = {m[2] for m in used if m[0] == "AWS/ApiGateway"}

    # Through the alias users reach; the rollout's error alarm also names the version.
    through_the_alias = frozenset({("FunctionName", "<Ref:APIHandler>"),
                                   ("Resource", "<Ref:APIHandler>:live")})
    drift_check = logical_id(template, "AWS::Lambda::Function", "DriftCheckFunction")
    assert lambda_dimensions == {through_the_alias, through_the_alias | {
        ("ExecutedVersion", "<GetAtt:APIHandler.Version.Version>")},
        # The drift check's own errors.
        frozenset({("FunctionName", f"<Ref:{drift_check}>")})}
    assert api_dimensions == {frozenset({("ApiName", api["Name"]), ("Stage", api["StageName"])})}
    assert api["Name"] == "sleep-advisor-dev"
    assert {m[0] for m in used} == {"AWS/Lambda", "AWS/ApiGateway", "SleepAdvisor/dev"}


def test_dashboard_has_the_widgets_on_call_needs(synthesis: Synthesis) -> None:
    _, dashboard = only(synthesis.template, "AWS::CloudWatch::Dashboard")
    widgets = {w["properties"].get("title"): w["properties"]
               for w in dashboard_widgets(synthesis.template)}

    assert {
        "Invocations and errors", f"Prediction probability: {MODEL.name} {MODEL.version}",
        "Maximum memory used (MB)",
        "Initialisation (cold-start) duration (ms), objective 10,000",
        "Function duration p50 / p90 / p99 (ms)", "API requests, 4xx, 5xx", "API latency (ms)",
        "Throttles and concurrent executions", "Cold starts", "Inference latency (ms)",
        "Requests rejected by the function", f"Answers per class: {MODEL.name}", "Alarms",
    } <= set(widgets)
    durations = widgets["Function duration p50 / p90 / p99 (ms)"]
    assert [m[-1]["stat"] for m in durations["metrics"]] == ["p50", "p90", "p99"]
    assert durations["annotations"]["horizontal"][0]["value"] == 10_000
    assert widgets["API latency (ms)"]["annotations"]["horizontal"][0]["value"] == 10_000
    assert len(widgets["Alarms"]["alarms"]) == 10  # eight service alarms, two rollout alarms
    drift = widgets[f"Input drift: {MODEL.name} {MODEL.version}"]
    assert [a["value"] for a in drift["annotations"]["horizontal"]] == [0.1, 0.25]
    assert drift["metrics"][0][:2] == ["SleepAdvisor/dev", "DriftScore"]
    assert dashboard["Properties"]["DashboardName"] == "sleep-advisor-dev"


# The values the alarm replay chose (benchmarks/alarm_replay.py; docs/monitoring.md).
FUNCTION_ERRORS = ("IF(invocations > 0, 100 * IF(deployed_invocations < invocations, "
                   "errors - deployed_errors, errors) / invocations, 0)")
API_5XX = "IF(requests > 0, 100 * (server_errors - errors - throttles) / requests, 0)"
EXPECTED_ALARMS = {
    # name: (metric or expression, statistic, period s, threshold, operator, evaluated, to alarm, missing)
    "function-errors": (FUNCTION_ERRORS, None, 60, 2, "GreaterThanOrEqualToThreshold", 60, 2,
                        "notBreaching"),
    "latency-p99": ("Latency", "p99", 60, 8000, "GreaterThanOrEqualToThreshold", 30, 2,
                    "notBreaching"),
    "throttles": ("Throttles", "Sum", 60, 1, "GreaterThanOrEqualToThreshold", 15, 1,
                  "notBreaching"),
    "api-5xx": (API_5XX, None, 60, 2, "GreaterThanOrEqualToThreshold", 60, 2, "notBreaching"),
    # Minutes with fewer than 3 answers have no datapoint, and the alarm keeps its state.
    "low-probability": ("IF(answers >= 3, probability)", None, 60,
                        MODEL.low_probability_threshold, "LessThanThreshold", 60, 3, "ignore"),
    "no-traffic": ("FILL(requests, 0)", None, 1800, 1, "LessThanThreshold", 1, 1, "breaching"),
    # The drift check writes no datapoint below 0.1 or without enough nights (FILL: 0); two
    # significant hours of three, so noise around a moderate shift does not flap.
    "input-drift": ("FILL(drift, 0)", None, 3600, 0.25, "GreaterThanOrEqualToThreshold", 3, 2,
                    "notBreaching"),
    "drift-check-failed": ("Errors", "Sum", 3600, 1, "GreaterThanOrEqualToThreshold", 3, 2,
                           "notBreaching"),
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
        if "(" in metric:
            [expression] = [q for q in properties["Metrics"] if "Expression" in q]
            assert expression["Expression"] == metric, name
            assert {q["MetricStat"]["Period"] for q in properties["Metrics"]
                    if "MetricStat" in q} == {period}, name
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




def test_every_dashboard_query_is_also_saved_in_the_account(synthesis: Synthesis) -> None:
    template = synthesis.template
    log_group = template["Resources"]["APIHandler"]["Properties"]["LoggingConfig"]["LogGroup"]
    saved = {d["Properties"]["Name"]: d["Properties"] for d in template["Resources"].values()
             if d["Type"] == "AWS::Logs::QueryDefinition"}
    queries = dashboard_queries(template)

    assert set(saved) == {f"sleep-advisor-dev/{title}" for title in queries}
    drift_log_group = {"Ref": logical_id(template, "AWS::Logs::LogGroup", "DriftCheckCheckLogs")}
    for title, query in queries.items():
        definition = saved[f"sleep-advisor-dev/{title}"]
        assert definition["QueryString"].split() == query.split()
        assert definition["LogGroupNames"] == [
            drift_log_group if title.startswith("Drift per feature") else log_group]


def test_a_stage_without_the_dashboard_keeps_every_alarm_and_saved_query(
    beta_synthesis: Synthesis, synthesis: Synthesis,
) -> None:
    beta = beta_synthesis.template
    default = synthesis.template

    def count(template: Mapping[str, Any], resource_type: str) -> int:
        return sum(r["Type"] == resource_type for r in template["Resources"].values())

    assert count(beta, "AWS::CloudWatch::Dashboard") == 0
    assert count(default, "AWS::CloudWatch::Dashboard") == 1
    for kept in ("AWS::CloudWatch::Alarm", "AWS::Logs::QueryDefinition"):
        assert count(beta, kept) == count(default, kept) > 0
    assert "DashboardName" not in beta["Outputs"]
