"""The image's dependencies: pinned, hashed, and the same versions as the dev environment."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

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


LOCKS = {"runtime.txt": "runtime.lock", "runtime-no-deps.txt": "runtime-no-deps.lock",
         "scikit-learn.txt": "scikit-learn.lock", "onnxruntime.txt": "onnxruntime.lock",
         "dataframe.txt": "dataframe.lock", "model-libraries.txt": "model-libraries.lock"}


def test_lock_files_pin_exactly_the_runtime_requirements() -> None:
    for source, lock in LOCKS.items():
        assert pins(REQUIREMENTS / lock) == pins(REQUIREMENTS / source), lock


def test_every_locked_wheel_has_a_sha256() -> None:
    for lock in LOCKS.values():
        text = (REQUIREMENTS / lock).read_text()
        assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) == len(pins(REQUIREMENTS / lock))


def lock_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock", REQUIREMENTS / "lock.py")
    if spec is None or spec.loader is None:
        raise ImportError("requirements/lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Amazon Linux 2023's glibc, which the Lambda Python 3.12 base image runs.
BASE_IMAGE_GLIBC_MINOR = 34


def test_the_platform_lists_every_manylinux_level_the_base_images_glibc_runs() -> None:
    # pip matches only the platforms it is given: a wheel tagged manylinux_2_27 alone would be
    # invisible to a list of _2_28 and _2_17, though glibc 2.34 runs it.
    flags = lock_module().PLATFORM_FLAGS
    platforms = [flags[i + 1] for i, flag in enumerate(flags) if flag == "--platform"]

    assert set(platforms) == {f"manylinux_2_{minor}_x86_64"
                              for minor in range(17, BASE_IMAGE_GLIBC_MINOR + 1)} | {
        "manylinux2014_x86_64"}


def test_a_lock_missing_a_dependency_is_refused_naming_it(tmp_path: Path) -> None:
    lock = lock_module()
    wheel = tmp_path / "teamlib-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("teamlib-1.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: teamlib\nVersion: 1.0\n"
                         "Requires-Dist: numpy>=2\nRequires-Dist: tqdm\n"
                         "Requires-Dist: pywin32; sys_platform == 'win32'\n"
                         "Requires-Dist: pytest; extra == 'test'\n")
    name, needs = lock.wheel_requirements(wheel)
    pinned = {source: set(pins(REQUIREMENTS / source)) for source in lock.LOCKS}
    requirements: dict[str, set[str]] = {project: set() for projects in pinned.values()
                                         for project in projects}
    requirements["teamlib"] = needs
    pinned["scikit-learn.txt"].add("teamlib")

    # Only what Linux needs without extras; numpy is in the runtime set.
    assert (name, needs) == ("teamlib", {"numpy", "tqdm"})
    assert lock.unpinned(requirements, pinned) == [
        "scikit-learn.txt: teamlib needs tqdm, pinned in none of runtime.txt, scikit-learn.txt"]
    requirements["teamlib"] = {"numpy"}
    assert lock.unpinned(requirements, pinned) == []


def test_lock_and_install_read_the_one_platform_definition() -> None:
    module = lock_module()
    script = (REQUIREMENTS / "install-runtime.sh").read_text()

    assert "--platform" in module.PLATFORM_FLAGS and "manylinux_2_28_x86_64" in module.PLATFORM_FLAGS
    assert "lambda-platform" in script and "--platform" not in script


def test_the_botocore_models_kept_in_the_image_are_the_services_the_service_calls() -> None:
    # install-runtime.sh removes every other service's API model: a client for a service not
    # listed would fail in the image alone ("Unknown service").
    script = (REQUIREMENTS / "install-runtime.sh").read_text()
    [listed] = re.findall(r'^BOTOCORE_SERVICES="([a-z0-9 -]+)"$', script, flags=re.MULTILINE)
    created = {name for source in (REPO_ROOT / "chalicelib").glob("*.py")
               for name in re.findall(r'create_client\(\s*"([a-z0-9-]+)"', source.read_text())}
    # The X-Ray SDK's own client, for centralized sampling rules.
    assert set(listed.split()) == created | {"xray"}


def test_the_compiled_models_runtime_is_the_locked_one() -> None:
    # save_model checked the graph in the dev venv's ONNX Runtime, which is the image's pin.
    from chalicelib.metadata import ModelMetadata
    from harness.samples import MODEL_DIR

    compiled = ModelMetadata.read(MODEL_DIR).serving.compiled
    if compiled is not None:
        assert pins(REQUIREMENTS / "onnxruntime.lock")["onnxruntime"] == compiled.runtime_version
