"""Lint and type checks are part of the suite, so a clean clone proves them too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import REPO_ROOT

BIN = Path(sys.executable).parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout


def test_everything_is_strictly_typed() -> None:
    # The service, its model code, the test harnesses, the tests and the benchmarks.
    result = subprocess.run(
        [str(BIN / "mypy"), "app.py", "chalicelib", "model", "harness", "tests", "benchmarks"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout


def test_infrastructure_is_strictly_typed() -> None:
    # infra/ is its own CDK app (its app.py is not the service's): checked from there, with the
    # repository root on the path for the contract and the model metadata it reads. The cache
    # is the one the check above filled: analysing aws_cdk's stubs cold takes minutes.
    result = subprocess.run(
        [str(BIN / "mypy"), "--config-file", str(REPO_ROOT / "pyproject.toml"),
         "--cache-dir", str(REPO_ROOT / ".mypy_cache"), "sleep_advisor_infra", "app.py",
         "smoke.py"],
        cwd=REPO_ROOT / "infra", env={**os.environ, "MYPYPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout
