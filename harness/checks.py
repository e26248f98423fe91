"""Offline checks of a synthesized template: SAM transform, cfn-lint, cdk-nag after transform."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import cloudformation_include
from samtranslator.translator.transform import transform
from sleep_advisor_infra.nag import acknowledge, attach_rule_packs

from harness.cdk import ACCOUNT, REGION, preserved_environment


class _NoManagedPolicies:
    """SAM looks managed policy names up in IAM; the function's role comes from CDK instead."""

    def load(self) -> dict[str, str]:
        return {}


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation will see it after `AWS::Serverless-2016-10-31`."""
    parameters = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
    with preserved_environment():
        return dict(transform(copy.deepcopy(template), parameters, _NoManagedPolicies()))


def cfn_lint_errors(template: dict[str, Any]) -> list[str]:
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(template), config=ManualArgs(regions=[REGION]))
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
            for m in matches if m.rule.id.startswith("E")]


def nag_violations(original: dict[str, Any], transformed: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the stack's cdk-nag packs on the transformed template; return the report.

    Acknowledgments travel in each resource's Metadata. SAM copies a serverless resource's
    Metadata onto the resource of the same logical id only, so those on a SAM resource are
    also applied here to what SAM generates from it (logical ids with the same prefix).
    """
    template = copy.deepcopy(transformed)
    template.get("Parameters", {}).pop("BootstrapVersion", None)
    template.pop("Rules", None)
    serverless = {
        logical_id: resource.get("Metadata", {}).get("cdk_nag")
        for logical_id, resource in original["Resources"].items()
        if resource["Type"].startswith("AWS::Serverless::")
    }
    for logical_id, resource in template["Resources"].items():
        for parent, acknowledged in serverless.items():
            if acknowledged and logical_id.startswith(parent) and "cdk_nag" not in resource.get(
                "Metadata", {}
            ):
                resource.setdefault("Metadata", {})["cdk_nag"] = acknowledged
    template_file = workdir / "transformed.json"
    template_file.write_text(json.dumps(template))

    outdir = workdir / "nag.out"
    # cdk-nag only: CloudFormation's own rules run as cfn-lint (cfn_lint_errors), and CDK's
    # built-in validation would report SAM's choices (a Version retained without an
    # UpdateReplacePolicy) as the project's.
    app = cdk.App(outdir=str(outdir), builtin_cloud_formation_validation=False)
    attach_rule_packs(app)
    stack = cdk.Stack(app, "Transformed", env=cdk.Environment(account=ACCOUNT, region=REGION))
    included = cloudformation_include.CfnInclude(stack, "Template", template_file=str(template_file))
    for logical_id, resource in template["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            acknowledge(included.get_resource(logical_id), rule["id"], rule["reason"])
    try:
        app.synth()
    except Exception as error:  # jsii surfaces the validation failure as a generic error
        if "Validation failed" not in str(error):
            raise
    report: dict[str, Any] = json.loads((outdir / "validation-report.json").read_text())
    return report


def violations_in(report: dict[str, Any], key: str = "violations") -> list[str]:
    """'rule construct-path' for every finding in a validation report.

    `key` is "violations" for unacknowledged findings, "suppressedViolations" for acknowledged.
    """
    found = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get(key, []):
            for violating in violation.get("violatingConstructs", []):
                found.append(f"{violation['ruleName']} {violating['constructPath']}")
    return found
