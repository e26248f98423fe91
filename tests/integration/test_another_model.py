"""The suite is model-agnostic: with the second model in model/, it passes as it stands.

A copy of the working tree gets the files of tests/models/bedroom/ in model/, as save_model
writes a data scientist's own model there (model/README.md), and runs the unit, API and
infrastructure layers: the service, its request schema, the gateway's model, the dashboard and
the alarms all follow the model that replaced the sleep model. Tests about the sleep model itself skip,
each with its reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from chalicelib.metadata import ARTIFACT_FILENAME, GOLDEN_FILENAME, METADATA_FILENAME
from harness import REPO_ROOT
from tests.conftest import SECOND_MODEL_DIR

LAYERS = ["tests/unit", "tests/api", "tests/infra"]


def tree_with_model(destination: Path, model_dir: Path) -> Path:
    """The repository's files (tracked and new, not ignored) with `model_dir`'s model in model/."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for saved in (ARTIFACT_FILENAME, GOLDEN_FILENAME, METADATA_FILENAME):
        shutil.copy2(model_dir / saved, destination / "model" / saved)
    # A repository of its own: some tests ask git which files the project has.
    for command in (["git", "init", "--quiet"], ["git", "add", "--all"]):
        subprocess.run(command, cwd=destination, check=True, capture_output=True)
    return destination


def test_the_service_api_and_infrastructure_layers_pass_with_another_model(tmp_path: Path) -> None:
    tree = tree_with_model(tmp_path / "repository", SECOND_MODEL_DIR)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLEEP_ADVISOR_")}

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *LAYERS],
        cwd=tree, env=environment, capture_output=True, text=True, timeout=1200,
    )

    report = result.stdout[-6000:]
    assert result.returncode == 0, report
    summary = report.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
    # What skips is only what is about the sleep model, and it says so.
    skipped = [line for line in report.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("not the bundled sleep-advice model" in line for line in skipped), skipped
