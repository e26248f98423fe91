"""The benchmark figures in the repository and what follows from them: the memory rule, the
traffic model behind the X-Ray line, and the bill's yearly and free-tier arithmetic."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sleep_advisor_infra.config import StageConfig

from benchmarks.cost import (
    COGNITO_FREE_MAU,
    DEFAULT_TARGET_USD,
    ORIGINAL_MONTHLY_USD,
    PRICES,
    FunctionOutput,
    Profile,
    StackSettings,
    after_free_tier,
    billed_request_ms,
    cpu_share,
    monthly_lines,
    projected_init_s,
    traced_share,
)
from benchmarks.run import MEMORY_LADDER_MB, choose_memory
from harness import REPO_ROOT

MEASURED = json.loads((REPO_ROOT / "docs" / "benchmarks.json").read_text())
SETTINGS = StackSettings(
    memory_mb=1769, hook_memory_mb=256, alarm_metrics=9, dashboards=1, dashboard_queries=6,
    kms_keys=1, key_rotation=True, trace_reservoir=0, trace_rate=0.05, user_pool=True,
    user_pool_tier="LITE", golden_examples=10, drift_check_memory_mb=512,
    drift_checks_per_day=24)
FIGURES = {"cold_start_cpu_s": 1.5, "cold_start_io_s": 0.1, "first_request_s": 0.01,
           "warm_handler_p50_ms": 1.0,
           "drift_check": {"aggregate_lines_per_week": 2000, "aggregate_line_bytes": 1000,
                           "check_line_bytes": 1500, "datapoint_hours_per_week": 0,
                           "check_start_cpu_s": 1.0, "check_run_cpu_s": 0.1,
                           "requests_per_week": 46_000},
           "image_layers_gzip_mb": {"dependencies": 90.0, "service code": 0.1, "model": 0.1,
                                    "base image": 170.0}}
OUTPUT = FunctionOutput(log_bytes=800, custom_metrics=1)


def by_item(settings: StackSettings = SETTINGS, profile: Profile | None = None,
            year: int = 1) -> dict[str, Any]:
    lines = monthly_lines(settings, profile or Profile(), FIGURES, OUTPUT, year)
    return {line.item: line for line in lines}


def test_infra_memory_size_is_the_benchmarked_recommendation() -> None:
    report = (REPO_ROOT / "docs" / "benchmarks.md").read_text()

    assert StageConfig().memory_size_mb == MEASURED["recommended_memory_mb"]
    assert f"**Chosen: {MEASURED['recommended_memory_mb']} MB**" in report
    sweep = [row["memory_mb"] for row in MEASURED["memory_sweep"]]
    assert sweep[0] <= 512 and sweep[-1] >= 3008


def test_the_committed_bill_meets_its_targets() -> None:
    bill = MEASURED["bill"]

    assert bill["default"]["year 1"]["total_list_usd"] <= DEFAULT_TARGET_USD
    assert bill["beta"]["year 1"]["total_list_usd"] <= ORIGINAL_MONTHLY_USD
    assert (bill["default"]["year 1"]["total_list_usd"] < bill["default"]["year 2"]["total_list_usd"]
            < bill["default"]["year 3+"]["total_list_usd"])


def test_memory_climbs_while_a_step_buys_100_ms_a_cent_and_stops_where_cpu_stops() -> None:
    # Cheap steps: every size up to one full vCPU saves far more than 100 ms per cent.
    chosen, ladder = choose_memory(FIGURES, peak_rss_mb=150, usd=lambda mb: 6 + mb / 1e6)

    assert [row["memory_mb"] for row in ladder] == list(MEMORY_LADDER_MB)
    assert chosen == 1769
    assert ladder[MEMORY_LADDER_MB.index(2048)]["saves_ms"] == 0  # one vCPU is the ceiling


def test_memory_stays_low_when_steps_cost_more_than_they_save() -> None:
    # A cent per megabyte: 512 -> 640 MB saves ~1.2 s for 128 cents, under 100 ms a cent.
    chosen, ladder = choose_memory(FIGURES, peak_rss_mb=150, usd=lambda mb: mb / 100)

    assert chosen == 512
    assert 0 < ladder[1]["saves_ms"] / ladder[1]["extra_cents"] < 100


def test_memory_starts_where_the_peak_fits() -> None:
    chosen, ladder = choose_memory(FIGURES, peak_rss_mb=400, usd=lambda mb: mb / 100)

    assert chosen == 640  # 512 MB is under 1.5 x 400 MB
    assert [row["fits"] for row in ladder][:2] == [False, True]


def test_projections_follow_the_cpu_share() -> None:
    measured = {"cold_start_cpu_s": 1.769, "cold_start_io_s": 0.2, "warm_handler_p50_ms": 0.8}

    assert cpu_share(1769) == cpu_share(3008) == 1.0
    assert projected_init_s(884, measured) == pytest.approx(1.769 / (884 / 1769) + 0.2)
    assert billed_request_ms(1769, measured) == 2  # 0.8 ms + 1 ms, rounded up


def test_a_fixed_rate_rule_traces_exactly_its_rate() -> None:
    assert traced_share(Profile(), reservoir_per_second=0, fixed_rate=0.05) == pytest.approx(0.05)


def test_the_default_rule_traces_less_the_more_peaked_the_traffic() -> None:
    flat = Profile(peak_share=0.0)
    sharp = Profile(peak_sigma_minutes=20)
    busy = Profile(requests=200_000_000)

    # With a request every few seconds, the first of each second is nearly every request.
    assert traced_share(flat, 1, 0.05) > 0.95
    assert 0.65 < traced_share(sharp, 1, 0.05) < traced_share(Profile(), 1, 0.05) < 0.95
    # At dozens a second the 5 % dominates.
    assert traced_share(busy, 1, 0.05) < 0.07


def test_the_profile_spreads_the_month_over_two_peaks() -> None:
    profile = Profile()
    rates = profile.per_minute_rates()

    assert sum(rates) * 60 * profile.days == pytest.approx(profile.requests, rel=1e-6)
    assert rates.index(max(rates)) in (7 * 60, 22 * 60 + 30)
    assert max(rates) > 10 * min(rates)


def test_the_key_costs_a_dollar_more_for_each_of_its_first_two_rotations() -> None:
    keys = [by_item(year=year)["KMS key (alarm topic)"].list_usd for year in (1, 2, 3, 4)]
    no_rotation = dataclasses.replace(SETTINGS, key_rotation=False)

    assert keys == [1.00, 2.00, 3.00, 3.00]
    assert by_item(no_rotation, year=3)["KMS key (alarm topic)"].list_usd == 1.00


def test_cognito_bills_only_users_above_the_free_ten_thousand() -> None:
    small = Profile(requests_per_active_user=30)  # 6,667 users
    large = Profile(requests=600_000, requests_per_active_user=30)  # 20,000 users

    assert by_item(profile=small)["Cognito user pool"].list_usd == 0
    assert by_item(profile=large)["Cognito user pool"].list_usd == pytest.approx(
        (20_000 - COGNITO_FREE_MAU) * PRICES["cognito_mau_lite"].usd)
    without_pool = dataclasses.replace(SETTINGS, user_pool=False)
    assert by_item(without_pool, large)["Cognito user pool"].quantity == 0


def test_ecr_holds_the_base_once_and_each_kept_image() -> None:
    ecr = by_item()["ECR image storage"]

    assert ecr.quantity == pytest.approx((170.0 + 3 * 90.2) / 1000)


def test_free_tier_is_used_once_across_lines() -> None:
    lines = monthly_lines(SETTINGS, Profile(), FIGURES, OUTPUT)
    free = dict(zip((line.item for line in lines), after_free_tier(lines), strict=True))
    items = {line.item: line for line in lines}

    assert items["API Gateway REST API"].list_usd == pytest.approx(0.74)
    assert free["API Gateway REST API"] == pytest.approx(0.74)  # no always-free allowance
    assert free["CloudWatch dashboard"] == 0 and free["CloudWatch alarms"] == 0
    assert free["KMS key (alarm topic)"] == 1.00
    # Both Lambda request lines draw on the same million free requests.
    assert free["Lambda requests"] == free["Rollout: invocations"] == 0


def test_cloudwatch_logs_share_one_free_allowance() -> None:
    heavy = Profile(dashboard_views_per_day=300)  # scans far beyond the free 5 GB
    lines = monthly_lines(SETTINGS, heavy, FIGURES, OUTPUT)
    free = dict(zip((line.item for line in lines), after_free_tier(lines), strict=True))
    items = {line.item: line for line in lines}
    logs = ("CloudWatch Logs ingestion", "CloudWatch Logs storage", "CloudWatch Logs Insights (dashboard)")

    assert free["CloudWatch Logs ingestion"] == 0
    paid_gb = sum(free[item] / PRICES[items[item].price_key].usd for item in logs)
    assert paid_gb == pytest.approx(sum(items[item].quantity for item in logs) - 5)
