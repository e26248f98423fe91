"""Dashboard, alarms and alerting: every metric they use is one that is really written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sleep_advisor_infra.alerting import CHATBOT_READ_ACTIONS
from sleep_advisor_infra.monitoring import INIT_DURATION, MAX_MEMORY_USED

from tests.bad_requests import JSON
from tests.conftest import NIGHTS_BY_ADVICE, SHORT_NIGHT
from tests.emf import emf_blobs, emitted_metrics
from tests.infra.conftest import Synthesis
from tests.infra.template_checks import (
    cfn_lint_errors,
    nag_violations,
    sam_transform,
    violations_in,
)
from tests.lambda_runtime import ImageLayout, LambdaFunction, api_gateway_event

Dimensions = frozenset[tuple[str, str]]
MetricKey = tuple[str, str, Dimensions]

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


def _render(value: Any) -> str:
    """A CloudFormation string expression with each reference written as <Ref:LogicalId>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part) for part in parts)
    if "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    raise ValueError(value)


def dashboard_metrics(template: dict[str, Any]) -> list[MetricKey]:
    [dashboard] = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.loads(_render(dashboard["Properties"]["DashboardBody"]))
    found = []
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            fields = [f for f in metric if not isinstance(f, dict)]
            namespace, name, *pairs = fields
            found.append((namespace, name, frozenset(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def alarm_metrics(template: dict[str, Any]) -> list[MetricKey]:
    found = []
    for alarm in _alarms(template).values():
        properties = alarm["Properties"]
        stats = ([q["MetricStat"]["Metric"] for q in properties["Metrics"] if "MetricStat" in q]
                 if "Metrics" in properties else [properties])
        for metric in stats:
            dimensions = frozenset((d["Name"], _render(d["Value"]))
                                   for d in metric.get("Dimensions", []))
            found.append((metric["Namespace"], metric["MetricName"], dimensions))
    return found


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["AlarmName"].rsplit("-dev-", 1)[1]: r
            for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _only(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, found)] = [(k, r) for k, r in template["Resources"].items()
                             if r["Type"] == resource_type]
    return logical_id, found


@pytest.fixture(scope="module")
def emitted(image_layout: ImageLayout, cli_synthesis: Synthesis) -> set[MetricKey]:
    """EMF from the image's entry point with the deployed function's environment variables."""
    environment = cli_synthesis.template["Resources"]["APIHandler"]["Properties"][
        "Environment"]["Variables"]
    with LambdaFunction.start(image_layout, environment) as function:
        every_class = {"instances": list(NIGHTS_BY_ADVICE.values())}
        for document in (every_class, {"features": SHORT_NIGHT}, {"features": {"naps": 1}}):
            function.invoke(api_gateway_event("POST", "/predict", json.dumps(document), JSON))
        output = function.output()
    return {(m.namespace, m.name, m.dimensions) for m in emitted_metrics(emf_blobs(output))}


def test_every_custom_metric_on_the_dashboard_and_alarms_is_emitted(
    cli_synthesis: Synthesis, emitted: set[MetricKey]
) -> None:
    template = cli_synthesis.template
    namespace = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"]
    used = set(dashboard_metrics(template)) | set(alarm_metrics(template))
    custom = {m for m in used if m[0] == namespace and m[1] not in (MAX_MEMORY_USED, INIT_DURATION)}

    assert namespace == "SleepAdvisor/dev"
    assert custom, "the dashboard shows custom metrics"
    assert custom <= emitted, custom - emitted
    advice_classes = {dict(m[2]).get("Advice") for m in custom if m[1] == "AdviceGiven"}
    assert advice_classes == set(NIGHTS_BY_ADVICE)


def test_platform_metrics_come_from_metric_filters_on_the_function_logs(
    cli_synthesis: Synthesis,
) -> None:
    template = cli_synthesis.template
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


def test_aws_metrics_use_the_generated_function_and_api(cli_synthesis: Synthesis) -> None:
    template = cli_synthesis.template
    api = template["Resources"]["RestAPI"]["Properties"]
    used = set(dashboard_metrics(template)) | set(alarm_metrics(template))
    lambda_dimensions = {m[2] for m in used if m[0] == "AWS/Lambda"}
    api_dimensions = {m[2] for m in used if m[0] == "AWS/ApiGateway"}

    assert lambda_dimensions == {frozenset({("FunctionName", "<Ref:APIHandler>")})}
    assert api_dimensions == {frozenset({("ApiName", api["Name"]), ("Stage", api["StageName"])})}
    assert api["Name"] == "sleep-advisor-dev"
    assert {m[0] for m in used} == {"AWS/Lambda", "AWS/ApiGateway", "SleepAdvisor/dev"}


def test_dashboard_has_the_widgets_on_call_needs(cli_synthesis: Synthesis) -> None:
    _, dashboard = _only(cli_synthesis.template, "AWS::CloudWatch::Dashboard")
    body = json.loads(_render(dashboard["Properties"]["DashboardBody"]))
    widgets = {w["properties"].get("title"): w["properties"] for w in body["widgets"]}

    assert {
        "Invocations and errors", "Model prediction probability", "Maximum memory used (MB)",
        "Initialisation (cold-start) duration (ms)", "Function duration p50 / p90 / p99 (ms)",
        "API requests, 4xx, 5xx", "API latency (ms)", "Throttles and concurrent executions",
        "Cold starts and inference latency", "Predictions per advice class", "Alarms",
    } <= set(widgets)
    durations = widgets["Function duration p50 / p90 / p99 (ms)"]
    assert [m[-1]["stat"] for m in durations["metrics"]] == ["p50", "p90", "p99"]
    assert durations["annotations"]["horizontal"][0]["value"] == 10_000
    assert widgets["API latency (ms)"]["annotations"]["horizontal"][0]["value"] == 10_000
    assert len(widgets["Alarms"]["alarms"]) == 6
    assert dashboard["Properties"]["DashboardName"] == "sleep-advisor-dev"


EXPECTED_ALARMS = {
    # name: (metric or expression, statistic, period s, threshold, operator, evaluated, to alarm, missing)
    "function-errors": ("expression", None, 300, 5, "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "latency-p99": ("Latency", "p99", 300, 8000, "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "throttles": ("Throttles", "Sum", 300, 1, "GreaterThanOrEqualToThreshold", 1, 1, "notBreaching"),
    "api-5xx": ("5XXError", "Average", 300, 0.05, "GreaterThanOrEqualToThreshold", 3, 2, "notBreaching"),
    "low-probability": (
        "PredictionProbability", "Average", 900, 0.45, "LessThanThreshold", 2, 2, "notBreaching"),
    "no-traffic": ("Count", "Sum", 3600, 1, "LessThanThreshold", 12, 12, "breaching"),
}


def test_alarm_thresholds_periods_statistics_and_actions(cli_synthesis: Synthesis) -> None:
    template = cli_synthesis.template
    topic_id, _ = _only(template, "AWS::SNS::Topic")
    alarms = _alarms(template)

    assert set(alarms) == set(EXPECTED_ALARMS)
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


def test_topic_is_encrypted_with_a_rotating_key_cloudwatch_may_use(cli_synthesis: Synthesis) -> None:
    template = cli_synthesis.template
    key_id, key = _only(template, "AWS::KMS::Key")
    _, topic = _only(template, "AWS::SNS::Topic")
    _, topic_policy = _only(template, "AWS::SNS::TopicPolicy")

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
    [publish] = [s for s in statements if s["Effect"] == "Allow"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"


def test_without_slack_ids_the_stack_synthesizes_without_chatbot_and_warns(
    cli_synthesis: Synthesis,
) -> None:
    types = {r["Type"] for r in cli_synthesis.template["Resources"].values()}

    assert "AWS::Chatbot::SlackChannelConfiguration" not in types
    assert "AWS::SNS::Subscription" not in types
    assert "Slack alerts are off" in cli_synthesis.output


def test_slack_channel_is_read_only_and_subscribed(alerting_synthesis: Synthesis) -> None:
    template = alerting_synthesis.template
    _, channel = _only(template, "AWS::Chatbot::SlackChannelConfiguration")
    topic_id, _ = _only(template, "AWS::SNS::Topic")
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
    assert "Slack alerts are off" not in alerting_synthesis.output


def test_email_subscription_by_context(alerting_synthesis: Synthesis) -> None:
    _, subscription = _only(alerting_synthesis.template, "AWS::SNS::Subscription")

    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"


def test_alerting_stack_is_clean_for_cdk_nag_after_the_transform(
    alerting_synthesis: Synthesis, tmp_path: Path
) -> None:
    transformed = sam_transform(alerting_synthesis.template)
    report = nag_violations(alerting_synthesis.template, transformed, tmp_path)

    assert violations_in(report) == []
    assert cfn_lint_errors(alerting_synthesis.template) == []
