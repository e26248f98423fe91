"""Read and validate CloudWatch Embedded Metric Format lines, per the EMF specification."""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from typing import Any

# Units CloudWatch accepts (the MetricDatum Unit enumeration).
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}
MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
MAX_VALUES_PER_METRIC = 100


@dataclass(frozen=True)
class EmittedMetric:
    """One metric as CloudWatch will extract it: what a dashboard or alarm must match."""

    namespace: str
    name: str
    unit: str
    dimensions: frozenset[tuple[str, str]]
    values: tuple[float, ...]
    # The document's Timestamp: the datapoint's time (milliseconds since the epoch).
    timestamp_ms: int = 0


def emf_blobs(output: str) -> list[dict[str, Any]]:
    """Every EMF document among the lines of `output`, each validated."""
    blobs = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            validate_emf(blob)
            blobs.append(blob)
    return blobs


def validate_emf(blob: dict[str, Any]) -> None:
    metadata = blob["_aws"]
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 0
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= MAX_DIMENSIONS_PER_SET
            for key in dimension_set:
                assert isinstance(blob.get(key), str), f"dimension {key} is not a top-level string"
        assert 1 <= len(directive["Metrics"]) <= MAX_METRICS_PER_DIRECTIVE
        for metric in directive["Metrics"]:
            name = metric["Name"]
            assert isinstance(name, str) and 1 <= len(name) <= 255
            assert metric.get("Unit", "None") in CLOUDWATCH_UNITS, metric
            value = blob[name]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= MAX_VALUES_PER_METRIC
            assert all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)


def emitted_metrics(blobs: list[dict[str, Any]]) -> list[EmittedMetric]:
    metrics = []
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((key, blob[key]) for key in dimension_set)
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    metrics.append(EmittedMetric(
                        namespace=directive["Namespace"],
                        name=metric["Name"],
                        unit=metric.get("Unit", "None"),
                        dimensions=dimensions,
                        values=tuple(value if isinstance(value, list) else [value]),
                        timestamp_ms=blob["_aws"]["Timestamp"],
                    ))
    return metrics
