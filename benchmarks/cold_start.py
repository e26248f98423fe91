"""Cold start and footprint of the image's task root, without Docker.

The task root is built as the Dockerfile builds it (harness/container_image.py: the same
dependency script, wheels for the Lambda platform, the same COPY list). Each run is a fresh
interpreter with no site-packages (`-S`), importing the handler module and answering one API
Gateway event, as Lambda's init plus first invocation do. Python may not write bytecode, as in
Lambda's read-only task root, and an audit hook counts the source files compiled.

Runs alternate between both serving paths of the same model (the shipped image, whose model is
served by its compiled graph, and the image scikit-learn would serve it from), each at Lambda's
CPU share for 1,769 MB and 1,024 MB (a cgroup v1 CPU quota, where the controller is writable),
and the shipped task root without the service's own bytecode (the image before its build
compiled app.py and chalicelib/), so all are compared on the same machine at the same moment.
Prints a JSON document.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cost import cpu_share
from chalicelib.contract import MODEL_LOADED_LOG
from chalicelib.metadata import (
    METADATA_FILENAME,
    ONNX_RUNTIME,
    OPTIONAL_PACKAGE_FILES,
    SCIKIT_LEARN,
    package_files,
)
from harness import REPO_ROOT
from harness.lambda_runtime import ImageLayout
from harness.samples import chalice_environment

RUNS = 7
# Lambda's CPU share at one full vCPU and at 1,024 MB, where the figures are compared.
SHARES_MB = (1769, 1024)
CPU_CGROUP = Path("/sys/fs/cgroup/cpu")
CFS_PERIOD_US = 100_000
LAMBDA_CONTEXT = REPO_ROOT / "harness" / "lambda_context.py"
# One invocation in a fresh process: timings and peak RSS go to stderr as JSON.
DRIVER = r"""
import importlib.util, json, sys, time
# The one stand-in for Lambda's context, loaded by path: the repository is not on sys.path.
spec = importlib.util.spec_from_file_location("lambda_context", sys.argv[2])
lambda_context = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lambda_context)
compiled = []
def record(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].endswith(".py"):
        compiled.append(args[1])
sys.addaudithook(record)
started = time.perf_counter()
import app
imported = time.perf_counter()
event = json.loads(sys.argv[1])
response = app.app(event, lambda_context.LambdaContext())
answered = time.perf_counter()
if response["statusCode"] != 200:
    raise SystemExit(f"the first request was not answered: {response}")
# The peak of this process's own memory (VmHWM): getrusage's ru_maxrss survives exec, so it
# would report the benchmark's parent whenever the parent is the larger.
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
sys.stderr.write(json.dumps({"import_s": imported - started, "first_request_s": answered - imported,
                             "peak_rss_mb": peak_kb / 1024, "compiled": len(compiled)}) + "\n")
"""


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def served_by_scikit_learn(model_dir: Path, destination: Path) -> Path:
    """The same model package as scikit-learn serves it: its metadata's serving runtime set to
    scikit-learn and no compiled graph, as save_model writes a model that does not convert."""
    destination.mkdir(parents=True)
    for name in package_files(model_dir):
        if name not in OPTIONAL_PACKAGE_FILES:
            shutil.copy2(model_dir / name, destination / name)
    document = json.loads((model_dir / METADATA_FILENAME).read_text())
    document["serving"] = {"runtime": SCIKIT_LEARN, "compared_requests": 0,
                           "reason": "the benchmark's scikit-learn image of the same model"}
    (destination / METADATA_FILENAME).write_text(json.dumps(document, indent=2) + "\n")
    return destination


def cpu_quota_group(memory_mb: int) -> Path | None:
    """A cgroup v1 CPU group giving Lambda's CPU share at `memory_mb` (memory / 1,769 MB of one
    CPU per 100 ms period), or None where the controller is not writable."""
    group = CPU_CGROUP / f"sleep-advisor-{memory_mb}"
    try:
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(round(CFS_PERIOD_US * cpu_share(memory_mb))))
    except OSError:
        return None
    return group


def main() -> None:
    from benchmarks.image import BASE_IMAGE_SOURCE, layer_sizes_mb
    from chalicelib.proxy_event import api_gateway_event
    from harness.container_image import (
        build_image,
        context_with_model,
        image_layout_of,
        rebuild_image,
        without_service_bytecode,
    )
    from harness.samples import MODEL, MODEL_DIR, SAMPLE_INSTANCE

    # In memory: this VM evicts the page cache under memory pressure, and a cold start that
    # reads its libraries from disk measures the disk (15 s of wall for 1.6 CPU-s, seen here).
    scratch = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=scratch) as workdir_name:
        workdir = Path(workdir_name)
        shipped = build_image(workdir / "shipped")
        layout = image_layout_of(shipped, workdir)
        builds = {MODEL.serving.runtime: shipped}
        if MODEL.serving.runtime == ONNX_RUNTIME:
            context = context_with_model(workdir / "scikit-learn-context", served_by_scikit_learn(
                MODEL_DIR, workdir / "scikit-learn-model"))
            builds[SCIKIT_LEARN] = rebuild_image(shipped, REPO_ROOT, workdir / "scikit-learn",
                                                 context)
        roots = {runtime: build.host_path(build.environment["LAMBDA_TASK_ROOT"])
                 for runtime, build in builds.items()}
        before = without_service_bytecode(layout, workdir / "without-service-bytecode")
        event = json.dumps(api_gateway_event(
            "POST", "/predict", json.dumps({"features": SAMPLE_INSTANCE}),
            {"Content-Type": "application/json"}))
        groups = {memory: cpu_quota_group(memory) for memory in SHARES_MB}
        measured_under = ("cgroup v1 CPU quota" if all(groups.values())
                          else "no CPU quota (projected from CPU time)")
        runs: dict[str, dict[int, list[dict[str, float]]]] = {
            runtime: {memory: [] for memory in SHARES_MB} for runtime in roots}
        runs_before: list[dict[str, float]] = []
        for _ in range(RUNS):  # alternating: every variant meets the machine's drift alike
            for runtime, root in roots.items():
                for memory in SHARES_MB:
                    runs[runtime][memory].append(cold_start(layout, root, event, groups[memory]))
            runs_before.append(cold_start(layout, before.task_root, event, groups[SHARES_MB[0]]))
        paths = {}
        for runtime, root in roots.items():
            own = {"app.py", "chalicelib", "model"}
            paths[runtime] = {
                "shares": {str(memory): {"runs": runs[runtime][memory],
                                         "median": medians(runs[runtime][memory])}
                           for memory in SHARES_MB},
                "dependencies_mb": sum(directory_mb(p) if p.is_dir() else p.stat().st_size / 1e6
                                       for p in root.iterdir() if p.name not in own),
                "largest_packages_mb": sorted(
                    ((p.name, directory_mb(p)) for p in root.iterdir()
                     if p.is_dir() and p.name not in own), key=lambda item: -item[1])[:6],
                "image_layers_gzip_mb": layer_sizes_mb(builds[runtime]),
                "import_groups_ms": import_groups(subprocess.run(
                    [layout.python, "-S", "-X", "importtime", "-c", "import app"], cwd=root,
                    env=lambda_environment(layout, root), capture_output=True, text=True,
                    check=True, timeout=120).stderr),
            }
        for group in groups.values():
            if group is not None:
                group.rmdir()
    print(json.dumps({
        "shipped": MODEL.serving.runtime,
        "measured_under": measured_under,
        "paths": paths,
        "without_service_bytecode": {"runs": runs_before, "median": medians(runs_before)},
        "base_image_source": BASE_IMAGE_SOURCE,
    }))


def lambda_environment(layout: ImageLayout, task: Path) -> dict[str, str]:
    # Lambda's environment, so that the tracer switches on (its import counts too); no
    # bytecode written, as in Lambda's read-only task root.
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(task), "LAMBDA_TASK_ROOT": str(task),
            "AWS_DEFAULT_REGION": "eu-central-1", "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000", "PYTHONDONTWRITEBYTECODE": "1",
            **layout.environment, **chalice_environment()}


def cold_start(layout: ImageLayout, task: Path, event: str,
               cpu_group: Path | None = None) -> dict[str, float]:
    """One fresh interpreter: import the handler, answer one event; in `cpu_group`'s CPU quota
    from its first instruction when given."""

    def enter_group() -> None:  # in the child, before exec: the interpreter starts throttled
        if cpu_group is not None:
            (cpu_group / "cgroup.procs").write_text(str(os.getpid()))

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [layout.python, "-S", "-c", DRIVER, event, str(LAMBDA_CONTEXT)], cwd=task,
        env=lambda_environment(layout, task), capture_output=True, text=True, check=True,
        timeout=120, preexec_fn=enter_group,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "model_load_ms": model_load_ms(result.stdout),
            **json.loads(result.stderr.strip().splitlines()[-1])}


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def model_load_ms(stdout: str) -> float:
    """The function's own "model loaded" log line: verification, unpickling and the golden
    answers, as Lambda's init pays for them."""
    from harness.logs_insights import json_lines

    [load] = [line for line in json_lines(stdout) if line.get("message") == MODEL_LOADED_LOG]
    return float(load["model_load_ms"])


def import_groups(importtime: str) -> list[tuple[str, float]]:
    """Self time of imports summed by top-level package, largest first."""
    totals: dict[str, float] = {}
    for line in importtime.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].strip().startswith("import time:"):
            continue
        try:
            self_us = int(parts[0].split(":")[1])
        except ValueError:
            continue
        package = parts[2].strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + self_us / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:10]


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    main()
