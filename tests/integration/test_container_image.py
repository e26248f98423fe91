"""The Dockerfile's promises, checked without a Docker engine.

The image is built by following the Dockerfile with only the base image's commands on the
PATH of every RUN step (harness/container_image.py says which commands and where that list
comes from), so a step that would fail in `docker build` fails here.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from chalicelib.metadata import (
    ARTIFACT_FILENAME,
    ONNX_RUNTIME,
    OPTIONAL_PACKAGE_FILES,
    package_files,
)
from harness import REPO_ROOT
from harness.container_image import (
    ImageBuild,
    build_image,
    dockerfile_base_image,
    instructions,
)
from harness.lambda_runtime import ImageLayout, installed
from harness.samples import MODEL, MODEL_DIR


def test_base_image_is_lambda_python_of_the_project_version_pinned_by_digest() -> None:
    python_version = (REPO_ROOT / ".python-version").read_text().strip()

    assert re.fullmatch(
        rf"public\.ecr\.aws/lambda/python:{re.escape(python_version)}@sha256:[0-9a-f]{{64}}",
        dockerfile_base_image(),
    )


def test_every_run_step_succeeds_with_only_the_base_image_commands(image_build: ImageBuild) -> None:
    run_steps = [i for i in instructions() if i.keyword == "RUN"]

    assert run_steps and len(image_build.run_log) == len(run_steps)
    # The dependency step really installed the runtime set into the task root.
    assert (image_build.host_path("/var/task") / "numpy").is_dir()
    # And cleaned up after itself, as its last command says.
    assert not image_build.host_path("/tmp/requirements").exists()


@pytest.mark.parametrize("missing", ["find", "xargs", "which"])
def test_a_run_step_calling_a_command_the_base_image_lacks_fails(tmp_path: Path, missing: str) -> None:
    # The model must be able to fail: Amazon Linux 2023 minimal has no findutils or which.
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {dockerfile_base_image()}\nRUN {missing} --version\n")

    with pytest.raises(RuntimeError, match="exited 127"):
        build_image(tmp_path / "build", dockerfile=dockerfile, context=tmp_path)


def test_run_steps_see_the_base_image_python_and_shell(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        f"FROM {dockerfile_base_image()}\n"
        'RUN python3 -m pip --version && echo "$LAMBDA_TASK_ROOT" > "$LAMBDA_TASK_ROOT/where"\n'
    )

    build = build_image(tmp_path / "build", dockerfile=dockerfile, context=tmp_path)

    assert "pip" in build.run_log[0]
    assert (build.host_path("/var/task") / "where").read_text().strip() == str(
        build.host_path("/var/task"))


def test_entry_point_and_environment(image_build: ImageBuild) -> None:
    assert image_build.cmd == ["app.app"]
    assert image_build.declared_environment["OMP_NUM_THREADS"] == "1"
    # Lambda has no /dev/shm: without this, joblib logs a non-JSON warning at every cold start.
    assert image_build.declared_environment["JOBLIB_MULTIPROCESSING"] == "0"


def test_image_holds_the_service_the_model_and_runtime_dependencies_only(
    image_layout: ImageLayout,
) -> None:
    task = image_layout.task_root

    assert (task / "app.py").is_file() and (task / "chalicelib" / "advisor.py").is_file()
    # The saved package, and the model's own code (model/components/), nothing else of model/.
    assert {p.name for p in (task / "model").iterdir()} == {*package_files(MODEL_DIR),
                                                           "components"}
    assert not (task / "model" / "train.py").exists()
    for runtime_package in ("numpy", "aws_lambda_powertools", "aws_xray_sdk", "pydantic",
                            "chalice"):
        assert (task / runtime_package).is_dir(), runtime_package
    # Only the runtime that serves the model: the compiled graph needs none of scikit-learn's
    # stack; pandas only for scikit-learn serving a model fitted on a DataFrame (scikit-learn
    # imports it at every cold start just because it is there: +0.4 CPU-s, +30 MB).
    compiled = MODEL.serving.runtime == ONNX_RUNTIME
    assert (task / "onnxruntime").is_dir() == compiled
    for library in ("sklearn", "scipy", "joblib", "threadpoolctl"):
        assert installed(task, library) != compiled, library
    assert (task / "pandas").is_dir() == (not compiled and MODEL.input == "dataframe")
    # Chalice's CLI, the test and build tooling never reach the image.
    for tooling in ("click", "yaml", "inquirer", "pytest", "aws_cdk", "jsii", "moto", "cfnlint"):
        assert not (task / tooling).exists(), tooling
    # The bundled test suites are pruned (a third of the size, never run in Lambda).
    assert not list(task.glob("*/tests")) and not list(task.glob("*/*/tests"))


def test_installed_wheels_are_built_for_the_lambda_platform(image_layout: ImageLayout) -> None:
    wheels = list(image_layout.task_root.glob("*.dist-info/WHEEL"))
    tags = {line.split(":", 1)[1].strip() for wheel in wheels
            for line in wheel.read_text().splitlines() if line.startswith("Tag:")}
    compiled = [tag for tag in tags if not tag.endswith("-any")]

    assert wheels and compiled
    # CPython 3.12 extensions, the stable ABI, or a pure-Python interface to a bundled library
    # (py3-none-manylinux: xgboost-cpu's), each for x86_64 Linux.
    assert all(is_lambda_platform_tag(tag) for tag in compiled), compiled


def is_lambda_platform_tag(tag: str) -> bool:
    return re.fullmatch(r"(cp312-(cp312|abi3|none)|py3-none)-manylinux\w*x86_64", tag) is not None


@pytest.mark.parametrize(("tag", "runs"), [
    ("cp312-cp312-manylinux_2_17_x86_64", True), ("cp312-abi3-manylinux_2_28_x86_64", True),
    ("py3-none-manylinux_2_28_x86_64", True), ("cp311-cp311-manylinux_2_17_x86_64", False),
    ("cp312-cp312-macosx_11_0_arm64", False), ("py3-none-manylinux_2_28_aarch64", False),
])
def test_the_wheel_tags_accepted_are_those_lambda_runs(tag: str, runs: bool) -> None:
    assert is_lambda_platform_tag(tag) is runs


def test_dockerignore_keeps_the_context_to_what_the_image_needs() -> None:
    rules = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {
        source.rstrip("/") for i in instructions() if i.keyword == "COPY"
        for source in i.argument.split()[:-1]
    }

    assert rules[0] == "*"
    # Every COPY source is let in, a wildcard by the files it can match (the model's artifacts).
    assert {entry for entry in copied if "*" not in entry} <= allowed
    for pattern in (entry for entry in copied if "*" in entry):
        assert {entry for entry in allowed if fnmatch.fnmatch(entry, pattern)} == {
            f"model/{name}" for name in (ARTIFACT_FILENAME, *OPTIONAL_PACKAGE_FILES)}
    assert not any(Path(entry).parts[0] in {".venv", "infra", "tests"} for entry in allowed)
