"""The development loop on a clean clone: what a developer and CI wait for.

    python -m benchmarks.dev_loop [--no-ci]      # or: make bench-loop

In a fresh clone of HEAD: `make install`; `make test-fast` once to warm up and three times more
(the median is the figure); `make lint` with an empty cache and again with it filled (the cache
lives outside the clone, so a second clone on the machine reuses it); `CI=true bash .ci/run`
with empty lint caches, as CI runs it; the tests per layer; the slowest ten of the whole suite
(from CI's `make test`). Writes docs/development-loop.md and the `development_loop` figures in
docs/benchmarks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine_description
from harness import REPO_ROOT

LAYERS = ("unit", "api", "infra", "integration")
FAST_RUNS = 3
TARGETS = {"test_fast_s": 15, "ci_s": 8 * 60}


def timed(command: str, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=5400)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command!r} failed in {cwd}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def tests_per_layer(clone: Path, env: dict[str, str]) -> dict[str, int]:
    counts = {}
    for layer in LAYERS:
        _, output = timed(f".venv/bin/python -m pytest --collect-only -q tests/{layer}", clone, env)
        counts[layer] = int(re.search(r"(\d+) tests? collected", output).group(1))  # type: ignore[union-attr]
    return counts


def slowest(output: str) -> list[str]:
    """The lines of pytest's `--durations=10` table."""
    lines = output.split("slowest 10 durations", 1)[1].splitlines()[1:]
    table = []
    for line in lines:
        if not re.match(r"\s*\d+\.\d+s ", line):
            break
        table.append(line.strip())
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-ci", action="store_true", help="skip the CI run (minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dev-loop-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
        caches = Path(scratch) / "cache"
        env = {**os.environ, "XDG_CACHE_HOME": str(caches), "CI": "true",
               "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        # pip's own download cache stays the machine's: the figures are the project's, not PyPI's.
        pip_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"
        caches.mkdir()
        if pip_cache.is_dir():
            (caches / "pip").symlink_to(pip_cache)
        figures: dict[str, Any] = {}
        figures["install_s"], _ = timed("make -j2 install", clone, env)
        runs = [timed("make test-fast", clone, env)[0] for _ in range(FAST_RUNS + 1)]
        figures["test_fast_runs_s"] = [round(r, 1) for r in runs]
        figures["test_fast_s"] = round(statistics.median(runs[1:]), 1)
        figures["lint_cold_s"], _ = timed("make lint", clone, env)
        figures["lint_warm_s"], _ = timed("make lint", clone, env)
        figures["tests_per_layer"] = tests_per_layer(clone, env)
        if not args.no_ci:
            ci_clone = Path(scratch) / "ci"
            subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(ci_clone)], check=True)
            (caches / "sleep-advisor").rename(Path(scratch) / "lint-cache-used")  # cold again
            figures["ci_s"], output = timed("bash .ci/run", ci_clone, env)
            figures["slowest_ten"] = slowest(output)
    for key in ("install_s", "lint_cold_s", "lint_warm_s", "ci_s"):
        if key in figures:
            figures[key] = round(figures[key], 1)
    measured_path = REPO_ROOT / "docs" / "benchmarks.json"
    measured = json.loads(measured_path.read_text())
    measured["development_loop"] = figures
    measured_path.write_text(json.dumps(measured, indent=2) + "\n")
    (REPO_ROOT / "docs" / "development-loop.md").write_text(render(figures))
    print(json.dumps(figures))


def render(figures: dict[str, Any]) -> str:
    layers = ", ".join(f"{layer} {count}" for layer, count in figures["tests_per_layer"].items())
    ci = (f"| `CI=true bash .ci/run`, empty lint caches | {figures['ci_s']:.0f} s | at most "
          f"{TARGETS['ci_s']} s |" if "ci_s" in figures else "")
    slow = "\n".join(f"- {line}" for line in figures.get("slowest_ten", []))
    return f"""# The development loop

Written by `make bench-loop` (`python -m benchmarks.dev_loop`) on a fresh clone of the
repository; the figures are also in `docs/benchmarks.json` (`development_loop`).

{machine_description()}
| what | seconds | target |
|---|---|---|
| `make -j2 install` (pip's download cache warm) | {figures['install_s']:.0f} s | |
| `make test-fast`, median of {FAST_RUNS} after one warm-up | {figures['test_fast_s']:.1f} s | at most {TARGETS['test_fast_s']} s |
| `make lint`, empty cache | {figures['lint_cold_s']:.0f} s | |
| `make lint`, cache filled | {figures['lint_warm_s']:.0f} s | |
{ci}

`make test-fast` runs: {', '.join(f'{r} s' for r in figures['test_fast_runs_s'])}.
Tests per layer: {layers}.

The slowest ten of the whole suite (`make test`, in CI):

{slow}
"""


if __name__ == "__main__":
    main()
