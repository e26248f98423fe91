"""`make bench`: run every benchmark and write docs/benchmarks.md and docs/benchmarks.json.

Each benchmark runs in a fresh interpreter (the warm path switches the tracer on as in
Lambda; the cold start needs a new process by definition).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import drift_week
from benchmarks.common import machine_description
from benchmarks.cost import (
    FunctionOutput,
    Profile,
    StackSettings,
    bill,
    cpu_share,
    first_answer_s,
    measure_function_output,
    monthly_lines,
    read_stack,
)
from benchmarks.cost import (
    render as render_bill,
)
from harness import REPO_ROOT

# Every size a data scientist might pick, 512 MB to 3,008 MB (the top of the range where a
# single-threaded handler can still gain: 1,769 MB is one full vCPU).
MEMORY_LADDER_MB = (512, 640, 768, 896, 1024, 1280, 1536, 1769, 2048, 2560, 3008)
# The rule: climb while one more step saves at least this many milliseconds of a cold start's
# time to first answer per extra cent a month (a step that costs nothing more and saves time
# is always taken). Users wait on a cold start at every morning and evening peak; a cent a
# month is nothing to the service's budget.
MS_PER_CENT = 100
RSS_HEADROOM = 1.5
FOOTPRINT_TARGETS = {"peak_rss_mb": 200, "dependencies_mb": 300}
STARTUP_CPU_TARGET_S = 1.5
OVERHEAD_TARGET_MS = 0.5
# What counting nights for the drift check may add to the handler for one night (issue target).
TALLY_TARGET_MS = 0.05


def run_json(module: str, *args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def monthly_usd(memory_mb: int, settings: StackSettings, measured: dict[str, Any],
                output: FunctionOutput) -> float:
    """The default stage's year-1 bill at list price with the function at `memory_mb`."""
    sized = dataclasses.replace(settings, memory_mb=memory_mb)
    return sum(line.list_usd for line in monthly_lines(sized, Profile(), measured, output))


def choose_memory(measured: dict[str, Any], peak_rss_mb: float,
                  usd: Callable[[int], float]) -> tuple[int, list[dict[str, Any]]]:
    """Each size's cold start and bill, and the size the rule (MS_PER_CENT) picks."""
    rows = []
    for memory in MEMORY_LADDER_MB:
        rows.append({
            "memory_mb": memory, "cpu_share": cpu_share(memory),
            "first_answer_s": first_answer_s(memory, measured),
            "warm_p50_ms": measured["warm_handler_p50_ms"] / cpu_share(memory),
            "monthly_usd": usd(memory),
            "fits": memory >= peak_rss_mb * RSS_HEADROOM,
        })
    for smaller, larger in itertools.pairwise(rows):
        larger["saves_ms"] = (smaller["first_answer_s"] - larger["first_answer_s"]) * 1000
        larger["extra_cents"] = (larger["monthly_usd"] - smaller["monthly_usd"]) * 100
    chosen = next(row for row in rows if row["fits"])
    for row in rows[rows.index(chosen) + 1:]:
        worth_it = row["saves_ms"] > 0 and (
            row["extra_cents"] <= 0 or row["saves_ms"] / row["extra_cents"] >= MS_PER_CENT)
        if not worth_it:
            break
        chosen = row
    return int(chosen["memory_mb"]), rows


def main() -> None:
    # The simulated weeks first: they write docs/monitoring.md's table, and the drift check's
    # figures the bill reads (docs/benchmarks.json `drift_check`).
    drift_week.write([drift_week.run_for(model_dir) for model_dir in drift_week.MODELS])
    warm = run_json("benchmarks.warm_path")
    cold = run_json("benchmarks.cold_start")
    median = cold["median"]
    before = cold["without_service_bytecode"]
    single = warm["results"]["1 night"]
    measured = {
        "warm_handler_p50_ms": single["handler"]["p50"],
        "handler_overhead_p50_ms": single["handler"]["p50"] - single["predict_proba"]["p50"],
        "drift_tally_p50_ms": single["handler"]["p50"] - single["handler, no drift tally"]["p50"],
        "drift_tally_alone_p50_ms": single["drift tally alone"]["p50"],
        # The slowest run, not the median: a user meets a single cold start, not an average.
        "cold_start_cpu_s": max(run["cpu_s"] for run in cold["runs"]),
        "cold_start_cpu_median_s": median["cpu_s"],
        "cold_start_cpu_median_without_service_bytecode_s": before["median"]["cpu_s"],
        "modules_compiled_at_start_up": median["compiled"],
        "modules_compiled_without_service_bytecode": before["median"]["compiled"],
        "cold_start_io_s": max(max(0.0, run["wall_s"] - run["cpu_s"]) for run in cold["runs"]),
        "first_request_s": median["first_request_s"],
        "peak_rss_mb": median["peak_rss_mb"],
        "dependencies_mb": cold["dependencies_mb"],
        "image_layers_gzip_mb": cold["image_layers_gzip_mb"],
        "base_image_source": cold["base_image_source"],
    }
    path = REPO_ROOT / "docs" / "benchmarks.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    # Written by the simulation above, and by `make bench-loop`: kept.
    for key in ("drift_simulation", "drift_check", "development_loop"):
        if key in previous:
            measured[key] = previous[key]
    load = load_section()
    # In this process, after the benchmarks: the app's logger binds to the stdout it finds.
    output = measure_function_output()
    with contextlib.redirect_stdout(sys.stderr):  # synthesis prints progress
        stack = read_stack()
    memory, ladder = choose_memory(
        measured, median["peak_rss_mb"], lambda mb: monthly_usd(mb, stack, measured, output))
    measured["recommended_memory_mb"] = memory
    measured["memory_sweep"] = ladder
    with contextlib.redirect_stdout(sys.stderr):
        settings = {"default": read_stack(memory_size_mb=memory),
                    "beta": read_stack(memory_size_mb=memory, dashboard=False)}
    profile = Profile()
    bills = {name: bill(s, profile, measured, output) for name, s in settings.items()}
    measured["bill"] = {name: {year: {k: v for k, v in b[year].items() if k != "lines"}
                               if isinstance(b[year], dict) else b[year] for year in b}
                        for name, b in bills.items()}
    measured["bill_lines_year_1"] = bills["default"]["year 1"]["lines"]
    path.write_text(json.dumps(measured, indent=2) + "\n")
    (REPO_ROOT / "docs" / "benchmarks.md").write_text(
        render(warm, cold, measured, ladder, memory, render_bill(bills, settings, profile)) + load,
        encoding="utf-8")
    print((REPO_ROOT / "docs" / "benchmarks.md").read_text())


def load_section() -> str:
    """8 clients, 4,000 requests against chalice local on loopback (single-threaded server)."""
    from benchmarks.load import run_load
    from harness.chalice_local import ChaliceLocal
    from harness.samples import SAMPLE_INSTANCE

    with ChaliceLocal.start(REPO_ROOT) as server:
        result = run_load(server.port, SAMPLE_INSTANCE, clients=8, total=4000)
    latency = result.latency()
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result.by_status.items()))
    return f"""
## 5. Load against chalice local
8 concurrent clients, {result.sent} requests in {result.seconds:.1f} s (7 single nights, 2 week
batches and 1 invalid body in every 10): **{result.answered} answered** ({statuses}),
{len(result.unexpected)} unexpected. Latency p50 {latency['p50']:.1f} ms, p90 {latency['p90']:.1f} ms,
p99 {latency['p99']:.1f} ms, mostly queueing: `chalice local` serves one request at a time.
For a deployed stage, see `benchmarks/locustfile.py` (billed traffic; read its warning).
"""


def render(warm: dict[str, Any], cold: dict[str, Any], measured: dict[str, Any],
           ladder: list[dict[str, Any]], memory: int, cost: str) -> str:
    warm_rows = []
    for size, variants in warm["results"].items():
        floor = variants["predict_proba"]["p50"]
        for variant, figures in variants.items():
            # The tally alone is not a handler: nothing to compare with the model's call.
            added = ("" if variant in ("predict_proba", "drift tally alone")
                     else f"+{figures['p50'] - floor:.3f}")
            warm_rows.append(f"| {size} | {variant} | {figures['p50']:.3f} | {figures['p99']:.3f} | {added} |")
    single = warm["results"]["1 night"]
    overhead = measured["handler_overhead_p50_ms"]
    observability = single["handler"]["p50"] - single["handler, no observability"]["p50"]
    traced = single["handler, traced"]["p50"] - single["predict_proba"]["p50"]
    tally = measured["drift_tally_p50_ms"]
    tally_alone = single["drift tally alone"]["p50"]
    batch_tally = warm["results"]["100 nights"]["drift tally alone"]["p50"]
    median, before = cold["median"], cold["without_service_bytecode"]["median"]
    runs = ", ".join(f"{r['cpu_s']:.2f}" for r in cold["runs"])
    runs_before = ", ".join(f"{r['cpu_s']:.2f}" for r in cold["without_service_bytecode"]["runs"])
    ladder_rows = "\n".join(
        f"| {r['memory_mb']} | {r['cpu_share']:.2f} | {r['first_answer_s']:.2f} "
        f"| {r['warm_p50_ms']:.2f} | ${r['monthly_usd']:.3f} "
        f"| {_step(r)} | {'**chosen**' if r['memory_mb'] == memory else ''} |"
        for r in ladder)
    chosen = next(r for r in ladder if r["memory_mb"] == memory)
    imports = ", ".join(f"{name} {ms:.0f} ms" for name, ms in cold["import_groups_ms"])
    largest = ", ".join(f"{name} {mb:.0f} MB" for name, mb in cold["largest_packages_mb"])
    layers = ", ".join(f"{name} {mb:.1f} MB" for name, mb in cold["image_layers_gzip_mb"].items())
    return f"""# Benchmarks

Written by `make bench` (`python -m benchmarks.run`); `docs/benchmarks.json` holds the figures
other tools read (the cost model, and the test that keeps the stage's default memory size (`StageConfig` in `infra/sleep_advisor_infra/config.py`) equal
to the recommendation below).

{machine_description()}
Absolute times depend on the machine: compare figures from one run, or from runs back to back.

## 1. Warm path
The real handler `app.app` with an API Gateway proxy event for `POST /predict`, {warm['calls']}
calls per variant in alternating blocks of {warm['block']}; milliseconds.

| request | variant | p50 | p99 | p50 over `predict_proba` |
|---|---|---|---|---|
{chr(10).join(warm_rows)}

- The handler adds **{overhead:.3f} ms** at p50 over the bare model call for one night
  (target: at most {OVERHEAD_TARGET_MS} ms), for the typical request, which X-Ray does not sample;
  logging, the EMF metric and the tracer account for {observability:.3f} ms of it. A request X-Ray
  samples (one in twenty) adds {traced:.3f} ms: its subsegment is built and sent over UDP.
- The original design's synchronous `PutMetricData` costs more than everything else together,
  even against a local moto server with no TLS and no network.
- Counting the nights for the drift check costs the handler **{tally:.3f} ms** at p50 for one
  night (`handler` against `handler, no drift tally`; target at most {TALLY_TARGET_MS} ms);
  `NightTally.add` alone takes {tally_alone * 1000:.1f} µs for one night and
  {batch_tally * 1000:.0f} µs for 100. A difference of two p50s this small is within the
  noise of one run: the bound that holds is the tally alone.

## 2. Cold start
A fresh interpreter on the image's task root (built as the Dockerfile builds it, no
site-packages), with Lambda's environment and, as in Lambda's read-only task root, no bytecode
written: imports, artifact verification and load, the golden answers, first prediction. Runs
alternate between the image and the same task root without the service's own bytecode (the
image before it compiled `app.py` and `chalicelib/`); median of {len(cold['runs'])} runs each.
"Model load" is the function's own "model loaded" log line: sha256, unpickling and asking the
golden questions.

| task root | wall s | CPU s | import s | model load ms | first request s | peak RSS MB | modules compiled |
|---|---|---|---|---|---|---|---|
| the image | {median['wall_s']:.2f} | **{median['cpu_s']:.2f}** | {median['import_s']:.2f} | {median['model_load_ms']:.0f} | {median['first_request_s']:.3f} | {median['peak_rss_mb']:.0f} | {median['compiled']:.0f} |
| without the service's bytecode | {before['wall_s']:.2f} | {before['cpu_s']:.2f} | {before['import_s']:.2f} | {before['model_load_ms']:.0f} | {before['first_request_s']:.3f} | {before['peak_rss_mb']:.0f} | {before['compiled']:.0f} |

CPU seconds of each run, the image: {runs}; without the service's bytecode: {runs_before}
(target: at most {STARTUP_CPU_TARGET_S} median). Where import time goes (`python -X importtime`,
self time by package): {imports}. scikit-learn imports `scipy.stats` for every estimator
(through `sklearn.utils`), which is most of the total and cannot be cut without leaving
scikit-learn; what could be cut was: the X-Ray SDK's module patching
(`Tracer(auto_patch=False)`), unused response models, pandas for array models, and the test
suites shipped inside numpy, scipy and scikit-learn (size only).

### Memory size
A cold start's time to first answer, projected at Lambda's CPU share (memory / 1,769 MB, one
vCPU at most for single-threaded code) from the slowest of the runs above
({measured['cold_start_cpu_s']:.2f} CPU s, since a user meets one cold start, not an average):
CPU s / share + the non-CPU part of the wall time + the first request's time / share. The bill
is the default stage's, year 1, at list price (section 4). **Rule:** from the smallest size
with {RSS_HEADROOM}× the peak RSS, climb while the next step saves at least {MS_PER_CENT} ms of that
time per extra cent a month.

| memory MB | CPU share | first answer s (cold) | warm p50 ms | bill $/month | next step: ms saved per extra cent | |
|---|---|---|---|---|---|---|
{ladder_rows}

**Chosen: {memory} MB** (the default `memory_size_mb` in `infra/sleep_advisor_infra/config.py`). A user who meets a cold
start waits about **{chosen['first_answer_s']:.2f} s** in the function (the slowest of the runs
above, projected: what this machine gives for a cold start's p99), plus API Gateway's few
milliseconds and, on the first request after a deploy, Lambda's one-off image optimisation.
Above 1,769 MB a single-threaded handler gains nothing, so every step there only costs.
Provisioned concurrency is not needed: keeping even one environment provisioned would cost
more than the whole service.

## 3. Footprint
- Peak RSS after the first prediction: **{measured['peak_rss_mb']:.0f} MB** (target: at most
  {FOOTPRINT_TARGETS['peak_rss_mb']} MB).
- Runtime dependencies installed for the Lambda platform (`requirements/install-runtime.sh`):
  **{measured['dependencies_mb']:.0f} MB** (target: at most {FOOTPRINT_TARGETS['dependencies_mb']} MB);
  largest: {largest}.
- What ECR stores per image, gzip-compressed as pushed: {layers} (the base image's from
  {cold['base_image_source']}, converted at the gzip/xz ratio of our dependency layer).

## 4. Monthly cost (`python -m benchmarks.cost`)
{cost}
"""


def _step(row: dict[str, Any]) -> str:
    """The step from the size below to this one, as the rule sees it."""
    if "saves_ms" not in row:
        return ""
    if row["saves_ms"] <= 0:
        return f"saves nothing, +{row['extra_cents']:.2f} ¢"
    if row["extra_cents"] <= 0:
        return f"{row['saves_ms']:.0f} ms for nothing more"
    return f"{row['saves_ms']:.0f} ms for {row['extra_cents']:.2f} ¢: {row['saves_ms'] / row['extra_cents']:,.0f}"


if __name__ == "__main__":
    main()
