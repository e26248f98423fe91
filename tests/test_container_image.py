"""The Dockerfile's promises, checked without a Docker engine."""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.metadata import METADATA_FILENAME
from tests.container_image import INSTALL_SCRIPT, REPO_ROOT, Dockerfile
from tests.lambda_runtime import ImageLayout


def test_base_image_is_lambda_python_of_the_project_version_pinned_by_digest() -> None:
    dockerfile = Dockerfile.parse()
    python_version = (REPO_ROOT / ".python-version").read_text().strip()

    assert re.fullmatch(
        rf"public\.ecr\.aws/lambda/python:{re.escape(python_version)}@sha256:[0-9a-f]{{64}}",
        dockerfile.base_image,
    )


def test_entry_point_and_environment() -> None:
    dockerfile = Dockerfile.parse()

    assert dockerfile.cmd == ["app.app"]
    assert dockerfile.environment["OMP_NUM_THREADS"] == "1"
    assert any(INSTALL_SCRIPT.split("/")[-1] in run for run in dockerfile.run_lines)


def test_image_holds_the_service_the_model_and_runtime_dependencies_only(
    image_layout: ImageLayout,
) -> None:
    task = image_layout.task_root

    assert (task / "app.py").is_file() and (task / "chalicelib" / "advisor.py").is_file()
    assert {p.name for p in (task / "model").iterdir()} == {"model.joblib", METADATA_FILENAME}
    for runtime_package in ("sklearn", "numpy", "scipy", "joblib", "aws_lambda_powertools",
                            "aws_xray_sdk", "pydantic", "chalice"):
        assert (task / runtime_package).is_dir(), runtime_package
    # Chalice's CLI, the test and build tooling never reach the image.
    for tooling in ("click", "yaml", "inquirer", "pytest", "aws_cdk", "jsii", "moto", "cfnlint"):
        assert not (task / tooling).exists(), tooling


def test_installed_wheels_are_built_for_the_lambda_platform(image_layout: ImageLayout) -> None:
    wheels = list(image_layout.task_root.glob("*.dist-info/WHEEL"))
    tags = {line.split(":", 1)[1].strip() for wheel in wheels
            for line in wheel.read_text().splitlines() if line.startswith("Tag:")}
    compiled = [tag for tag in tags if not tag.endswith("-any")]

    assert wheels and compiled
    assert all(re.fullmatch(r"cp312-(cp312|abi3)-manylinux\w*x86_64", tag) for tag in compiled), compiled


def test_dockerignore_keeps_the_context_to_what_the_image_needs() -> None:
    rules = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {source.rstrip("/") for sources, _ in Dockerfile.parse().task_copies for source in sources}

    assert rules[0] == "*"
    assert copied <= allowed
    assert not any(Path(entry).parts[0] in {".venv", "infra", "tests"} for entry in allowed)
