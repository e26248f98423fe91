"""Fixtures shared by the test layers: the app under test, a second model, real processes.

Layers (each a folder, runnable alone): unit/ (model, schemas, cost model), api/ (Chalice's
test client), infra/ (the stack synthesized in-process), integration/ (real processes: chalice
local, the runtime client, the image build, the CDK CLI, the SAM transform, cdk-nag, load).
`make test-fast` runs the first three.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import settings

from chalicelib.metadata import ONNX_RUNTIME, SCIKIT_LEARN, ModelMetadata, package_files
from harness import REPO_ROOT
from harness.chalice_local import ChaliceLocal
from harness.container_image import ImageBuild, build_image, image_layout_of
from harness.lambda_runtime import ImageLayout
from harness.samples import MODEL_DIR, SAMPLE_INSTANCE, chalice_environment

# `make test-fast` trades example counts for speed; `make test` (and CI) runs them all.
settings.register_profile("fast", max_examples=25, deadline=None)
settings.register_profile("full", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full"))


def pytest_configure(config: pytest.Config) -> None:
    # The app reads its POWERTOOLS_* settings at import, as it does in Lambda, so the
    # environment of .chalice/config.json is in place before any test imports it.
    os.environ.update(chalice_environment())
    # jsii (CDK's bridge to Node.js) warns at every start that Node 20 is end-of-life; it reads
    # the variable as a list of Node majors.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled model directory, for breaking on purpose."""
    for name in package_files(MODEL_DIR):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def instance() -> dict[str, Any]:
    """A valid instance of the served model's features (its first golden request)."""
    return copy.deepcopy(SAMPLE_INSTANCE)


@pytest.fixture(scope="session")
def app_module() -> ModuleType:
    import app

    return app


@pytest.fixture
def client(app_module: ModuleType) -> Iterator[Client]:
    with Client(app_module.app) as test_client:
        yield test_client


# The suite's second model (tests/models/bedroom_train.py): other features and classes, a
# DataFrame pipeline. Tests that swap models serve it; CI also runs the suite with it in model/.
SECOND_MODEL_DIR = REPO_ROOT / "tests" / "models" / "bedroom"


# Both runtimes where the model under test has a compiled graph; scikit-learn alone where it has
# none (an XGBoost model, a FunctionTransformer on the team's code).
requires_compiled = pytest.mark.skipif(
    ModelMetadata.read(MODEL_DIR).serving.compiled is None,
    reason="the model under test has no compiled graph: scikit-learn serves it")
RUNTIMES = [SCIKIT_LEARN, pytest.param(ONNX_RUNTIME, marks=requires_compiled)]


@pytest.fixture(scope="session")
def second_model_dir() -> Path:
    return SECOND_MODEL_DIR


@pytest.fixture(scope="session")
def image_build(tmp_path_factory: pytest.TempPathFactory) -> ImageBuild:
    """The container image's file system, built by following the Dockerfile (no Docker) with
    only the base image's commands on the PATH of every RUN step."""
    return build_image(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="session")
def image_layout(image_build: ImageBuild, tmp_path_factory: pytest.TempPathFactory) -> ImageLayout:
    return image_layout_of(image_build, tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="session")
def chalice_local() -> Iterator[ChaliceLocal]:
    """The bundled model served by a real `chalice local` process on a loopback port."""
    with ChaliceLocal.start(REPO_ROOT) as server:
        yield server
