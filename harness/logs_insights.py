"""What a dashboard's Logs Insights queries read, and the log lines Lambda itself writes.

A query that names a field no log line carries draws an empty graph without any error, so the
suite checks every field and every `field = "value"` filter of every query against the lines
really written: the function's, captured from the image under the runtime client, and
Lambda's `platform.report` lines below.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.templates import dashboard_widgets

# Lambda's report after each invocation, as it writes it to a function whose log format is
# JSON: the `platform.report` event of the Telemetry API schema reference
# (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html#platform-report,
# record fields requestId, metrics {durationMs, billedDurationMs, memorySizeMB,
# maxMemoryUsedMB, initDurationMs (cold starts only)}, tracing, status) inside the envelope
# of https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html.
COLD_PLATFORM_REPORT: dict[str, Any] = {
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
WARM_PLATFORM_REPORT: dict[str, Any] = {
    **COLD_PLATFORM_REPORT,
    "record": {**COLD_PLATFORM_REPORT["record"],
               "metrics": {"durationMs": 2.1, "billedDurationMs": 3, "memorySizeMB": 1024,
                           "maxMemoryUsedMB": 177}},
}
PLATFORM_LINES = (COLD_PLATFORM_REPORT, WARM_PLATFORM_REPORT)

# Words of the query language that are not fields.
_COMMANDS = {"fields", "filter", "stats", "sort", "limit", "display", "parse", "dedup"}
_KEYWORDS = {"and", "or", "not", "by", "as", "asc", "desc", "in", "like", "SOURCE"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_TOKEN = re.compile(r"(?<![\w.@])[A-Za-z_@][\w.@]*(?=\s*(\()?)")
_EQUALS = re.compile(r'([A-Za-z_][\w.]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def dashboard_queries(template: dict[str, Any]) -> dict[str, str]:
    """Each Logs Insights widget's query by title, without its SOURCE clause."""
    return {w["properties"]["title"]: w["properties"]["query"].split("|", 1)[1]
            for w in dashboard_widgets(template) if w["type"] == "log"}


def fields_read(query: str) -> set[str]:
    """The log fields a query reads: names that are not commands, keywords, functions, the
    aliases it defines (`as name`) or Logs Insights' own @-fields."""
    without_strings = _STRING.sub(" ", query)
    aliases = set(re.findall(r"\bas\s+([A-Za-z_]\w*)", without_strings))
    fields = set()
    for match in _TOKEN.finditer(without_strings):
        name, is_call = match.group(0), match.group(1)
        if is_call or name.startswith("@") or name in _COMMANDS | _KEYWORDS | aliases:
            continue
        fields.add(name)
    return fields


def equality_filters(query: str) -> set[tuple[str, str]]:
    """Each `field = "value"` a query filters on."""
    return set(_EQUALS.findall(query))


def field_value(line: dict[str, Any], path: str) -> Any:
    """A dotted field as Logs Insights flattens JSON (a.b.c), or KeyError."""
    value: Any = line
    for key in path.split("."):
        if not isinstance(value, dict):
            raise KeyError(path)
        value = value[key]
    return value


def has_field(line: dict[str, Any], path: str) -> bool:
    try:
        field_value(line, path)
    except KeyError:
        return False
    return True


def json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON log lines among `output` that are not EMF documents."""
    lines = []
    for text in output.splitlines():
        text = text.strip()
        if text.startswith("{") and '"_aws"' not in text:
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                continue
    return lines
