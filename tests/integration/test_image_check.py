"""`make check-model`'s image half: the function started in the task root its image would have,
with the fix named when it cannot start there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from chalicelib.metadata import ModelMetadata
from harness import REPO_ROOT
from harness.container_image import ImageBuild, context_with_model, pinned
from harness.lambda_runtime import ImageLayout
from model import image_check
from tests.models import components_train, xgboost_train


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, image_build: ImageBuild,
          image_layout: ImageLayout) -> Path:
    """A task-root cache holding what the session built already, as a developer's holds what
    an earlier check built: the bundled model's image and the runtime client."""
    cache = tmp_path_factory.mktemp("task-roots")
    context = context_with_model(tmp_path_factory.mktemp("context") / "context",
                                 REPO_ROOT / "model")
    bundled = cache / image_check.build_key(context, ModelMetadata.read(REPO_ROOT / "model"))
    bundled.mkdir()
    (bundled / "task").symlink_to(image_layout.task_root)
    (bundled / "ready").write_text("built by the session\n")
    client = cache / f"awslambdaric-{pinned('awslambdaric')}"
    client.mkdir()
    (client / "client").symlink_to(image_layout.runtime_client)
    (client / "ready").write_text("installed by the session\n")
    return cache


def test_the_bundled_model_starts_in_its_image_from_the_cached_task_root(cache: Path) -> None:
    result = image_check.check(REPO_ROOT / "model", cache=cache)

    assert result.ok, result.message
    assert "golden questions under the Lambda runtime client as recorded" in result.message
    assert result.seconds_building == 0


@pytest.fixture(scope="module")
def scikit_learn_root(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The task root of a scikit-learn model with no library beyond the image's own (the
    components model's), built once for the tests below."""
    model_dir = tmp_path_factory.mktemp("components") / "model"
    components_train.train(model_dir)
    context = context_with_model(tmp_path_factory.mktemp("context") / "context", model_dir)
    root, seconds = image_check.dependencies_root(context, ModelMetadata.read(model_dir), cache)
    assert seconds > 0  # built here, not found
    return root


def test_a_library_the_lock_lacks_is_named_with_the_pin_to_add(
        tmp_path: Path, cache: Path, scikit_learn_root: Path) -> None:
    model_dir = tmp_path / "model"
    xgboost_train.train(model_dir)
    context = context_with_model(tmp_path / "context", model_dir)
    lock = context / "requirements" / "model-libraries.lock"
    # `make lock` not run after the pin: the lock has no xgboost-cpu.
    lock.write_text(re.sub(r"xgboost-cpu==.*\n.*\n", "", lock.read_text()))
    # What that lock builds for a scikit-learn model: the image's own libraries and no other,
    # the task root built above (building it again would take half a minute).
    seeded = cache / image_check.build_key(context, ModelMetadata.read(model_dir))
    seeded.mkdir()
    (seeded / "task").symlink_to(scikit_learn_root)
    (seeded / "ready").write_text("built for the components model\n")

    result = image_check.check(model_dir, context=context, cache=cache)

    # The function's own check of the metadata's libraries refuses before unpickling.
    assert not result.ok
    assert re.search(r"does not start in its image: model/model\.joblib: needs xgboost-cpu=="
                     r"[\d.]+, which is not installed here; pin it in requirements/"
                     r"model-libraries\.txt and run `make lock`", result.message), result.message


def test_a_missing_module_is_told_apart_as_a_library_or_the_projects_code() -> None:
    # What a pickle whose metadata predates its library would meet: Python's own error.
    library = image_check.explain("ModuleNotFoundError: No module named 'sklearn.tree'", REPO_ROOT)
    own = image_check.explain("ModuleNotFoundError: No module named 'model.components.x'",
                              REPO_ROOT)

    assert "does not install scikit-learn" in library and "model-libraries.txt" in library
    assert "code of this project that the image does not ship" in own


def test_project_code_the_image_does_not_ship_is_named_with_where_it_belongs(
        tmp_path: Path, cache: Path, scikit_learn_root: Path) -> None:
    model_dir = tmp_path / "model"
    components_train.train(model_dir)
    context = context_with_model(tmp_path / "context", model_dir)
    # The component left out of the image (as a module kept anywhere else would be).
    (context / "model" / "components" / "sleep_features.py").unlink()

    result = image_check.check(model_dir, context=context, cache=cache)

    assert result.seconds_building == 0  # the components model's task root, from the cache
    assert not result.ok
    assert ("the model needs 'model.components.sleep_features', code of this project that the "
            "image does not ship: only chalicelib/ and model/components/ reach the image") in (
        result.message)


def test_make_check_model_runs_both_halves(tmp_path: Path) -> None:
    result = subprocess.run(["make", "--no-print-directory", "check-model", "MODEL_DIR=model"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "POST /predict features" in result.stdout
    assert "image check: sleep-advice" in result.stdout
