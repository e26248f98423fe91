"""Fixtures shared by the test layers: valid input, the app under test, a second model."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from chalice.test import Client
from sklearn.tree import DecisionTreeClassifier

from chalicelib.config import BUNDLED_MODEL_DIR, get_settings
from chalicelib.metadata import (
    ARTIFACT_FILENAME,
    METADATA_FILENAME,
    AdviceClass,
    EvaluationMetrics,
    FeatureSpec,
)
from model.train import write_model
from tests.container_image import ImageBuild, build_image
from tests.container_image import image_layout as image_layout_of
from tests.lambda_runtime import ImageLayout
from tests.support import ChaliceLocal

REPO_ROOT = Path(__file__).resolve().parent.parent

# The app reads its POWERTOOLS_* settings at import, as it does in Lambda, so the environment
# of .chalice/config.json is applied before anything imports it.
CHALICE_ENVIRONMENT: dict[str, str] = json.loads(
    (REPO_ROOT / ".chalice" / "config.json").read_text()
)["environment_variables"]
os.environ.update(CHALICE_ENVIRONMENT)

# One plausible night: short sleep, so the bundled model advises a longer sleep window.
SHORT_NIGHT: dict[str, Any] = {
    "sleep_duration_hours": 5.5,
    "sleep_latency_minutes": 15,
    "night_awakenings": 1,
    "bedtime_variability_minutes": 20,
    "screen_minutes_before_bed": 15,
    "caffeine_after_14h_mg": 0,
    "exercise_minutes": 30,
}

_FEATURE_NAMES = list(SHORT_NIGHT)
# One night per advice class of the bundled model (each predicted with probability > 0.98).
NIGHTS_BY_ADVICE: dict[str, dict[str, Any]] = {
    advice: dict(zip(_FEATURE_NAMES, values, strict=True)) for advice, values in {
        "extend_sleep_window": [5.5, 15, 1, 20, 15, 0, 30],
        "cut_late_caffeine": [7.8, 50, 4, 20, 15, 400, 30],
        "fix_schedule": [7.5, 15, 1, 150, 15, 0, 30],
        "reduce_evening_screens": [7.6, 60, 1, 20, 150, 0, 30],
        "keep_routine": [7.8, 12, 0, 15, 10, 0, 60],
    }.items()
}


def post_predict(client: Client, document: Any) -> Any:
    """POST /predict with a JSON document through Chalice's test client."""
    return client.http.post("/predict", headers={"Content-Type": "application/json"},
                            body=json.dumps(document))


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled artifact and metadata, for breaking on purpose."""
    for name in (ARTIFACT_FILENAME, METADATA_FILENAME):
        shutil.copy(BUNDLED_MODEL_DIR / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def night() -> dict[str, Any]:
    return copy.deepcopy(SHORT_NIGHT)


def import_app(module_name: str, model_dir: Path | None = None) -> ModuleType:
    """Import app.py afresh as `module_name`, serving the model in `model_dir`."""
    previous = os.environ.get("SLEEP_ADVISOR_MODEL_DIR")
    if model_dir is not None:
        os.environ["SLEEP_ADVISOR_MODEL_DIR"] = str(model_dir)
    get_settings.cache_clear()
    try:
        spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        if previous is None:
            os.environ.pop("SLEEP_ADVISOR_MODEL_DIR", None)
        else:
            os.environ["SLEEP_ADVISOR_MODEL_DIR"] = previous
        get_settings.cache_clear()


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
