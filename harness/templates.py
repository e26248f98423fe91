"""Reading a synthesized template: its resources, dashboard metrics and alarms."""

from __future__ import annotations

import json
import re
from typing import Any

Dimensions = frozenset[tuple[str, str]]
MetricKey = tuple[str, str, Dimensions]

def render_reference(value: Any) -> str:
    """A CloudFormation string expression with each reference written as <Ref:LogicalId>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render_reference(part) for part in parts)
    if "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([\w:]+)(?:\.(\w+))?\}", lambda m: (
            f"<GetAtt:{m.group(1)}.{m.group(2)}>" if m.group(2) else f"<Ref:{m.group(1)}>"),
            value["Fn::Sub"])
    raise ValueError(value)


def dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The widgets of the template's one dashboard, references rendered as <Ref:...>."""
    [dashboard] = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::CloudWatch::Dashboard"]
    widgets: list[dict[str, Any]] = json.loads(
        render_reference(dashboard["Properties"]["DashboardBody"]))["widgets"]
    return widgets


def dashboard_metrics(template: dict[str, Any]) -> list[MetricKey]:
    found = []
    for widget in dashboard_widgets(template):
        for metric in widget["properties"].get("metrics", []):
            fields = [f for f in metric if not isinstance(f, dict)]
            namespace, name, *pairs = fields
            found.append((namespace, name, frozenset(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def alarm_metrics(template: dict[str, Any]) -> list[MetricKey]:
    found = []
    for alarm in alarms_by_name(template).values():
        properties = alarm["Properties"]
        stats = ([q["MetricStat"]["Metric"] for q in properties["Metrics"] if "MetricStat" in q]
                 if "Metrics" in properties else [properties])
        for metric in stats:
            dimensions = frozenset((d["Name"], render_reference(d["Value"]))
                                   for d in metric.get("Dimensions", []))
            found.append((metric["Namespace"], metric["MetricName"], dimensions))
    return found


# A rollout alarm's name ends in the fingerprint of the version it judges.
_VERSION_SUFFIX = re.compile(r"-[0-9a-f]{10}$")


def alarms_by_name(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stage's alarms by short name (`rollout-errors`, without its version's fingerprint)."""
    return {_VERSION_SUFFIX.sub("", r["Properties"]["AlarmName"].rsplit("-dev-", 1)[1]): r
            for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}


def only(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, found)] = [(k, r) for k, r in template["Resources"].items()
                             if r["Type"] == resource_type]
    return logical_id, found


def resource(template: Any, logical_id: str) -> dict[str, Any]:
    """One resource of a template (an aws_cdk.assertions.Template or its JSON)."""
    document = template if isinstance(template, dict) else template.to_json()
    found: dict[str, Any] = document["Resources"][logical_id]
    return found


def only_of(template: Any, resource_type: str) -> tuple[str, dict[str, Any]]:
    """The one resource of `resource_type` (an assertions.Template or its JSON)."""
    document = template if isinstance(template, dict) else template.to_json()
    return only(document, resource_type)


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def logical_id(template: dict[str, Any], resource_type: str, prefix: str) -> str:
    """The logical id of the one resource of `resource_type` whose id starts with `prefix`."""
    [found] = [k for k in resources_of(template, resource_type) if k.startswith(prefix)]
    return found


def statements_of(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to the role `role_id`."""
    return [statement for policy in resources_of(template, "AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]]


def actions_of(template: dict[str, Any], role_id: str) -> dict[str, list[Any]]:
    """The role's actions, each with every resource a statement grants it on."""
    actions: dict[str, list[Any]] = {}
    for statement in statements_of(template, role_id):
        listed = statement["Action"]
        for action in [listed] if isinstance(listed, str) else listed:
            resources = statement["Resource"]
            actions.setdefault(action, []).extend(
                resources if isinstance(resources, list) else [resources])
    return actions
