"""The model loaded as the function will load it: in the image's own task root.

    python -m model.image_check MODEL_DIR     (`make check-model`, `make synth`, `make deploy`)

`make check-model`'s first half loads the model in the development venv, where every library
is installed and the repository is on the import path; a model needing a library the image
does not install, or code the image does not ship, would pass there and fail at the image's
cold start. This builds the image's task root by following the Dockerfile (as the test suite
does, in the base image's command set), reuses it while the locks, the Dockerfile and what the
model needs are unchanged, and starts the function's initialisation (`import app`) in the base
interpreter with no site-packages. A failure names the missing module and the fix.
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


def start_function(task: Path) -> subprocess.CompletedProcess[str]:
    """The function's initialisation in the base interpreter: no site-packages, no repository."""
    from harness.container_image import read_dockerfile
    from harness.samples import chalice_environment

    python = getattr(sys, "_base_executable", sys.executable)
    environment = {"PATH": os.environ.get("PATH", ""), "LAMBDA_TASK_ROOT": str(task),
                   "AWS_DEFAULT_REGION": "eu-central-1", "PYTHONDONTWRITEBYTECODE": "1",
                   **read_dockerfile().declared_environment, **chalice_environment()}
    script = "import sys; sys.path.insert(0, sys.argv[1]); import app"
    return subprocess.run([python, "-S", "-c", script, str(task)], cwd=task, env=environment,
                          capture_output=True, text=True, timeout=300)


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
        dependencies, seconds = dependencies_root(context, metadata, cache or default_cache())
        task = task_root(dependencies, context, Path(work) / "task")
        result = start_function(task)
        # Paths as the model's author knows them: model/..., not this check's scratch copy.
        output = (result.stdout + result.stderr).replace(f"{task}/", "")
    if result.returncode == 0:
        return ImageCheck(True, f"{metadata.name} {metadata.version} starts in its image "
                          f"({metadata.serving.runtime})", seconds)
    return ImageCheck(False, explain(output, contract.PROJECT_ROOT), seconds)


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
