"""Every custom metric the dashboard and alarms use, and every log field the dashboard's
Logs Insights queries read, is one the function (or Lambda) really writes.

EMF and log lines are captured from the image's entry point under the runtime client, run with
the deployed function's environment variables from the CLI's template.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from sleep_advisor_infra.drift import DRIFT_CHECK_COMMAND

from benchmarks.drift_week import scheduled_event
from chalicelib import contract, drift_check
from chalicelib.drift_check import HOUR_MS
from chalicelib.proxy_event import api_gateway_event
from harness.cdk import Synthesis
from harness.cloudwatch_logs import FakeTopic
from harness.emf import emf_blobs, emitted_metrics
from harness.lambda_runtime import ImageLayout, LambdaFunction
from harness.logs_insights import (
    PLATFORM_LINES,
    dashboard_queries,
    equality_filters,
    field_value,
    fields_read,
    has_field,
    json_lines,
)
from harness.samples import BASELINE, INSTANCES_BY_ADVICE, JSON, MODEL_DIR, SAMPLE_INSTANCE
from harness.templates import MetricKey, alarm_metrics, dashboard_metrics
from tests.api.test_drift_check import NOW, NOW_MS, log_group_with, training_like

# The simulated "now" is a fixed date: Powertools warns that CloudWatch would drop a datapoint
# stamped hours away from the real clock, which a deployed check never is.
pytestmark = pytest.mark.filterwarnings(
    "ignore:This metric doesn't meet the requirements:UserWarning")


@pytest.fixture(scope="module")
def function_output(image_layout: ImageLayout, cli_synthesis: Synthesis) -> str:
    """What the image's entry point writes, with the deployed function's environment variables:
    a cold start, a batch answered with every class, a single night and a rejected request."""
    environment = {
        **cli_synthesis.template["Resources"]["APIHandler"]["Properties"]["Environment"][
            "Variables"],
        # Lambda names the function's environment after its physical name (what Ref returns)
        # and the version it runs (what the Version's GetAtt returns): what the dashboard's
        # and alarms' references render as here.
        "AWS_LAMBDA_FUNCTION_NAME": "<Ref:APIHandler>",
        "AWS_LAMBDA_FUNCTION_VERSION": "<GetAtt:APIHandler.Version.Version>",
    }
    with LambdaFunction.start(image_layout, environment) as function:
        every_class = {"instances": list(INSTANCES_BY_ADVICE.values())}
        for document in (every_class, {"features": SAMPLE_INSTANCE}, {"features": {"naps": 1}}):
            function.invoke(api_gateway_event("POST", "/predict", json.dumps(document), JSON))
        return function.output()


@pytest.fixture(scope="module")
def drift_check_output(cli_synthesis: Synthesis) -> str:
    """What the drift check writes, with its deployed environment, for a window that drifted:
    its line (the dashboard's per-feature query) and its metric (the drift alarm's)."""
    [check] = [r["Properties"] for r in cli_synthesis.template["Resources"].values()
               if r["Type"] == "AWS::Lambda::Function"
               and r["Properties"].get("ImageConfig", {}).get("Command") == [DRIFT_CHECK_COMMAND]]
    namespace = check["Environment"]["Variables"][contract.METRICS_NAMESPACE_VARIABLE]
    moved = BASELINE.features[0].name
    group = log_group_with((NOW_MS - HOUR_MS, training_like(2000, moved=moved)))
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output):
        patch.setenv(contract.METRICS_NAMESPACE_VARIABLE, namespace)
        line = drift_check.run_check(scheduled_event(NOW), logs=group, sns=FakeTopic(),
                                     log_group=group.name, topic_arn="arn:aws:sns:::a",
                                     stage="dev", model_dir=MODEL_DIR)
    assert line["band"] == "significant"
    return output.getvalue()


@pytest.fixture(scope="module")
def emitted(function_output: str, drift_check_output: str) -> set[MetricKey]:
    return {(m.namespace, m.name, m.dimensions)
            for m in emitted_metrics(emf_blobs(function_output + drift_check_output))}


def test_every_custom_metric_on_the_dashboard_and_alarms_is_emitted(
    cli_synthesis: Synthesis, emitted: set[MetricKey]
) -> None:
    template = cli_synthesis.template
    namespace = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"]
    used = set(dashboard_metrics(template)) | set(alarm_metrics(template))
    custom = {m for m in used if m[0] == namespace}

    assert namespace == "SleepAdvisor/dev"
    # Only what alarms read is paid for: the function's one metric, and the drift check's.
    assert {m[1] for m in custom} == {"PredictionProbability", contract.DRIFT_SCORE}
    assert custom <= emitted, custom - emitted


def test_every_field_a_dashboard_query_reads_is_in_the_lines_written(
    cli_synthesis: Synthesis, function_output: str, drift_check_output: str,
) -> None:
    lines = [*json_lines(function_output), *PLATFORM_LINES, *json_lines(drift_check_output)]
    queries = dashboard_queries(cli_synthesis.template)

    assert len(queries) == 7
    for title, query in queries.items():
        fields, filters = fields_read(query), equality_filters(query)
        assert fields and filters, title
        missing = {f for f in fields if not any(has_field(line, f) for line in lines)}
        assert not missing, f"{title!r} reads {missing}, which no log line carries"
        for field, value in filters:
            assert any(has_field(line, field) and field_value(line, field) == value
                       for line in lines), f"{title!r}: no line has {field} = {value!r}"
