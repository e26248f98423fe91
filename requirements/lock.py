"""Write the image's lock files (runtime, runtime-no-deps, scikit-learn, onnxruntime, dataframe):
its pins with the sha256 of each wheel, once every wheel's dependencies are pinned too.

    python requirements/lock.py        (or `make lock`, after changing a pin)

Wheels are resolved for the Lambda platform (lambda-platform, as install-runtime.sh does), which
installs from the lock files with --require-hashes: a wheel that changes on the index after
locking stops the image build instead of entering it.

Each wheel is downloaded alone (`--no-deps`), so nothing is locked that was not pinned; and
nothing is written unless the locked set is closed: every dependency a wheel declares for the
Lambda platform is pinned in the same image install, or listed in NOT_INSTALLED with why the
function does without it. Without that, a pin whose new dependency was forgotten would lock
cleanly and fail the image build (`--require-hashes` refuses an unpinned dependency), or
install without it and fail at the first import in Lambda.
"""

from __future__ import annotations

import email.parser
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The same platform install-runtime.sh installs for.
PLATFORM_FLAGS = [line for line in (HERE / "lambda-platform").read_text().splitlines()
                  if line and not line.startswith("#")]
LOCKS = {"runtime.txt": "runtime.lock", "runtime-no-deps.txt": "runtime-no-deps.lock",
         "scikit-learn.txt": "scikit-learn.lock", "onnxruntime.txt": "onnxruntime.lock",
         "dataframe.txt": "dataframe.lock", "model-libraries.txt": "model-libraries.lock"}
# What each image install can draw on (install-runtime.sh): the runtime set, then the model's own
# runtime beside it (a DataFrame model's pandas beside scikit-learn).
INSTALLS = {
    "runtime.txt": ("runtime.txt", "runtime-no-deps.txt"),
    "runtime-no-deps.txt": ("runtime.txt", "runtime-no-deps.txt"),
    "scikit-learn.txt": ("runtime.txt", "scikit-learn.txt"),
    "onnxruntime.txt": ("runtime.txt", "onnxruntime.txt"),
    "dataframe.txt": ("runtime.txt", "scikit-learn.txt", "dataframe.txt"),
    "model-libraries.txt": ("runtime.txt", "scikit-learn.txt", "dataframe.txt",
                            "model-libraries.txt"),
}
# Declared dependencies the image deliberately leaves out (their packages are installed with
# --no-deps), by package: what would otherwise fail the closure check.
NOT_INSTALLED = {
    # Chalice's CLI: the function imports only chalice.app.
    "chalice": {"click", "inquirer", "pip", "pyyaml", "setuptools", "wheel"},
    # ONNX Runtime's model tools: an InferenceSession needs only numpy.
    "onnxruntime": {"flatbuffers", "packaging", "protobuf"},
}
# The Lambda platform as environment markers see it (PEP 508).
LAMBDA_MARKERS = {"python_version": "3.12", "python_full_version": "3.12.0", "os_name": "posix",
                  "sys_platform": "linux", "platform_system": "Linux",
                  "platform_machine": "x86_64", "implementation_name": "cpython",
                  "platform_python_implementation": "CPython", "extra": ""}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_requirements(wheel: Path) -> tuple[str, set[str]]:
    """A wheel's project name and the projects it requires on the Lambda platform."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode("utf-8")
    message = email.parser.Parser().parsestr(text, headersonly=True)
    needed = set()
    for line in message.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(LAMBDA_MARKERS):
            needed.add(canonical(requirement.name))
    return canonical(str(message["Name"])), needed


def unpinned(requirements: dict[str, set[str]], pinned: dict[str, set[str]]) -> list[str]:
    """Every dependency a locked wheel declares that its image install does not pin, as
    "<lock source>: <project> needs <dependency>"; empty when the set is closed.

    `requirements` maps each locked project to what it needs; `pinned` maps each requirements
    file (LOCKS) to the projects it pins.
    """
    problems = []
    for source, projects in pinned.items():
        available = set().union(*(pinned[s] for s in INSTALLS[source]))
        for project in sorted(projects):
            for dependency in sorted(requirements[project] - available
                                     - NOT_INSTALLED.get(project, set())):
                problems.append(f"{source}: {project} needs {dependency}, pinned in none of "
                                f"{', '.join(INSTALLS[source])}")
    return problems


def download(requirements: Path, destination: Path) -> list[Path]:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--dest", str(destination), *PLATFORM_FLAGS, "-r", str(requirements)],
        check=True,
    )
    return sorted(destination.glob("*.whl"), key=lambda p: p.name.lower())


def lock_text(source: str, wheels: list[Path]) -> str:
    lines = [f"# Generated by requirements/lock.py from {source}: do not edit."]
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{canonical(name)}=={version} \\\n    --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        wheels = {source: download(HERE / source, Path(workdir) / source) for source in LOCKS}
        requirements: dict[str, set[str]] = {}
        pinned: dict[str, set[str]] = {}
        for source, found in wheels.items():
            for wheel in found:
                project, needed = wheel_requirements(wheel)
                requirements[project] = needed
                pinned.setdefault(source, set()).add(project)
        problems = unpinned(requirements, pinned)
        if problems:
            sys.exit("lock.py: the locked set is not closed under its dependencies; pin each "
                     "in the requirements file named (or, for a package installed without "
                     "dependencies, list it in NOT_INSTALLED with why):\n  "
                     + "\n  ".join(problems))
        for source, target in LOCKS.items():
            (HERE / target).write_text(lock_text(source, wheels[source]), encoding="utf-8")
            print(HERE / target)


if __name__ == "__main__":
    main()
