"""The image's dependencies: pinned, hashed, and the same versions as the dev environment."""

from __future__ import annotations

import re
from pathlib import Path

from harness import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_every_requirement_is_pinned() -> None:
    for path in REQUIREMENTS.glob("*.txt"):
        for line in path.read_text().splitlines():
            if line and not line.startswith(("#", "-r ")):
                assert re.match(r"^[A-Za-z0-9_.\-\[\]]+==\S+$", line), f"{path.name}: {line}"


def test_lock_files_pin_exactly_the_runtime_requirements() -> None:
    for source, lock in (("runtime.txt", "runtime.lock"),
                         ("runtime-no-deps.txt", "runtime-no-deps.lock"),
                         ("dataframe.txt", "dataframe.lock")):
        assert pins(REQUIREMENTS / lock) == pins(REQUIREMENTS / source), lock


def test_every_locked_wheel_has_a_sha256() -> None:
    for lock in ("runtime.lock", "runtime-no-deps.lock", "dataframe.lock"):
        text = (REQUIREMENTS / lock).read_text()
        assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) == len(pins(REQUIREMENTS / lock))


def test_lock_and_install_read_the_one_platform_definition() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock", REQUIREMENTS / "lock.py")
    if spec is None or spec.loader is None:
        raise ImportError("requirements/lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    script = (REQUIREMENTS / "install-runtime.sh").read_text()

    assert "--platform" in module.PLATFORM_FLAGS and "manylinux_2_28_x86_64" in module.PLATFORM_FLAGS
    assert "lambda-platform" in script and "--platform" not in script
