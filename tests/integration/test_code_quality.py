"""Lint and type checks are part of the suite, so a clean clone proves them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import REPO_ROOT

BIN = Path(sys.executable).parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout


def test_service_code_is_strictly_typed() -> None:
    # The code that runs in Lambda: app.py, chalicelib/ and the model's training code.
    result = subprocess.run([str(BIN / "mypy"), "app.py", "chalicelib", "model"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout
