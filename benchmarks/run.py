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

from benchmarks import alarm_replay, drift_week
from benchmarks.cold_start import SHARES_MB
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
    snapstart_monthly_usd,
)
from benchmarks.cost import (
    render as render_bill,
)
from chalicelib.contract import LATENCY_OBJECTIVE_MS
from chalicelib.metadata import ONNX_RUNTIME, SCIKIT_LEARN
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
# The compiled path's targets, against scikit-learn's in the same run: its cold start's CPU
# (moonshot 0.25), the whole handler's p50 for one night against the bare predict_proba's
# (moonshot 0.5), and the dependency layers against half of the scikit-learn image's 87 MB.
COLD_START_RATIO_TARGET = 0.35
COLD_START_RATIO_MOONSHOT = 0.25
HANDLER_OVER_PREDICT_PROBA_TARGET = 1.0
HANDLER_OVER_PREDICT_PROBA_MOONSHOT = 0.5
DEPENDENCY_LAYERS_TARGET_MB = 87 / 2
DEPENDENCY_LAYERS = ("runtime dependencies", "model's runtime")
LAYER_COLUMNS = (*DEPENDENCY_LAYERS, "service code", "model")


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
    # Then every alarm replayed over simulated weeks, the drift check's datapoints included.
    alarm_replay.write(alarm_replay.run())
    warm = run_json("benchmarks.warm_path")
    cold = run_json("benchmarks.cold_start")
    measured = measured_figures(warm, cold)
    path = REPO_ROOT / "docs" / "benchmarks.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    # Written by the simulation above, and by `make bench-loop`: kept.
    for key in ("drift_simulation", "drift_check", "alarm_replay", "development_loop"):
        if key in previous:
            measured[key] = previous[key]
    load = load_section()
    # In this process, after the benchmarks: the app's logger binds to the stdout it finds.
    output = measure_function_output()
    with contextlib.redirect_stdout(sys.stderr):  # synthesis prints progress
        stack = read_stack()
    memory, ladder = choose_memory(
        measured, measured["peak_rss_mb"], lambda mb: monthly_usd(mb, stack, measured, output))
    measured["recommended_memory_mb"] = memory
    measured["memory_sweep"] = ladder
    measured["snapstart_monthly_usd"] = snapstart_monthly_usd(
        memory, Profile().cold_starts_per_day * Profile().days)
    write_memory_choice(memory)
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


def measured_figures(warm: dict[str, Any], cold: dict[str, Any]) -> dict[str, Any]:
    """The figures docs/benchmarks.json keeps: the shipped path's feed the bill and the memory
    rule; both paths' are compared."""
    full, low = str(SHARES_MB[0]), str(SHARES_MB[1])
    shipped = cold["paths"][cold["shipped"]]
    at_full = shipped["shares"][full]
    before = cold["without_service_bytecode"]
    single = warm["results"]["1 night"]
    model_call = "compiled graph alone" if "compiled graph alone" in single else "predict_proba"
    measured: dict[str, Any] = {
        "serving_runtime": cold["shipped"],
        "cold_start_measured_under": cold["measured_under"],
        "warm_handler_p50_ms": single["handler"]["p50"],
        "handler_overhead_p50_ms": single["handler"]["p50"] - single[model_call]["p50"],
        "handler_over_bare_predict_proba": single["handler"]["p50"] / single["predict_proba"]["p50"],
        "drift_tally_p50_ms": single["handler"]["p50"] - single["handler, no drift tally"]["p50"],
        "drift_tally_alone_p50_ms": single["drift tally alone"]["p50"],
        # The slowest run, not the median: a user meets a single cold start, not an average.
        "cold_start_cpu_s": max(run["cpu_s"] for run in at_full["runs"]),
        "cold_start_cpu_median_s": at_full["median"]["cpu_s"],
        "cold_start_cpu_median_without_service_bytecode_s": before["median"]["cpu_s"],
        "modules_compiled_at_start_up": at_full["median"]["compiled"],
        "modules_compiled_without_service_bytecode": before["median"]["compiled"],
        "cold_start_io_s": max(max(0.0, run["wall_s"] - run["cpu_s"]) for run in at_full["runs"]),
        "first_request_s": at_full["median"]["first_request_s"],
        "peak_rss_mb": at_full["median"]["peak_rss_mb"],
        "dependencies_mb": shipped["dependencies_mb"],
        "image_layers_gzip_mb": shipped["image_layers_gzip_mb"],
        "base_image_source": cold["base_image_source"],
        "serving_paths": {
            runtime: {
                "first_answer_s": {share: figures["median"]["wall_s"]
                                   for share, figures in path["shares"].items()},
                "cpu_s": {share: figures["median"]["cpu_s"]
                          for share, figures in path["shares"].items()},
                "peak_rss_mb": path["shares"][full]["median"]["peak_rss_mb"],
                "dependencies_mb": path["dependencies_mb"],
                "image_layers_gzip_mb": path["image_layers_gzip_mb"],
            } for runtime, path in cold["paths"].items()},
    }
    if {ONNX_RUNTIME, SCIKIT_LEARN} <= set(cold["paths"]):
        compiled, scikit_learn = (measured["serving_paths"][r] for r in (ONNX_RUNTIME, SCIKIT_LEARN))
        measured["compiled_over_scikit_learn"] = {
            "cold_start_cpu": compiled["cpu_s"][full] / scikit_learn["cpu_s"][full],
            f"first_answer_at_{full}_mb": compiled["first_answer_s"][full] / scikit_learn["first_answer_s"][full],
            f"first_answer_at_{low}_mb": compiled["first_answer_s"][low] / scikit_learn["first_answer_s"][low],
            "warm_handler_p50": single["handler"]["p50"] / single["handler, scikit-learn"]["p50"],
            "dependency_layers_gzip": dependency_layers_mb(compiled) / dependency_layers_mb(scikit_learn),
        }
    return measured


def dependency_layers_mb(path: dict[str, Any]) -> float:
    layers: dict[str, float] = path["image_layers_gzip_mb"]
    return sum(size for name, size in layers.items() if name in DEPENDENCY_LAYERS)


def write_memory_choice(memory: int) -> None:
    """The rule's choice, as the stage's default: infra/cdk.json's context (StageConfig reads it)."""
    path = REPO_ROOT / "infra" / "cdk.json"
    document = json.loads(path.read_text())
    document["context"]["memory_size_mb"] = memory
    path.write_text(json.dumps(document, indent=2) + "\n")


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
                     else f"{figures['p50'] - floor:+.3f}")
            warm_rows.append(f"| {size} | {variant} | {figures['p50']:.3f} | {figures['p99']:.3f} | {added} |")
    single = warm["results"]["1 night"]
    overhead = measured["handler_overhead_p50_ms"]
    observability = single["handler"]["p50"] - single["handler, no observability"]["p50"]
    model_call = "compiled graph alone" if "compiled graph alone" in single else "predict_proba"
    traced = single["handler, traced"]["p50"] - single[model_call]["p50"]
    over_bare = measured["handler_over_bare_predict_proba"]
    tally = measured["drift_tally_p50_ms"]
    tally_alone = single["drift tally alone"]["p50"]
    batch_tally = warm["results"]["100 nights"]["drift tally alone"]["p50"]
    full, low = (str(share) for share in SHARES_MB)
    shipped = cold["paths"][cold["shipped"]]
    median, before = shipped["shares"][full]["median"], cold["without_service_bytecode"]["median"]
    runs = ", ".join(f"{r['cpu_s']:.2f}" for r in shipped["shares"][full]["runs"])
    runs_before = ", ".join(f"{r['cpu_s']:.2f}" for r in cold["without_service_bytecode"]["runs"])
    measured_at = {int(share): figures for share, figures in
                   measured["serving_paths"][cold["shipped"]]["first_answer_s"].items()}
    ladder_rows = "\n".join(
        f"| {r['memory_mb']} | {r['cpu_share']:.2f} | {r['first_answer_s']:.2f} "
        f"| {f'{measured_at[r['memory_mb']]:.2f}' if r['memory_mb'] in measured_at else ''} "
        f"| {r['warm_p50_ms']:.2f} | ${r['monthly_usd']:.3f} "
        f"| {_step(r)} | {'**chosen**' if r['memory_mb'] == memory else ''} |"
        for r in ladder)
    chosen = next(r for r in ladder if r["memory_mb"] == memory)
    path_rows = "\n".join(
        f"| {runtime} | {share} | {figures['median']['wall_s']:.2f} | {figures['median']['cpu_s']:.2f} "
        f"| {figures['median']['import_s']:.2f} | {figures['median']['model_load_ms']:.0f} "
        f"| {figures['median']['first_request_s'] * 1000:.1f} | {figures['median']['peak_rss_mb']:.0f} |"
        for runtime, path in cold["paths"].items() for share, figures in path["shares"].items())
    imports = "; ".join(f"{runtime}: " + ", ".join(f"{name} {ms:.0f} ms"
                                                   for name, ms in path["import_groups_ms"][:6])
                        for runtime, path in cold["paths"].items())
    largest = "; ".join(f"{runtime}: " + ", ".join(f"{name} {mb:.0f} MB"
                                                   for name, mb in path["largest_packages_mb"])
                        for runtime, path in cold["paths"].items())
    layers = "\n".join(
        f"| {runtime} | " + " | ".join(f"{path['image_layers_gzip_mb'].get(name, 0.0):.1f}"
                                      for name in LAYER_COLUMNS)
        + f" | **{dependency_layers_mb(measured['serving_paths'][runtime]):.1f}** |"
        for runtime, path in cold["paths"].items())
    ratios = measured.get("compiled_over_scikit_learn")
    comparison = "" if ratios is None else f"""
**The compiled path against scikit-learn's, same model, same run:** cold start CPU
**{ratios['cold_start_cpu']:.2f}×** (target at most {COLD_START_RATIO_TARGET}×, moonshot
{COLD_START_RATIO_MOONSHOT}×); time to first answer {ratios[f'first_answer_at_{full}_mb']:.2f}× at
{full} MB and {ratios[f'first_answer_at_{low}_mb']:.2f}× at {low} MB; the whole handler's warm p50
for one night {ratios['warm_handler_p50']:.2f}× scikit-learn's handler; dependency layers
{ratios['dependency_layers_gzip']:.2f}× (section 3).
"""
    snapstart = measured["snapstart_monthly_usd"]
    return f"""# Benchmarks

Written by `make bench` (`python -m benchmarks.run`); `docs/benchmarks.json` holds the figures
other tools read (the cost model, and the test that keeps the stage's default memory size,
`memory_size_mb` in `infra/cdk.json`'s context, equal to the recommendation below, which
`make bench` writes there).

{machine_description()}
Absolute times depend on the machine: compare figures from one run, or from runs back to back.

## 1. Warm path
The real handler `app.app` with an API Gateway proxy event for `POST /predict`, {warm['calls']}
calls per variant in alternating blocks of {warm['block']}; milliseconds.

| request | variant | p50 | p99 | p50 minus `predict_proba`'s |
|---|---|---|---|---|
{chr(10).join(warm_rows)}

- Served by **{warm['runtime']}**, the whole handler's p50 for one night is
  **{over_bare:.2f}×** the bare scikit-learn `predict_proba`'s (target at most
  {HANDLER_OVER_PREDICT_PROBA_TARGET}×, moonshot {HANDLER_OVER_PREDICT_PROBA_MOONSHOT}×); `handler, scikit-learn` is the same
  handler with the model served by scikit-learn.
- The handler adds **{overhead:.3f} ms** at p50 over the bare model call (`{model_call}`) for
  one night (target: at most {OVERHEAD_TARGET_MS} ms), for the typical request, which X-Ray does not sample;
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
written: imports, artifact verification and load, the golden answers, first prediction. The
model is the bundled one, served by the runtime its metadata names (**{cold['shipped']}**),
and the same model in the image scikit-learn serves it from; each at Lambda's CPU share for
{full} MB and {low} MB, measured under a {cold['measured_under']}. The task roots are in memory
(`/dev/shm`): this VM evicts its page cache under memory pressure, and a read from disk would
be measured instead. Runs alternate between every variant; median of {len(shipped['shares'][full]['runs'])}
runs each. "Model load" is the function's own "model loaded" log line: hashes, loading the
artifact and asking the golden questions; for scikit-learn it includes importing scikit-learn,
SciPy and joblib, which the service imports only when they serve.

| serving runtime | CPU share of MB | first answer s (wall) | CPU s | import s | model load ms | first request ms | peak RSS MB |
|---|---|---|---|---|---|---|---|
{path_rows}
{comparison}
The shipped image against the same task root without the service's own bytecode, at {full} MB:

| task root | wall s | CPU s | modules compiled |
|---|---|---|---|
| the image | {median['wall_s']:.2f} | **{median['cpu_s']:.2f}** | {median['compiled']:.0f} |
| without the service's bytecode | {before['wall_s']:.2f} | {before['cpu_s']:.2f} | {before['compiled']:.0f} |

CPU seconds of each run, the image: {runs}; without the service's bytecode: {runs_before}
(target: at most {STARTUP_CPU_TARGET_S} median). Where import time goes (`python -X importtime`,
self time by package), {imports}.

**SnapStart is not needed.** It would restore a snapshot instead of this start-up, for
${snapstart:.2f} a month at {memory} MB (the cache of one active version and a restore per cold
start; every version CodeDeploy keeps active adds the cache again), against
${measured['bill']['default']['year 1']['total_list_usd']:.2f} for the whole default stage
(section 4), to shorten a {chosen['first_answer_s']:.2f} s cold start that is
{chosen['first_answer_s'] / (LATENCY_OBJECTIVE_MS / 1000):.0%} of the {LATENCY_OBJECTIVE_MS / 1000:.0f} s objective. It also cannot be
combined with provisioned concurrency, and Chalice has no switch for it (aws/chalice issue
2147).

### Memory size
A cold start's time to first answer, projected at Lambda's CPU share (memory / 1,769 MB, one
vCPU at most for single-threaded code) from the slowest of the runs above
({measured['cold_start_cpu_s']:.2f} CPU s, since a user meets one cold start, not an average):
CPU s / share + the non-CPU part of the wall time + the first request's time / share. The bill
is the default stage's, year 1, at list price (section 4). **Rule:** from the smallest size
with {RSS_HEADROOM}× the peak RSS, climb while the next step saves at least {MS_PER_CENT} ms of that
time per extra cent a month.

| memory MB | CPU share | first answer s (cold, projected) | measured at that share | warm p50 ms | bill $/month | next step: ms saved per extra cent | |
|---|---|---|---|---|---|---|---|
{ladder_rows}

**Chosen: {memory} MB** (the default `memory_size_mb`, written into `infra/cdk.json`'s context). A user who meets a cold
start waits about **{chosen['first_answer_s']:.2f} s** in the function (the slowest of the runs
above, projected: what this machine gives for a cold start's p99), plus API Gateway's few
milliseconds and, on the first request after a deploy, Lambda's one-off image optimisation.
Above 1,769 MB a single-threaded handler gains nothing, so every step there only costs.
Provisioned concurrency is not needed: keeping even one environment provisioned would cost
more than the whole service.

## 3. Footprint
- Peak RSS after the first prediction: **{measured['peak_rss_mb']:.0f} MB** (target: at most
  {FOOTPRINT_TARGETS['peak_rss_mb']} MB).
- Runtime dependencies installed for the Lambda platform (`requirements/install-runtime.sh`),
  shipped image: **{measured['dependencies_mb']:.0f} MB** (target: at most
  {FOOTPRINT_TARGETS['dependencies_mb']} MB); largest, {largest}.
- What ECR stores per image, gzip-compressed as pushed, MB by layer (the base image's
  {measured['image_layers_gzip_mb']['base image']:.0f} MB from {cold['base_image_source']},
  converted at the gzip/xz ratio of our dependency layer); target for the dependency layers of
  the compiled image: at most {DEPENDENCY_LAYERS_TARGET_MB:.1f} MB, half of the scikit-learn image's 87 MB:

| image | {' | '.join(LAYER_COLUMNS)} | dependency layers |
|---|{'---|' * len(LAYER_COLUMNS)}---|
{layers}

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
