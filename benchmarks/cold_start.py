"""Cold start and footprint of the image's task root, without Docker.

The task root is built as the Dockerfile builds it (harness/container_image.py: the same
dependency script, wheels for the Lambda platform, the same COPY list). Each run is a fresh
interpreter with no site-packages (`-S`), importing the handler module and answering one API
Gateway event, as Lambda's init plus first invocation do. Python may not write bytecode, as in
Lambda's read-only task root, and an audit hook counts the source files compiled.

Runs alternate between the image and the same task root without the service's own bytecode
(the image before its build compiled app.py and chalicelib/), so the two are compared on the
same machine at the same moment. Prints a JSON document.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chalicelib.contract import MODEL_LOADED_LOG
from harness import REPO_ROOT
from harness.lambda_runtime import ImageLayout
from harness.samples import chalice_environment

RUNS = 7
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


def main() -> None:
    from benchmarks.image import BASE_IMAGE_SOURCE, layer_sizes_mb
    from chalicelib.proxy_event import api_gateway_event
    from harness.container_image import build_image, image_layout_of, without_service_bytecode
    from harness.samples import SAMPLE_INSTANCE

    with tempfile.TemporaryDirectory() as workdir:
        layout = image_layout_of(build_image(Path(workdir)), Path(workdir))
        before = without_service_bytecode(layout, Path(workdir) / "without-service-bytecode")
        task = layout.task_root
        own = {"app.py", "chalicelib", "model"}
        dependencies_mb = sum(
            directory_mb(p) if p.is_dir() else p.stat().st_size / 1e6
            for p in task.iterdir() if p.name not in own
        )
        biggest = sorted(
            ((p.name, directory_mb(p)) for p in task.iterdir() if p.is_dir() and p.name not in own),
            key=lambda item: -item[1],
        )[:6]
        event = json.dumps(api_gateway_event(
            "POST", "/predict", json.dumps({"features": SAMPLE_INSTANCE}),
            {"Content-Type": "application/json"}))
        runs: dict[str, list[dict[str, float]]] = {"image": [], "without_service_bytecode": []}
        for _ in range(RUNS):
            for variant, root in (("image", task), ("without_service_bytecode", before.task_root)):
                runs[variant].append(cold_start(layout, root, event))
        layers = layer_sizes_mb(task)
        importtime = subprocess.run(
            [layout.python, "-S", "-X", "importtime", "-c", "import app"], cwd=task,
            env=lambda_environment(layout, task), capture_output=True, text=True, check=True,
            timeout=120,
        ).stderr
    print(json.dumps({
        "runs": runs["image"],
        "median": medians(runs["image"]),
        "without_service_bytecode": {"runs": runs["without_service_bytecode"],
                                     "median": medians(runs["without_service_bytecode"])},
        "dependencies_mb": dependencies_mb,
        "largest_packages_mb": biggest,
        "image_layers_gzip_mb": layers,
        "base_image_source": BASE_IMAGE_SOURCE,
        "import_groups_ms": import_groups(importtime),
    }))


def lambda_environment(layout: ImageLayout, task: Path) -> dict[str, str]:
    # Lambda's environment, so that the tracer switches on (its import counts too); no
    # bytecode written, as in Lambda's read-only task root.
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(task), "LAMBDA_TASK_ROOT": str(task),
            "AWS_DEFAULT_REGION": "eu-central-1", "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000", "PYTHONDONTWRITEBYTECODE": "1",
            **layout.environment, **chalice_environment()}


def cold_start(layout: ImageLayout, task: Path, event: str) -> dict[str, float]:
    """One fresh interpreter: import the handler, answer one event."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [layout.python, "-S", "-c", DRIVER, event, str(LAMBDA_CONTEXT)], cwd=task,
        env=lambda_environment(layout, task), capture_output=True, text=True, check=True,
        timeout=120,
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
