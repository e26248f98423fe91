"""The model loaded as the function will load it: in the image's own task root.

    python -m model.image_check MODEL_DIR     (`make check-model`, `make synth`, `make deploy`)

`make check-model`'s first half loads the model in the development venv, where every library
is installed and the repository is on the import path; a model needing a library the image
does not install, or code the image does not ship, would pass there and fail at the image's
cold start. This builds the image's task root by following the Dockerfile (as the test suite
does, in the base image's command set), reuses it while the locks, the Dockerfile and what the
model needs are unchanged, and starts the function there as Lambda does: the base interpreter
with no site-packages runs the AWS Lambda runtime interface client (the base image's) against a
loopback Runtime API, and every golden question is asked as API Gateway would send it, each
answer compared with the recorded one. A failure names the missing module and the fix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata as distributions
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from chalicelib import contract
from chalicelib.metadata import ModelLoadError, ModelMetadata
from chalicelib.pickled import COMPONENTS_HOME

# What a task root's dependencies depend on: a change to any of them builds it again.
BUILD_INPUTS = ("Dockerfile", "requirements")
SERVICE = ("app.py", "chalicelib")
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")


@dataclass(frozen=True)
class ImageCheck:
    ok: bool
    message: str
    seconds_building: float


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sleep-advisor" / (
        "task-roots")


def build_key(context: Path, metadata: ModelMetadata) -> str:
    """The task root's identity: the Dockerfile, the requirements, and what the model needs
    installed (its runtime, input kind and libraries)."""
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        for path in sorted((context / name).rglob("*")) if (context / name).is_dir() else [
                context / name]:
            if path.is_file():
                digest.update(path.relative_to(context).as_posix().encode())
                digest.update(path.read_bytes())
    digest.update(json.dumps([metadata.serving.runtime, metadata.input,
                              sorted(metadata.libraries)]).encode())
    return digest.hexdigest()[:20]


def dependencies_root(context: Path, metadata: ModelMetadata, cache: Path) -> tuple[Path, float]:
    """A task root with the image's dependencies for this model, built or from the cache; the
    seconds spent building (0 from the cache)."""
    from harness.container_image import build_image

    cached = cache / build_key(context, metadata)
    if (cached / "ready").is_file():
        return cached / "task", 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache.parent if cache.parent.exists() else None) as work:
        build = build_image(Path(work), context=context)
        task = build.host_path(build.environment["LAMBDA_TASK_ROOT"])
        if cached.exists():
            shutil.rmtree(cached)
        cached.mkdir(parents=True)
        shutil.move(str(task), cached / "task")
    (cached / "ready").write_text("built\n")
    return cached / "task", time.monotonic() - started


def task_root(dependencies: Path, context: Path, destination: Path) -> Path:
    """The image's task root for the model in `context`: the cached dependencies linked in,
    the service and the model (its package files and components) copied as the image has them."""
    destination.mkdir(parents=True)
    for entry in dependencies.iterdir():
        if entry.name not in (*SERVICE, "model", "__pycache__"):
            (destination / entry.name).symlink_to(entry)
    shutil.copy2(context / "app.py", destination / "app.py")
    shutil.copytree(context / "chalicelib", destination / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (destination / "model").mkdir()
    for entry in (context / "model").iterdir():
        if entry.is_dir():
            shutil.copytree(entry, destination / "model" / entry.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, destination / "model" / entry.name)
    return destination


def runtime_client(cache: Path) -> Path:
    """The runtime interface client the base image ships (its pinned release), installed once."""
    from harness.container_image import pinned

    version = pinned("awslambdaric")
    target = cache / f"awslambdaric-{version}"
    if not (target / "ready").is_file():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "--target", str(target / "client"),
                        f"awslambdaric=={version}"], check=True, timeout=600)
        (target / "ready").write_text("installed\n")
    return target / "client"


@dataclass(frozen=True)
class Started:
    """The function's run in its task root: the error its initialisation reported to the
    Runtime API (None if it started), and the first golden answer that moved or went unanswered."""

    init_error: str | None
    problem: str | None


def start_function(task: Path, model_dir: Path, client: Path, work: Path) -> Started:
    """The function under the runtime client in `task`, asked every golden question of
    `model_dir` through API Gateway's proxy event."""
    from chalicelib.golden import GoldenAnswer, NoAnswer, first_moved_answer, read_golden
    from chalicelib.proxy_event import api_gateway_event
    from harness.container_image import base_image_commands, read_dockerfile
    from harness.lambda_runtime import ImageLayout, LambdaFunction
    from harness.samples import chalice_environment

    metadata = ModelMetadata.read(model_dir)
    golden = read_golden(model_dir, metadata)
    dockerfile = read_dockerfile()
    layout = ImageLayout(task_root=task, runtime_client=client, handler=dockerfile.cmd[0],
                         environment=dockerfile.declared_environment,
                         commands=base_image_commands(work / "base-image-bin"))
    with LambdaFunction.start(layout, chalice_environment(), timeout_seconds=60) as function:

        def ask(_: int, example: Any) -> GoldenAnswer:
            try:
                invocation = function.invoke(api_gateway_event(
                    "POST", "/predict", json.dumps(example.request),
                    {"Content-Type": "application/json"}), timeout_seconds=120)
            except RuntimeError as error:  # the function did not start, or died
                raise NoAnswer(str(error).splitlines()[0]) from None
            response = invocation.response or {}
            if response.get("statusCode") != 200:
                raise NoAnswer(f"HTTP {response.get('statusCode')}: {response.get('body')}")
            [prediction] = json.loads(response["body"])["predictions"]
            return GoldenAnswer(advice_id=prediction["advice_id"],
                                probabilities=prediction["probabilities"])

        problem = first_moved_answer(golden, ask)
        failed = function.api.init_error if function.api.init_failed.is_set() else None
        init_error = None if failed is None else (
            f"{failed.get('errorType', '')}: {failed.get('errorMessage', '')}" if isinstance(
                failed, dict) else str(failed))
        if init_error is None and problem is not None and "no answer" in problem:
            init_error = function.output()  # it died without reporting: its own last words
        return Started(init_error, problem)


def explain(output: str, repository: Path) -> str:
    """What the function's failed start means for the model's author, and the fix."""
    match = _MISSING_MODULE.search(output)
    last = next((line for line in reversed(output.strip().splitlines()) if line.strip()), "")
    if match is None:
        # The function's own refusal (ModelLoadError) already names the fix.
        return f"the function does not start in its image: {last.split('Error: ', 1)[-1]}"
    module = match.group(1)
    top_level = module.split(".", 1)[0]
    providers = distributions.packages_distributions().get(top_level, [])
    if providers:
        distribution = providers[0]
        version = distributions.version(distribution)
        return (f"the image does not install {distribution} {version} (module {module!r}), "
                f"which the model needs: pin `{distribution}=={version}` in "
                "requirements/model-libraries.txt and run `make lock` (model/README.md, "
                "\"Using another library\")")
    spec = find_spec(top_level)
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if (origin is not None and origin.resolve().is_relative_to(repository)) or (
            top_level == "model"):
        return (f"the model needs {module!r}, code of this project that the image does not "
                f"ship: only chalicelib/ and {COMPONENTS_HOME} reach the image; move it under "
                f"{COMPONENTS_HOME}, import it from there in the training script, and save the "
                "model again")
    return f"the model needs module {module!r}, installed neither here nor in the image: {last}"


def check(model_dir: Path, *, context: Path | None = None,
          cache: Path | None = None) -> ImageCheck:
    """Start the function on `model_dir` in its image's task root; `context` is the image's
    build context (the repository with the model in model/, by default)."""
    from harness.container_image import context_with_model

    metadata = ModelMetadata.read(model_dir)
    with tempfile.TemporaryDirectory() as work:
        if context is None:
            context = context_with_model(Path(work) / "context", model_dir)
        cache = cache or default_cache()
        dependencies, seconds = dependencies_root(context, metadata, cache)
        task = task_root(dependencies, context, Path(work) / "task")
        started = start_function(task, model_dir, runtime_client(cache), Path(work))
        # Paths as the model's author knows them: model/..., not this check's scratch copy.
        init_error = None if started.init_error is None else started.init_error.replace(
            f"{task}/", "")
    if init_error is not None:
        return ImageCheck(False, explain(init_error, contract.PROJECT_ROOT), seconds)
    if started.problem is None:
        examples = ModelMetadata.read(model_dir).golden.examples
        return ImageCheck(True, f"{metadata.name} {metadata.version} starts in its image "
                          f"({metadata.serving.runtime}) and answers its {examples} golden "
                          "questions under the Lambda runtime client as recorded", seconds)
    return ImageCheck(False, f"the function answers otherwise in its image: {started.problem}",
                      seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        result = check(args.model_dir)
    except ModelLoadError as error:
        print(f"image check failed: {error}", file=sys.stderr)
        return 1
    built = f" (task root built in {result.seconds_building:.0f} s, then cached)" if (
        result.seconds_building) else ""
    if not result.ok:
        print(f"image check failed: {result.message}", file=sys.stderr)
        return 1
    print(f"image check: {result.message}{built}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
