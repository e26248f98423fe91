"""The Dockerfile, interpreted without Docker, in a model of AWS Lambda's Python 3.12 base image.

No Docker engine runs here, so the image is built by following the Dockerfile instruction by
instruction into a scratch root: COPY puts files where the image would have them, RUN runs the
line with `/bin/sh -c` as Docker does, and CMD is what the runtime client is started with.

What makes this a model of the base image rather than of this machine is the command set: a RUN
line sees a PATH that holds only the commands `public.ecr.aws/lambda/python:3.12` has, so a
script calling `find` fails here with exit 127 exactly as `docker build` would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.metadata import OPTIONAL_PACKAGE_FILES, package_files
from harness import REPO_ROOT
from harness.lambda_runtime import ImageLayout

DOCKERFILE = REPO_ROOT / "Dockerfile"
INSTALL_SCRIPT = "requirements/install-runtime.sh"

# The commands on the base image's PATH (/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin).
# Sources: the image is Amazon Linux 2023 *minimal* — `rpm -qa` inside
# public.ecr.aws/lambda/python:3.12 (amazonlinux/amazon-linux-2023 issue 585) lists bash,
# coreutils-single, grep, gawk and curl-minimal among its packages and no findutils, which
# aws/aws-lambda-base-images issue 196 confirms (`find: command not found`, exit 127);
# /var/lang/bin holds the runtime's python3 and pip (the image's own Dockerfile puts it first
# on PATH). Nothing else: no find, xargs, which, sed, tar, gzip, unzip, dnf's plugins or git.
PYTHON_COMMANDS = ("python3", "python3.12", "pip", "pip3")
SHELL_COMMANDS = ("sh", "bash")
COREUTILS = (
    "[", "arch", "base32", "base64", "basename", "cat", "chgrp", "chmod", "chown", "cksum",
    "comm", "cp", "csplit", "cut", "date", "dd", "df", "dirname", "du", "echo", "env",
    "expand", "expr", "factor", "false", "fmt", "fold", "head", "id", "install", "join",
    "link", "ln", "ls", "md5sum", "mkdir", "mkfifo", "mknod", "mktemp", "mv", "nice", "nl",
    "nohup", "nproc", "numfmt", "od", "paste", "pathchk", "printenv", "printf", "pwd",
    "readlink", "realpath", "rm", "rmdir", "seq", "sha1sum", "sha256sum", "sha512sum",
    "shred", "shuf", "sleep", "sort", "split", "stat", "sum", "sync", "tac", "tail", "tee",
    "test", "timeout", "touch", "tr", "true", "truncate", "tsort", "uname", "unexpand",
    "uniq", "wc", "whoami", "yes",
)
OTHER_COMMANDS = ("grep", "egrep", "fgrep", "gawk", "awk", "curl")
BASE_IMAGE_COMMANDS = frozenset(PYTHON_COMMANDS + SHELL_COMMANDS + COREUTILS + OTHER_COMMANDS)

# What the base image's own Dockerfile sets, as later instructions see it.
BASE_IMAGE_ENVIRONMENT = {
    "LANG": "en_US.UTF-8",
    "TZ": ":/etc/localtime",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}
BASE_IMAGE_WORKDIR = "/var/task"
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def base_image_commands(bin_dir: Path) -> Path:
    """A directory of links to this machine's versions of the base image's commands only.

    `sh` is bash, as on Amazon Linux; `python3` and `pip` are this Python 3.12 (with pip), as
    /var/lang/bin has the runtime's.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = Path(getattr(sys, "_base_executable", sys.executable))  # not this venv's wrapper
    for command in BASE_IMAGE_COMMANDS:
        if command in PYTHON_COMMANDS:
            target: str | None = str(python) if command.startswith("python") else str(
                python.parent / command)
        elif command == "sh":
            target = shutil.which("bash")
        else:
            target = shutil.which(command)
        if target and Path(target).exists():
            (bin_dir / command).symlink_to(target)
    return bin_dir


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str


def instructions(path: Path = DOCKERFILE) -> Iterator[Instruction]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, argument = line.partition(" ")
            yield Instruction(keyword.upper(), argument.strip())


def _expand(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), text)


@dataclass
class ImageBuild:
    """Following a Dockerfile into `root`, the image's file system without Docker."""

    root: Path
    commands: Path
    base_image: str = ""
    arguments: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=lambda: dict(BASE_IMAGE_ENVIRONMENT))
    declared_environment: dict[str, str] = field(default_factory=dict)  # the Dockerfile's ENV
    copied_directories: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    run_log: list[str] = field(default_factory=list)
    dockerfile: Path = DOCKERFILE
    # The files each instruction added, in order: what a layer holds, so a rebuild can go
    # back to the file system before any of them.
    layers: list[set[str]] = field(default_factory=list)

    def host_path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def follow(self, instruction: Instruction, context: Path) -> None:
        before = self._files() if instruction.keyword in ("COPY", "RUN") else set()
        self._follow(instruction, context)
        self.layers.append(self._files() - before if instruction.keyword in ("COPY", "RUN")
                           else set())

    def _files(self) -> set[str]:
        if not self.root.exists():
            return set()
        found: set[str] = set()
        for directory, subdirectories, names in os.walk(self.root):
            found.update(os.path.join(directory, name) for name in names + subdirectories)
        return found

    def _follow(self, instruction: Instruction, context: Path) -> None:
        keyword, argument = instruction.keyword, instruction.argument
        if keyword == "ARG":
            name, _, default = argument.partition("=")
            self.arguments[name] = default
        elif keyword == "FROM":
            self.base_image = _expand(argument, self.arguments)
        elif keyword == "ENV":
            for pair in shlex.split(argument):
                name, _, value = pair.partition("=")
                self.environment[name] = self.declared_environment[name] = value
        elif keyword == "COPY":
            self._copy(shlex.split(_expand(argument, self.environment)), context)
        elif keyword == "RUN":
            self._run(argument)
        elif keyword == "CMD":
            self.cmd = json.loads(argument)
        else:
            # An instruction this model does not know would be silently skipped otherwise.
            raise ValueError(f"the image emulation does not model {keyword}")

    def _copy(self, words: list[str], context: Path) -> None:
        *patterns, destination = words
        sources: list[str] = []
        for pattern in patterns:  # Docker expands wildcards (Go's filepath.Match) in sources
            if not any(character in pattern for character in "*?["):
                sources.append(pattern)
                continue
            matched = sorted(p.relative_to(context).as_posix() for p in context.glob(pattern))
            if not matched:
                raise ValueError(f"COPY {pattern}: no source files were specified")
            sources += matched
        for source in sources:
            origin = context / source
            target = self.host_path(destination)
            if destination.endswith("/"):
                self.copied_directories.append(destination.rstrip("/"))
            if origin.is_dir():  # Docker copies a directory's contents into the destination
                shutil.copytree(origin, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            elif destination.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target / origin.name)
            elif len(sources) == 1:  # Docker: a destination without a trailing slash is a file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target)
            else:
                raise ValueError(f"COPY of several sources needs a destination ending in /: "
                                 f"{destination}")

    def _run(self, command: str) -> None:
        # Absolute image paths that a COPY created live under the scratch root here.
        for directory in sorted(set(self.copied_directories), key=len, reverse=True):
            command = command.replace(directory, str(self.host_path(directory)))
        environment = {
            **self.environment,
            "LAMBDA_TASK_ROOT": str(self.host_path(self.environment["LAMBDA_TASK_ROOT"])),
            "LAMBDA_RUNTIME_DIR": str(self.host_path(self.environment["LAMBDA_RUNTIME_DIR"])),
            "HOME": str(self.host_path("/root")),
            "PATH": str(self.commands),
        }
        workdir = self.host_path(BASE_IMAGE_WORKDIR)
        workdir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(self.commands / "sh"), "-c", command], cwd=workdir, env=environment,
            capture_output=True, text=True, timeout=900,
        )
        self.run_log.append(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(
                f"RUN {command!r} exited {result.returncode} in the base image's command set:\n"
                f"{result.stderr[-4000:]}"
            )


def build_image(workdir: Path, dockerfile: Path = DOCKERFILE, context: Path = REPO_ROOT) -> ImageBuild:
    """Follow every instruction of `dockerfile` into `workdir`; a failing RUN raises."""
    build = ImageBuild(root=workdir / "rootfs",
                       commands=base_image_commands(workdir / "base-image-bin"))
    for instruction in instructions(dockerfile):
        build.follow(instruction, context)
    build.dockerfile = dockerfile
    return build


def rebuild_image(cached: ImageBuild, cached_context: Path, workdir: Path,
                  context: Path) -> ImageBuild:
    """`context` built as Docker would with `cached` (built from `cached_context`) in its layer
    cache: every step before the first COPY whose files differ is taken from the cache, every
    step from there on runs for real, on the file system as it was before that step.

    The cache here is the cached build's final file system less the files each later step
    added, which holds for a Dockerfile whose steps only add files (ours: installs, COPY,
    bytecode; what it deletes is its own scratch space, which COPY brings back).
    """
    build = ImageBuild(root=workdir / "rootfs",
                       commands=base_image_commands(workdir / "base-image-bin"))
    # A real copy: the steps that run again overwrite files, which must not reach the cache.
    shutil.copytree(cached.root, build.root, symlinks=True)
    changed = False
    for number, instruction in enumerate(instructions(cached.dockerfile)):
        if not changed and instruction.keyword == "COPY":
            *sources, _ = shlex.split(_expand(instruction.argument, build.environment))
            changed = any(not _same_tree(cached_context / s, context / s) for s in sources
                          if not any(character in s for character in "*?[")) or any(
                not _same_glob(cached_context, context, s) for s in sources)
            if changed:  # back to the file system before this layer and every later one
                _remove_layers(build.root, cached.root, cached.layers[number:])
        if changed or instruction.keyword != "RUN":
            # COPY again too (cheap): a later RUN may have deleted what it copied (our
            # requirements under /tmp), which a per-layer cache would still have.
            build.follow(instruction, context)
        else:  # a cached RUN, whose files are in the copied root
            build.layers.append({str(build.root / Path(entry).relative_to(cached.root))
                                 for entry in cached.layers[number]})
    build.dockerfile = cached.dockerfile
    return build


def _remove_layers(root: Path, cached_root: Path, layers: list[set[str]]) -> None:
    added = sorted((root / Path(entry).relative_to(cached_root) for layer in layers
                    for entry in layer), key=lambda path: len(path.parts), reverse=True)
    for path in added:  # deepest first: a directory a layer created is empty when reached
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)


def _same_glob(a: Path, b: Path, pattern: str) -> bool:
    if not any(character in pattern for character in "*?["):
        return True
    matched_a = sorted(p.relative_to(a) for p in a.glob(pattern))
    matched_b = sorted(p.relative_to(b) for p in b.glob(pattern))
    return matched_a == matched_b and all(_same_tree(a / m, b / m) for m in matched_a)


def _same_tree(a: Path, b: Path) -> bool:
    if a.is_dir() and b.is_dir():
        names = {p.relative_to(a) for p in a.rglob("*") if "__pycache__" not in p.parts}
        if names != {p.relative_to(b) for p in b.rglob("*") if "__pycache__" not in p.parts}:
            return False
        return all(_same_tree(a / n, b / n) for n in names if (a / n).is_file())
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()


def context_with_model(destination: Path, model_dir: Path) -> Path:
    """A build context holding what .dockerignore lets in, with `model_dir`'s saved model in
    model/: the context `cdk deploy` would send after a data scientist replaced the model."""
    rules = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    for allowed in (rule[1:].rstrip("/") for rule in rules if rule.startswith("!")):
        source, target = REPO_ROOT / allowed, destination / allowed
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    for stale in OPTIONAL_PACKAGE_FILES:  # the bundled model's graph, if the new one has none
        (destination / "model" / stale).unlink(missing_ok=True)
    for saved in package_files(model_dir):
        shutil.copy2(model_dir / saved, destination / "model" / saved)
    return destination


def image_layout_of(build: ImageBuild, workdir: Path) -> ImageLayout:
    """What the runtime needs of a built image, plus the runtime client the base image ships."""
    runtime_client = workdir / "runtime-client"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(runtime_client), f"awslambdaric=={pinned('awslambdaric')}"],
        check=True, timeout=600,
    )
    return ImageLayout(
        task_root=build.host_path(build.environment["LAMBDA_TASK_ROOT"]),
        runtime_client=runtime_client, handler=build.cmd[0],
        environment=build.declared_environment, commands=build.commands,
    )


SERVICE_SOURCES = ("app.py", "chalicelib")


def without_service_bytecode(layout: ImageLayout, destination: Path) -> ImageLayout:
    """`layout` as the image was before its build compiled the service's own modules: the
    dependencies linked in unchanged, app.py and chalicelib/ copied without bytecode."""
    destination.mkdir(parents=True)
    for entry in layout.task_root.iterdir():
        if entry.name in SERVICE_SOURCES and entry.is_file():
            shutil.copy2(entry, destination / entry.name)
        elif entry.name in SERVICE_SOURCES or entry.name == "__pycache__":
            # The top-level __pycache__ holds app.py's bytecode beside the dependencies' own.
            shutil.copytree(entry, destination / entry.name,
                            ignore=shutil.ignore_patterns("__pycache__", "app.*.pyc"))
        else:
            (destination / entry.name).symlink_to(entry)
    return dataclasses.replace(layout, task_root=destination)


def pinned(package: str) -> str:
    """A development requirement's pinned version (requirements/dev.txt)."""
    for line in (REPO_ROOT / "requirements" / "dev.txt").read_text().splitlines():
        if line.lower().startswith(f"{package}=="):
            return line.split("==", 1)[1]
    raise LookupError(f"{package} is not pinned in requirements/dev.txt")


def read_dockerfile(path: Path = DOCKERFILE) -> ImageBuild:
    """What a Dockerfile declares (base image, arguments, ENV, CMD) without building it: every
    instruction but COPY and RUN, followed exactly as build_image follows it."""
    build = ImageBuild(root=Path("/nonexistent"), commands=Path("/nonexistent"))
    for instruction in instructions(path):
        if instruction.keyword not in ("COPY", "RUN"):
            build.follow(instruction, REPO_ROOT)
    return build


def dockerfile_base_image(path: Path = DOCKERFILE) -> str:
    return read_dockerfile(path).base_image
