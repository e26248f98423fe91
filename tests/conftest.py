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

from chalicelib.config import BUNDLED_MODEL_DIR
from chalicelib.metadata import (
    ARTIFACT_FILENAME,
    METADATA_FILENAME,
    AdviceClass,
    EvaluationMetrics,
    FeatureSpec,
)
from harness import REPO_ROOT
from harness.chalice_local import ChaliceLocal
from harness.container_image import ImageBuild, build_image, image_layout_of
from harness.lambda_runtime import ImageLayout
from harness.samples import SHORT_NIGHT, chalice_environment

# `make test-fast` trades example counts for speed; `make test` (and CI) runs them all.
settings.register_profile("fast", max_examples=25, deadline=None)
settings.register_profile("full", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full"))


def pytest_configure(config: pytest.Config) -> None:
    # The app reads its POWERTOOLS_* settings at import, as it does in Lambda, so the
    # environment of .chalice/config.json is in place before any test imports it.
    os.environ.update(chalice_environment())


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled artifact and metadata, for breaking on purpose."""
    for name in (ARTIFACT_FILENAME, METADATA_FILENAME):
        shutil.copy(BUNDLED_MODEL_DIR / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def night() -> dict[str, Any]:
    return copy.deepcopy(SHORT_NIGHT)


@pytest.fixture(scope="session")
def app_module() -> ModuleType:
    import app

    return app


@pytest.fixture
def client(app_module: ModuleType) -> Iterator[Client]:
    with Client(app_module.app) as test_client:
        yield test_client


BEDROOM_FEATURES = (
    FeatureSpec(
        name="room_temperature_celsius", type="number", unit="°C", minimum=5, maximum=40,
        description="Bedroom temperature at bedtime.",
    ),
    FeatureSpec(
        name="naps", type="integer", unit="count", minimum=0, maximum=6,
        description="Naps taken yesterday.",
    ),
)
BEDROOM_CLASSES = (
    AdviceClass(id="cool_the_room", advice="Cool your bedroom to about 18 °C."),
    AdviceClass(id="skip_naps", advice="Skip daytime naps this week."),
    AdviceClass(id="all_good", advice="Nothing to change."),
)


@pytest.fixture(scope="session")
def bedroom_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, tiny model with other features and classes, written like the real one."""
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    from model.train import write_model

    rng = np.random.default_rng(3)
    temperature = rng.uniform(10, 35, 600)
    naps = rng.integers(0, 5, 600)
    labels = np.where(temperature > 24, "cool_the_room", np.where(naps > 2, "skip_naps", "all_good"))
    estimator = DecisionTreeClassifier(max_depth=3, random_state=0)
    estimator.fit(np.column_stack([temperature, naps]), labels)
    output = tmp_path_factory.mktemp("bedroom-model")
    write_model(
        output,
        estimator,
        name="bedroom",
        version="0.1.0",
        description="Test model with different features and classes.",
        features=BEDROOM_FEATURES,
        classes=BEDROOM_CLASSES,
        metrics=EvaluationMetrics(accuracy=1.0, macro_f1=1.0, test_rows=1, train_rows=600),
        training={"script": "tests/conftest.py"},
    )
    return output


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
