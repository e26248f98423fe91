"""The steps a data scientist meets first fail with one clear line, not a traceback or a lost
model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.metadata import package_files
from harness import REPO_ROOT
from model import train
from tests.conftest import SECOND_MODEL_DIR


def test_synthesis_without_a_region_says_which_variable_to_set() -> None:
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("AWS_DEFAULT_REGION", "AWS_REGION", "CDK_DEFAULT_REGION")}
    result = subprocess.run([sys.executable, "app.py"], cwd=REPO_ROOT / "infra", env=environment,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "cdk synth needs a region (no AWS account): export AWS_DEFAULT_REGION=eu-central-1 "
        "(or AWS_REGION), then run it again")


def test_make_train_refuses_to_overwrite_another_model(tmp_path: Path) -> None:
    for name in package_files(SECOND_MODEL_DIR):
        shutil.copy(SECOND_MODEL_DIR / name, tmp_path / name)

    with pytest.raises(SystemExit, match=r"holds the model 'bedroom-check', which training the "
                                         r"bundled sleep-advice would overwrite: .* `make train "
                                         r"REPLACE=1`"):
        train.main(["--output-dir", str(tmp_path)])
    assert (tmp_path / "metadata.json").read_text() == (
        SECOND_MODEL_DIR / "metadata.json").read_text()

