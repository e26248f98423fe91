"""The stack's bill for year 1, year 2 and year 3 on, from what it really deploys.

    python -m benchmarks.cost [--requests 200000] [--memory-mb N] [--json]

It prices the default stage and the beta setting (`-c dashboard=false`) side by side; `--json`
writes one JSON document on stdout (progress goes to stderr).

The stack is synthesized in-process to read what it deploys (memory, alarms and the metrics
they evaluate, dashboards and their Logs Insights queries, KMS keys and their rotation, the
X-Ray sampling rule, the user pool's feature plan, the rollout's hook); the function's log
volume and custom metrics per request are measured from real requests to the app; start-up,
request time and the image's layer sizes come from docs/benchmarks.json (written by
`make bench`). Prices: AWS's public list prices for eu-central-1 (Frankfurt), each with its
source page.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO_ROOT

PRICES_AS_OF = "2026-11-25"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


LAMBDA = "https://aws.amazon.com/lambda/pricing/"
CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
# Checked against the pages on the date above; the build machine has no internet access, so
# re-check them before quoting a bill.
PRICES = {
    "lambda_gb_second": Price(0.0000166667, "per GB-second (x86)", LAMBDA),
    "lambda_request": Price(0.20 / 1e6, "per request", LAMBDA),
    "rest_api_request": Price(3.70 / 1e6, "per REST API request (first 333 M)",
                              "https://aws.amazon.com/api-gateway/pricing/"),
    "custom_metric": Price(0.30, "per custom metric per month (first 10,000)", CLOUDWATCH),
    "alarm_metric": Price(0.10, "per standard-resolution alarm metric per month", CLOUDWATCH),
    "dashboard": Price(3.00, "per dashboard per month", CLOUDWATCH),
    "log_ingestion_gb": Price(0.63, "per GB ingested (standard class)", CLOUDWATCH),
    "log_storage_gb": Price(0.0324, "per GB-month archived", CLOUDWATCH),
    "logs_insights_gb": Price(0.0063, "per GB scanned by Logs Insights queries", CLOUDWATCH),
    "xray_trace": Price(5.00 / 1e6, "per trace recorded", "https://aws.amazon.com/xray/pricing/"),
    "kms_key": Price(1.00, "per customer-managed key per month; each of its first two "
                     "rotations adds $1 a month, later ones are free",
                     "https://aws.amazon.com/kms/pricing/"),
    "kms_request": Price(0.03 / 10_000, "per API request", "https://aws.amazon.com/kms/pricing/"),
    "sns_publish": Price(0.50 / 1e6, "per publish (64 KB chunk)", "https://aws.amazon.com/sns/pricing/"),
    "ecr_gb_month": Price(0.10, "per GB-month stored in a private repository",
                          "https://aws.amazon.com/ecr/pricing/"),
    "cognito_mau_lite": Price(0.0055, "per monthly active user above 10,000 (Lite feature "
                              "plan; the first 10,000 a month cost nothing)",
                              "https://aws.amazon.com/cognito/pricing/"),
    "codedeploy_lambda": Price(0.0, "per deployment to Lambda (no charge)",
                               "https://aws.amazon.com/codedeploy/pricing/"),
    "eventbridge_aws_event": Price(0.0, "per AWS service event on the default bus (no charge)",
                                   "https://aws.amazon.com/eventbridge/pricing/"),
    "logs_filter_gb": Price(0.0, "per GB read with FilterLogEvents (not a priced item; Logs "
                            "Insights would charge per GB scanned)", CLOUDWATCH),
    # Priced for the decision in docs/benchmarks.md, not deployed: the page's US East figures.
    "snapstart_cache_gb_second": Price(0.0000015046, "per GB-second cached, for each SnapStart "
                                       "version while it is active (Python)", LAMBDA),
    "snapstart_restore_gb": Price(0.0001397998, "per GB restored at a cold start (Python)",
                                  LAMBDA),
}
# AWS's always-free allowances per account and month. The 12-month offers (API Gateway, ECR)
# no longer exist for accounts opened after 15 July 2025 (credits replaced them), so none is
# counted. Cognito's free 10,000 users are part of its price table, in both columns.
FREE_TIER: dict[str, float] = {
    "lambda_gb_second": 400_000, "lambda_request": 1_000_000, "custom_metric": 10,
    "alarm_metric": 10, "dashboard": 3, "logs_gb": 5, "xray_trace": 100_000,
    "kms_request": 20_000, "sns_publish": 1_000_000,
}
# CloudWatch's free 5 GB a month cover log ingestion, archive storage and Logs Insights scans
# together.
FREE_POOL = {"log_ingestion_gb": "logs_gb", "log_storage_gb": "logs_gb", "logs_insights_gb": "logs_gb"}
COGNITO_FREE_MAU = 10_000
ORIGINAL_MONTHLY_USD = 5.75
# $7.00 until the alarm replay's tuning (docs/monitoring.md, "Alarm replay"): its one-minute
# rate alarms read each of their inputs as an alarm metric of its own, 18 instead of 11, for
# $0.70 a month at list price.
DEFAULT_TARGET_USD = 7.75
# Bytes Lambda writes per invocation with the JSON log format besides the function's own
# lines: platform.start (about 150 bytes) and platform.report (the documented sample).
PLATFORM_START_BYTES = 150
# The access log line: its format with values of a typical request.
ACCESS_LOG_VALUES = {
    "requestId": "6f7f0961-0b09-4f5b-8f52-1d2b4c9b0a10", "extendedRequestId": "Xyz1AbCdEfGhIjK=",
    "ip": "203.0.113.10", "userAgent": "SleepAdvisor/1.4 (iPhone; iOS 18.1)",
    "requestTime": "25/Nov/2026:07:00:01 +0000", "httpMethod": "POST",
    "resourcePath": "/predict", "status": "200", "protocol": "HTTP/1.1", "responseLength": "171",
    "responseLatency": "31", "integrationLatency": "27", "integrationStatus": "200",
    "errorType": "-", "authorizerError": "-",
    "xrayTraceId": "Root=1-6b072495-825dc369cc4045d989f564cf",
}
# Archived logs compress to about this share of what was ingested.
LOG_COMPRESSION = 0.15


@dataclass(frozen=True)
class Profile:
    """Who uses the service and how, stated once.

    Traffic has two daily peaks, waking up and going to bed: each a normal curve (standard
    deviation `peak_sigma_minutes`) holding `peak_share` of the day's requests, around
    07:00 and 22:30; the rest is spread evenly over the day.
    """

    requests: int = 200_000
    days: float = 30.4
    peak_hours: tuple[float, ...] = (7.0, 22.5)
    peak_share: float = 0.45
    peak_sigma_minutes: float = 45.0
    # Lambda keeps environments warm between requests minutes apart, recycles them every few
    # hours and adds some at each peak.
    cold_starts_per_day: int = 40
    # A user asks in the morning or the evening of about one day in two.
    requests_per_active_user: float = 30.0
    deploys_per_month: int = 4
    # The dashboard's default range is one day: each view scans a day of the function's log.
    dashboard_views_per_day: float = 3.0
    # Alarm state changes (ALARM and OK) and deployment events, each one SNS message.
    notifications_per_month: int = 40
    # A rollback needs the live version's image and the previous one; one more is in flight.
    images_kept: int = 3

    def per_minute_rates(self) -> list[float]:
        """Requests per second in each minute of a day."""
        daily = self.requests / self.days
        sigma = self.peak_sigma_minutes
        rates = []
        for minute in range(1440):
            peaks = 0.0
            for hour in self.peak_hours:
                # Distance on the 24-hour circle, so a peak near midnight wraps around.
                distance = min(abs(minute - hour * 60), 1440 - abs(minute - hour * 60))
                peaks += math.exp(-0.5 * (distance / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            spread = (1 - self.peak_share * len(self.peak_hours)) / 1440
            rates.append(daily * (self.peak_share * peaks + spread) / 60)
        return rates

    @property
    def monthly_active_users(self) -> int:
        return round(self.requests / self.requests_per_active_user)


def traced_share(profile: Profile, reservoir_per_second: int, fixed_rate: float) -> float:
    """The share of requests an X-Ray sampling rule records under `profile`'s traffic.

    Each second the rule records the first `reservoir_per_second` matching requests, then
    `fixed_rate` of the rest; requests within a second arrive as a Poisson process.
    """
    traced = total = 0.0
    for rate in profile.per_minute_rates():
        within = _expected_min(rate, reservoir_per_second)
        traced += 60 * (within + fixed_rate * (rate - within))
        total += 60 * rate
    return traced / total if total else 0.0


def _expected_min(rate: float, cap: int) -> float:
    """E[min(N, cap)] for N ~ Poisson(rate)."""
    if cap == 0:
        return 0.0
    probability, below = math.exp(-rate), 0.0
    for k in range(cap):  # sum over k < cap of (cap - k) P(N = k), subtracted from cap
        below += (cap - k) * probability
        probability *= rate / (k + 1)
    return cap - below


@dataclass(frozen=True)
class StackSettings:
    """What one stage deploys that has a price."""

    memory_mb: int
    hook_memory_mb: int
    alarm_metrics: int
    dashboards: int
    dashboard_queries: int
    kms_keys: int
    key_rotation: bool
    trace_reservoir: int
    trace_rate: float
    user_pool: bool
    user_pool_tier: str
    golden_examples: int
    drift_check_memory_mb: int
    drift_checks_per_day: int


def _infra_importable() -> None:
    infra = str(REPO_ROOT / "infra")
    if infra not in sys.path:
        sys.path.append(infra)  # after the repository root: both have an app.py


def read_stack(**context: Any) -> StackSettings:
    """Synthesize a stage in-process with `context` and count what it deploys."""
    from chalicelib.contract import BUNDLED_MODEL_DIR
    from chalicelib.metadata import ModelMetadata
    from harness.cdk import in_process_synth
    from harness.logs_insights import dashboard_queries

    _infra_importable()
    with tempfile.TemporaryDirectory() as workdir:
        template = in_process_synth(Path(workdir), **context).template
    resources = list(template["Resources"].values())

    def of_type(resource_type: str) -> list[dict[str, Any]]:
        return [r["Properties"] for r in resources if r["Type"] == resource_type]

    alarm_metrics = sum(len([m for m in a["Metrics"] if "MetricStat" in m]) if "Metrics" in a else 1
                        for a in of_type("AWS::CloudWatch::Alarm"))
    dashboards = len(of_type("AWS::CloudWatch::Dashboard"))
    [rule] = [r["SamplingRule"] for r in of_type("AWS::XRay::SamplingRule")]
    pools = of_type("AWS::Cognito::UserPool")
    function = template["Resources"]["APIHandler"]["Properties"]
    [hook] = [f for f in of_type("AWS::Lambda::Function")
              if f.get("ImageConfig", {}).get("Command") == ["chalicelib.pre_traffic_hook.handler"]]
    [check] = [f for f in of_type("AWS::Lambda::Function")
               if f.get("ImageConfig", {}).get("Command") == ["chalicelib.drift_check.handler"]]
    [schedule] = [r["ScheduleExpression"] for r in of_type("AWS::Events::Rule")
                  if "ScheduleExpression" in r]
    assert schedule.startswith("cron(") and schedule.split()[1] == "*", "hourly"
    model = ModelMetadata.read(BUNDLED_MODEL_DIR)
    assert model.golden is not None, "the shipped model has golden answers"
    return StackSettings(
        memory_mb=int(function["MemorySize"]),
        hook_memory_mb=int(hook["MemorySize"]),
        alarm_metrics=alarm_metrics,
        dashboards=dashboards,
        dashboard_queries=len(dashboard_queries(template)) if dashboards else 0,
        kms_keys=len(of_type("AWS::KMS::Key")),
        key_rotation=all(k.get("EnableKeyRotation") for k in of_type("AWS::KMS::Key")),
        trace_reservoir=int(rule["ReservoirSize"]),
        trace_rate=float(rule["FixedRate"]),
        user_pool=bool(pools),
        user_pool_tier=pools[0].get("UserPoolTier", "ESSENTIALS") if pools else "",
        golden_examples=model.golden.examples,
        drift_check_memory_mb=int(check["MemorySize"]),
        drift_checks_per_day=24,
    )


@dataclass(frozen=True)
class FunctionOutput:
    """What the function writes per answered request, measured on the real app."""

    log_bytes: int
    custom_metrics: int  # distinct metric series (namespace, name, dimensions)


def measure_function_output() -> FunctionOutput:
    """A warm prediction's log bytes (its log line and EMF), and the series it writes."""
    from chalice.test import Client

    from harness.emf import emf_blobs, emitted_metrics
    from harness.samples import SAMPLE_INSTANCE, chalice_environment

    os.environ.update(chalice_environment())  # as Lambda sets it, before the app is imported
    with contextlib.redirect_stdout(sys.stderr):  # its init line ("model loaded") is not a report
        import app as service

    stream = io.StringIO()
    body = json.dumps({"features": SAMPLE_INSTANCE})
    with Client(service.app) as client, contextlib.redirect_stdout(stream):
        client.http.post("/predict", headers={"Content-Type": "application/json"}, body=body)
        stream.seek(0)
        stream.truncate()  # the cold start's lines are counted with the cold starts
        client.http.post("/predict", headers={"Content-Type": "application/json"}, body=body)
    output = stream.getvalue()
    series = {(m.namespace, m.name, m.dimensions) for m in emitted_metrics(emf_blobs(output))}
    return FunctionOutput(log_bytes=len(output.encode()), custom_metrics=len(series))


def platform_log_bytes() -> int:
    from harness.logs_insights import WARM_PLATFORM_REPORT

    return PLATFORM_START_BYTES + len(json.dumps(WARM_PLATFORM_REPORT, separators=(",", ":")))


def access_log_bytes() -> int:
    _infra_importable()
    from sleep_advisor_infra.api_stage import ACCESS_LOG_FORMAT

    return len(json.dumps({k: ACCESS_LOG_VALUES[k] for k in json.loads(ACCESS_LOG_FORMAT)},
                          separators=(",", ":")))


def cpu_share(memory_mb: int) -> float:
    """Lambda's CPU is proportional to memory: 1,769 MB is one vCPU; the code is single-threaded."""
    return min(1.0, memory_mb / 1769)


def projected_init_s(memory_mb: int, measured: dict[str, Any]) -> float:
    return float(measured["cold_start_cpu_s"]) / cpu_share(memory_mb) + float(measured["cold_start_io_s"])


def first_answer_s(memory_mb: int, measured: dict[str, Any]) -> float:
    """A cold start's time to first answer in the function: init plus the first request."""
    return projected_init_s(memory_mb, measured) + float(measured["first_request_s"]) / cpu_share(memory_mb)


def snapstart_monthly_usd(memory_mb: int, cold_starts_per_month: float, versions: int = 1) -> float:
    """What SnapStart would add a month: the cache of every active version (a month of seconds
    each) and one restore per cold start, at the function's memory."""
    gb = memory_mb / 1024
    return (versions * gb * 30 * 24 * 3600 * PRICES["snapstart_cache_gb_second"].usd
            + cold_starts_per_month * gb * PRICES["snapstart_restore_gb"].usd)


def billed_request_ms(memory_mb: int, measured: dict[str, Any]) -> int:
    # + 1 ms for Lambda's own per-invocation work; billing rounds up to the millisecond.
    return math.ceil(float(measured["warm_handler_p50_ms"]) / cpu_share(memory_mb) + 1.0)


def image_storage_gb(measured: dict[str, Any], profile: Profile) -> float:
    """The repository holds the base image's layers once and each kept image's own layers."""
    layers: dict[str, float] = measured["image_layers_gzip_mb"]
    own = sum(size for name, size in layers.items() if name != "base image")
    return (layers["base image"] + profile.images_kept * own) / 1000


@dataclass(frozen=True)
class Line:
    item: str
    basis: str
    price_key: str
    quantity: float

    @property
    def list_usd(self) -> float:
        return self.quantity * PRICES[self.price_key].usd


def monthly_lines(settings: StackSettings, profile: Profile, measured: dict[str, Any],
                  output: FunctionOutput, year: int = 1) -> list[Line]:
    """One month of one stage in `year` (1, 2, 3 and on), at list price."""
    gb = settings.memory_mb / 1024
    billed_ms = billed_request_ms(settings.memory_mb, measured)
    init_s = projected_init_s(settings.memory_mb, measured)
    cold_starts = profile.cold_starts_per_day * profile.days if profile.requests else 0
    requests = profile.requests
    # Each deploy: the hook asks every golden question of the new version, whose first answer
    # is a cold start; the hook itself runs about as long as those answers take.
    golden = settings.golden_examples * profile.deploys_per_month
    hook_s = profile.deploys_per_month * (first_answer_s(settings.memory_mb, measured)
                                          + settings.golden_examples * billed_ms / 1000)
    log_bytes = output.log_bytes + platform_log_bytes() + access_log_bytes()
    log_gb = requests * log_bytes / 1e9
    scanned_gb = (settings.dashboard_queries * profile.dashboard_views_per_day * profile.days
                  * (requests / profile.days) * (output.log_bytes + platform_log_bytes()) / 1e9)
    share = traced_share(profile, settings.trace_reservoir, settings.trace_rate)
    rotations = min(year - 1, 2) if settings.key_rotation else 0
    mau = profile.monthly_active_users if settings.user_pool else 0
    # SNS encrypts each message with a data key (GenerateDataKey); each subscriber's delivery
    # decrypts it: about three KMS requests per notification.
    notifications = profile.notifications_per_month
    service_lines = [
        Line("Lambda compute (requests)", f"{requests:,} × {billed_ms} ms × {gb:.3f} GB",
             "lambda_gb_second", requests * billed_ms / 1000 * gb),
        Line("Lambda compute (initialisation)",
             f"{cold_starts:,.0f} cold starts × {init_s:.2f} s × {gb:.3f} GB",
             "lambda_gb_second", cold_starts * init_s * gb),
        Line("Lambda requests", f"{requests:,}", "lambda_request", requests),
        Line("Rollout: pre-traffic hook and golden questions",
             f"{profile.deploys_per_month} deploys × ({settings.golden_examples} answers, one a cold "
             f"start; the hook {hook_s / max(profile.deploys_per_month, 1):.1f} s × "
             f"{settings.hook_memory_mb} MB)",
             "lambda_gb_second",
             profile.deploys_per_month * init_s * gb + golden * billed_ms / 1000 * gb
             + hook_s * settings.hook_memory_mb / 1024),
        Line("Rollout: invocations", f"{profile.deploys_per_month} × (1 hook + "
             f"{settings.golden_examples} golden)", "lambda_request",
             profile.deploys_per_month * (1 + settings.golden_examples)),
        Line("Rollout: CodeDeploy", f"{profile.deploys_per_month} deployments to Lambda",
             "codedeploy_lambda", profile.deploys_per_month),
        Line("API Gateway REST API", f"{requests:,}", "rest_api_request", requests),
        Line("CloudWatch custom metrics",
             f"{output.custom_metrics if requests else 0} (PredictionProbability by model, and by "
             "the Lambda version that answered: what the alarms read)", "custom_metric",
             output.custom_metrics if requests else 0),
        Line("CloudWatch alarms", f"{settings.alarm_metrics} alarm metrics, canary's included",
             "alarm_metric", settings.alarm_metrics),
        Line("CloudWatch dashboard", f"{settings.dashboards}", "dashboard", settings.dashboards),
        Line("CloudWatch Logs ingestion",
             f"{output.log_bytes} function + {platform_log_bytes()} Lambda + "
             f"{access_log_bytes()} access-log bytes per request", "log_ingestion_gb", log_gb),
        Line("CloudWatch Logs storage", f"30-day retention, ~{LOG_COMPRESSION:.0%} after "
             "compression", "log_storage_gb", log_gb * LOG_COMPRESSION),
        Line("CloudWatch Logs Insights (dashboard)",
             f"{settings.dashboard_queries} queries × {profile.dashboard_views_per_day:g} views a "
             "day, a day of the function's log each", "logs_insights_gb", scanned_gb),
        Line("X-Ray traces", f"{share:.1%} of requests: rule of {settings.trace_reservoir}/s + "
             f"{settings.trace_rate:.0%}", "xray_trace", requests * share),
        Line("KMS key (alarm topic)", f"{settings.kms_keys} key, {rotations} rotation(s) billed "
             f"in year {year}", "kms_key", settings.kms_keys * (1 + rotations)),
        Line("KMS requests", f"~3 per notification × {notifications}", "kms_request",
             3 * notifications),
        Line("SNS notifications", f"{notifications} messages (alarms, deployments)",
             "sns_publish", notifications),
        Line("EventBridge (deployment events)", "CodeDeploy state changes on the default bus",
             "eventbridge_aws_event", 3 * profile.deploys_per_month),
        Line("ECR image storage",
             f"base image once + {profile.images_kept} images' own layers "
             f"({image_storage_gb(measured, profile):.2f} GB)", "ecr_gb_month",
             image_storage_gb(measured, profile)),
        Line("Cognito user pool",
             f"{mau:,} monthly active users ({settings.user_pool_tier or 'no pool'}; "
             f"the first {COGNITO_FREE_MAU:,} free)", "cognito_mau_lite",
             max(0, mau - COGNITO_FREE_MAU)),
    ]
    return [*service_lines, *drift_lines(settings, profile, measured)]


def drift_lines(settings: StackSettings, profile: Profile, measured: dict[str, Any]) -> list[Line]:
    """The drift check's share of a month, from the simulated healthy week
    (benchmarks/drift_week.py): its runs, the lines it reads and writes, its one metric."""
    from chalicelib.drift_check import READ_HOURS

    figures = measured["drift_check"]
    weeks = profile.days / 7
    scale = profile.requests / profile.days * 7 / figures["requests_per_week"]
    checks = settings.drift_checks_per_day * profile.days
    gb = settings.drift_check_memory_mb / 1024
    # Each hourly run is a cold start (the environment is gone after an idle hour).
    run_s = (figures["check_start_cpu_s"] + figures["check_run_cpu_s"]) / cpu_share(
        settings.drift_check_memory_mb)
    aggregate_lines = figures["aggregate_lines_per_week"] * weeks * scale
    written_gb = (aggregate_lines * figures["aggregate_line_bytes"]
                  + checks * (figures["check_line_bytes"] + platform_log_bytes())) / 1e9
    # Each run reads the aggregate lines of the hours its window may reach back to.
    read_gb = checks * aggregate_lines / (profile.days * 24) * READ_HOURS * figures[
        "aggregate_line_bytes"] / 1e9
    datapoint_share = figures["datapoint_hours_per_week"] / (7 * 24)
    return [
        Line("Drift check (compute)", f"{checks:,.0f} hourly runs × {run_s:.2f} s (a cold "
             f"start each) × {settings.drift_check_memory_mb} MB", "lambda_gb_second",
             checks * run_s * gb),
        Line("Drift check (requests)", f"{checks:,.0f}", "lambda_request", checks),
        Line("Drift check: EventBridge schedule", "a scheduled rule's events on the default "
             "bus", "eventbridge_aws_event", checks),
        Line("Drift check: log lines", f"{aggregate_lines:,.0f} aggregate lines of "
             f"{figures['aggregate_line_bytes']:.0f} bytes, and its own line each run",
             "log_ingestion_gb", written_gb),
        Line("Drift check: reads (FilterLogEvents)", f"the last {READ_HOURS} h of aggregate "
             f"lines each run ({read_gb * 1e3:.1f} MB a month)", "logs_filter_gb", read_gb),
        Line("CloudWatch custom metric (DriftScore)",
             f"written only in hours at or above PSI 0.1: {datapoint_share:.0%} of the hours "
             "in the simulated healthy week (a whole drifted month: $0.30)", "custom_metric",
             datapoint_share),
    ]


def after_free_tier(lines: list[Line]) -> list[float]:
    """Each line's price once the account's always-free allowances are used up in order."""
    left = dict(FREE_TIER)
    prices = []
    for line in lines:
        pool = FREE_POOL.get(line.price_key, line.price_key)
        free = min(line.quantity, left.get(pool, 0))
        left[pool] = left.get(pool, 0) - free
        prices.append((line.quantity - free) * PRICES[line.price_key].usd)
    return prices


def bill(settings: StackSettings, profile: Profile, measured: dict[str, Any],
         output: FunctionOutput) -> dict[str, Any]:
    """Year 1, 2 and 3+ for the stage with traffic, and what each further idle stage adds."""
    years: dict[str, Any] = {}
    for year in (1, 2, 3):
        lines = monthly_lines(settings, profile, measured, output, year)
        free = after_free_tier(lines)
        years[f"year {year}" if year < 3 else "year 3+"] = {
            "lines": [{"item": line.item, "basis": line.basis, "price_key": line.price_key,
                       "source": PRICES[line.price_key].source,
                       "list_usd": line.list_usd, "after_free_tier_usd": price}
                      for line, price in zip(lines, free, strict=True)],
            "total_list_usd": sum(line.list_usd for line in lines),
            "total_after_free_tier_usd": sum(free),
        }
    idle = dataclasses.replace(profile, requests=0)
    # Another stage (a dev or staging stack) in the same account: its own dashboard, alarms,
    # key and user pool, no users; it shares the account's free tier with the first.
    years["idle stage, year 1"] = sum(
        line.list_usd for line in monthly_lines(settings, idle, measured, output, 1)
        if line.price_key not in ("ecr_gb_month",))  # the same image as the first stage
    return years


def render(bills: dict[str, dict[str, Any]], settings: dict[str, StackSettings],
           profile: Profile) -> str:
    default, beta = bills["default"], bills["beta"]
    first = default["year 1"]
    rows = "\n".join(
        f"| {line['item']} | {line['basis']} | [`{line['price_key']}`]({line['source']}) "
        f"| ${line['list_usd']:.2f} | ${line['after_free_tier_usd']:.2f} |" for line in first["lines"])
    years = "\n".join(
        f"| {name} | {year} | ${b[year]['total_list_usd']:.2f} "
        f"| ${b[year]['total_after_free_tier_usd']:.2f} |"
        for name, b in (("default", default), ("beta (`-c dashboard=false`)", beta))
        for year in ("year 1", "year 2", "year 3+"))
    prices = "\n".join(f"| `{key}` | ${price.usd:g} | {price.unit} | {price.source} |"
                       for key, price in PRICES.items())
    stages = " ".join(
        f"{n} stages: ${first['total_list_usd'] + (n - 1) * default['idle stage, year 1']:.2f}."
        for n in (2, 3))
    default_ok = first["total_list_usd"] <= DEFAULT_TARGET_USD
    target = f"${DEFAULT_TARGET_USD:.2f}"
    beta_ok = beta["year 1"]["total_list_usd"] <= ORIGINAL_MONTHLY_USD
    mau = profile.monthly_active_users
    default_rule = traced_share(profile, 1, 0.05)
    return f"""Traffic: {profile.requests:,} requests a month, {profile.peak_share:.0%} of each day's in
each of two peaks around {' and '.join(_clock(hour) for hour in profile.peak_hours)}
(normal curves, standard deviation {profile.peak_sigma_minutes:.0f} min), the rest spread evenly;
{profile.cold_starts_per_day} cold starts a day; {profile.deploys_per_month} deploys a month; {mau:,} monthly
active users (one request a day on about one day in two); function memory {settings['default'].memory_mb} MB.

### Year 1, the default stage

| item | basis | price (source) | list price | after always-free tier |
|---|---|---|---|---|
{rows}
| **total** | | | **${first['total_list_usd']:.2f}** | **${first['total_after_free_tier_usd']:.2f}** |

### Three years

| setting | year | list price | after always-free tier |
|---|---|---|---|
{years}

- Year 2 and year 3 on cost more by the KMS key's automatic yearly rotation: each of the first
  two rotations adds $1 a month; later ones are free.
- Default stage at list price: **${first['total_list_usd']:.2f}** against the {target} target:
  {'met' if default_ok else 'NOT met'}. Nothing is missing from its dashboard: the series only the
  dashboard draws are Logs Insights queries over the log lines already ingested.
- The beta setting, `-c dashboard=false`: **${beta['year 1']['total_list_usd']:.2f}** at list price
  (target ${ORIGINAL_MONTHLY_USD:.2f}: {'met' if beta_ok else 'NOT met'}). It gives up the dashboard
  page only: every alarm, the Slack channel, the canary and the golden gate stay, and the same
  six queries are saved in the account (Logs Insights, "sleep-advisor-<stage>/..."); the AWS
  metrics are in the Lambda and API Gateway consoles' own graphs. An account's first three
  dashboards are free, so in its own account a beta pays nothing for the dashboard anyway.
- X-Ray: the stack's sampling rule traces {settings['default'].trace_rate:.0%} of requests. X-Ray's
  default rule (the first request each second, then 5 %) would trace {default_rule:.0%} of them
  under this traffic: ${default_rule * profile.requests * PRICES['xray_trace'].usd:.2f} a month.
- Each further stage without traffic (dev, staging) adds about
  **${default['idle stage, year 1']:.2f}** a month at list price (its dashboard, alarms and key). {stages}
- Cognito costs nothing up to {COGNITO_FREE_MAU:,} monthly active users; above that the Lite plan
  the stack sets costs ${PRICES['cognito_mau_lite'].usd * 1000:.2f} per 1,000 more (Essentials,
  the default for new pools, would cost $15.00).
- Not counted: data transfer out (answers are ~200 bytes), X-Ray trace retrieval when someone
  opens traces, CloudTrail, and the CDK bootstrap bucket.

Prices for eu-central-1 as of {PRICES_AS_OF} (API Gateway REST API, which Chalice generates;
the original's $0.24 was an HTTP API price):

| key | USD | unit | source |
|---|---|---|---|
{prices}
"""


def _clock(hour: float) -> str:
    return f"{int(hour):02d}:{round(hour % 1 * 60):02d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=Profile.requests)
    parser.add_argument("--memory-mb", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    measured = json.loads((REPO_ROOT / "docs" / "benchmarks.json").read_text())
    profile = Profile(requests=args.requests)
    output = measure_function_output()
    memory = {} if args.memory_mb is None else {"memory_size_mb": args.memory_mb}
    with contextlib.redirect_stdout(sys.stderr):  # synthesis prints progress
        settings = {"default": read_stack(**memory), "beta": read_stack(**memory, dashboard=False)}
    bills = {name: bill(s, profile, measured, output) for name, s in settings.items()}
    if args.json:
        print(json.dumps({"profile": dataclasses.asdict(profile), "function_output": output.__dict__,
                          "settings": {k: s.__dict__ for k, s in settings.items()}, "bills": bills}))
    else:
        print(render(bills, settings, profile))


if __name__ == "__main__":
    main()
