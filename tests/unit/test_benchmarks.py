"""The benchmark figures in the repository and what follows from them."""

from __future__ import annotations

import json

import pytest

from benchmarks.cost import (
    PRICES,
    Profile,
    StackSettings,
    billed_request_ms,
    cpu_share,
    monthly_bill,
    projected_init_s,
)
from benchmarks.run import choose_memory
from harness import REPO_ROOT

MEASURED = json.loads((REPO_ROOT / "docs" / "benchmarks.json").read_text())


def test_infra_memory_size_is_the_benchmarked_recommendation() -> None:
    context = json.loads((REPO_ROOT / "infra" / "cdk.json").read_text())["context"]
    report = (REPO_ROOT / "docs" / "benchmarks.md").read_text()

    assert context["memory_size_mb"] == MEASURED["recommended_memory_mb"]
    assert f"**Chosen: {MEASURED['recommended_memory_mb']} MB**" in report


def test_memory_choice_is_the_smallest_that_keeps_cold_starts_in_budget() -> None:
    measured = {"cold_start_cpu_s": 1.5, "cold_start_io_s": 0.1, "first_request_s": 0.01,
                "warm_handler_p50_ms": 1.0}

    chosen, ladder = choose_memory(measured, peak_rss_mb=150)

    # 512 MB: 1.5 / (512/1769) + 0.1 = 5.28 s, over the 5 s budget; 640 MB: 4.25 s.
    assert chosen == 640
    assert [row["fits"] for row in ladder][:4] == [False, False, False, True]


def test_projections_follow_the_cpu_share() -> None:
    measured = {"cold_start_cpu_s": 1.769, "cold_start_io_s": 0.2, "warm_handler_p50_ms": 0.8}

    assert cpu_share(1769) == cpu_share(3008) == 1.0
    assert projected_init_s(884, measured) == pytest.approx(1.769 / (884 / 1769) + 0.2)
    assert billed_request_ms(1769, measured) == 2  # 0.8 ms + 1 ms, rounded up


def test_bill_counts_every_item_and_the_free_tier() -> None:
    settings = StackSettings(memory_mb=1024, alarm_metrics=7, dashboards=1, metric_filters=2,
                             custom_emf_metrics=10, kms_keys=1, tracing=True, advice_classes=5)
    measured = {"cold_start_cpu_s": 1.0, "cold_start_io_s": 0.0, "warm_handler_p50_ms": 1.0}

    bill = {line["item"]: line for line in monthly_bill(settings, Profile(), measured, 1000)}

    assert bill["API Gateway REST API"]["list_usd"] == pytest.approx(200_000 * PRICES["rest_api_request"][0])
    assert bill["CloudWatch custom metrics"]["list_usd"] == pytest.approx(12 * 0.30)
    assert bill["CloudWatch custom metrics"]["after_free_tier_usd"] == pytest.approx(2 * 0.30)
    assert bill["CloudWatch dashboard"]["after_free_tier_usd"] == 0
    assert bill["X-Ray traces"]["after_free_tier_usd"] == pytest.approx(100_000 * 5 / 1e6)
    assert bill["KMS key (alarm topic)"]["after_free_tier_usd"] == 1.00
