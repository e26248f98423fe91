"""Every custom metric the dashboard and alarms use is one the function really writes.

EMF is captured from the image's entry point under the runtime client, run with the deployed
function's environment variables from the CLI's template.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sleep_advisor_infra.monitoring import INIT_DURATION, MAX_MEMORY_USED

from harness.cdk import Synthesis
from harness.checks import cfn_lint_errors, nag_violations, sam_transform, violations_in
from harness.emf import emf_blobs, emitted_metrics
from harness.lambda_runtime import ImageLayout, LambdaFunction, api_gateway_event
from harness.samples import INSTANCES_BY_ADVICE, JSON, SAMPLE_INSTANCE
from harness.templates import MetricKey, alarm_metrics, dashboard_metrics


@pytest.fixture(scope="module")
def emitted(image_layout: ImageLayout, cli_synthesis: Synthesis) -> set[MetricKey]:
    """EMF from the image's entry point with the deployed function's environment variables."""
    environment = {
        **cli_synthesis.template["Resources"]["APIHandler"]["Properties"]["Environment"][
            "Variables"],
        # Lambda names the function's environment after its physical name: what Ref returns,
        # and what the dashboard's references render as here.
        "AWS_LAMBDA_FUNCTION_NAME": "<Ref:APIHandler>",
    }
    with LambdaFunction.start(image_layout, environment) as function:
        every_class = {"instances": list(INSTANCES_BY_ADVICE.values())}
        for document in (every_class, {"features": SAMPLE_INSTANCE}, {"features": {"naps": 1}}):
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
    assert advice_classes == set(INSTANCES_BY_ADVICE)


def test_alerting_stack_is_clean_for_cdk_nag_after_the_transform(
    alerting_cli_synthesis: Synthesis, tmp_path: Path
) -> None:
    transformed = sam_transform(alerting_cli_synthesis.template)
    report = nag_violations(alerting_cli_synthesis.template, transformed, tmp_path)

    assert violations_in(report) == []
    assert cfn_lint_errors(alerting_cli_synthesis.template) == []
