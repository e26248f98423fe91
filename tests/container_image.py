"""The Dockerfile, read and followed without Docker: base image, dependency step, files, CMD.

No Docker engine is needed to prove what matters about the image: the dependency step runs
the same script with the same wheels for the Lambda platform, the COPY instructions are
followed into a task root, and the CMD is what the runtime client is started with.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.lambda_runtime import ImageLayout

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO_ROOT / "Dockerfile"
INSTALL_SCRIPT = "requirements/install-runtime.sh"
TASK_ROOT_VARIABLE = "${LAMBDA_TASK_ROOT}"


@dataclass(frozen=True)
class Dockerfile:
    base_image: str
    task_copies: list[tuple[list[str], str]]  # (sources, destination under the task root)
    cmd: list[str]
    environment: dict[str, str]
    run_lines: list[str]

    @classmethod
    def parse(cls, path: Path = DOCKERFILE) -> Dockerfile:
        text = re.sub(r"\\\n\s*", " ", path.read_text())
        instructions = [line.strip() for line in text.splitlines()
                        if line.strip() and not line.strip().startswith("#")]
        args = dict(
            line.split(None, 1)[1].split("=", 1) for line in instructions if line.startswith("ARG ")
        )
        base = next(line.split(None, 1)[1] for line in instructions if line.startswith("FROM "))
        base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        copies = []
        for line in instructions:
            if line.startswith("COPY ") and TASK_ROOT_VARIABLE in line:
                *sources, destination = line.split()[1:]
                copies.append((sources, destination.replace(TASK_ROOT_VARIABLE, "").lstrip("/")))
        cmd = json.loads(next(line[4:] for line in instructions if line.startswith("CMD ")))
        environment: dict[str, str] = {}
        for line in instructions:
            if line.startswith("ENV "):
                environment.update(pair.split("=", 1) for pair in line.split()[1:])
        runs = [line[4:] for line in instructions if line.startswith("RUN ")]
        return cls(base, copies, cmd, environment, runs)


def install_runtime_dependencies(target: Path) -> None:
    """The Dockerfile's dependency step: the same script, wheels for the Lambda platform."""
    subprocess.run(
        ["sh", str(REPO_ROOT / INSTALL_SCRIPT), str(target), str(REPO_ROOT / "requirements")],
        env={**os.environ, "PYTHON": sys.executable}, check=True, timeout=900,
    )


def build_image_layout(workdir: Path) -> ImageLayout:
    """The image's task root and runtime client in `workdir`, as the Dockerfile builds them."""
    dockerfile = Dockerfile.parse()
    task_root = workdir / "task"
    install_runtime_dependencies(task_root)
    for sources, destination in dockerfile.task_copies:
        for source in sources:
            origin = REPO_ROOT / source
            target = task_root / destination
            if origin.is_dir():  # Docker copies a directory's contents into the destination
                shutil.copytree(origin, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target / origin.name)
    runtime_client = workdir / "runtime-client"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(runtime_client), f"awslambdaric=={_pinned('awslambdaric')}"],
        check=True, timeout=600,
    )
    return ImageLayout(
        task_root=task_root, runtime_client=runtime_client, handler=dockerfile.cmd[0],
        environment=dockerfile.environment,
    )


def _pinned(package: str) -> str:
    for line in (REPO_ROOT / "requirements" / "dev.txt").read_text().splitlines():
        if line.lower().startswith(f"{package}=="):
            return line.split("==", 1)[1]
    raise LookupError(f"{package} is not pinned in requirements/dev.txt")
