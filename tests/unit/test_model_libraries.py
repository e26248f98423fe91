"""A model's own libraries and code: recorded at save time, refused where the image would not
have them, checked again before unpickling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from chalicelib import pickled, saving
from chalicelib.metadata import METADATA_FILENAME, SCIKIT_LEARN, ModelLoadError, ModelMetadata
from chalicelib.model_package import load_model_package
from chalicelib.saving import ModelRejected, save_model
from model.components.sleep_features import SleepDebt
from model.train import CLASSES, FEATURES, generate_nights
from tests.models import components_train, xgboost_train

NIGHTS = generate_nights(1200, 5)


@pytest.fixture(scope="module")
def xgboost_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("xgboost-model")
    xgboost_train.train(model_dir)
    return model_dir


def save_pipeline(model_dir: Path, transform: Callable[[Any], Any]) -> ModelMetadata:
    estimator = Pipeline([("transform", FunctionTransformer(transform)),
                          ("scaled", StandardScaler()),
                          ("classifier", LogisticRegression(max_iter=500))])
    estimator.fit(NIGHTS.features[:900], NIGHTS.advice_ids[:900])
    return save_model(model_dir, estimator, held_out_features=NIGHTS.features[900:],
                      held_out_labels=NIGHTS.advice_ids[900:],
                      training_features=NIGHTS.features[:900], name="pipeline", version="0.0.1",
                      description="A pipeline with a function of its own.", features=FEATURES,
                      classes=CLASSES, intended_use="A test's model.",
                      training={"script": "tests/unit/test_model_libraries.py"})


def test_an_xgboost_model_records_its_library_and_is_served_by_scikit_learn(
        xgboost_model: Path) -> None:
    metadata = ModelMetadata.read(xgboost_model)
    package = load_model_package(xgboost_model)

    assert metadata.libraries["xgboost-cpu"] == pickled.installed_version("xgboost-cpu")
    assert metadata.estimator == "LabelEncodedClassifier(XGBClassifier)"
    # The wrapper is not an ONNX converter's: scikit-learn serves it.
    assert package.advisor.runtime == SCIKIT_LEARN
    assert "LabelEncodedClassifier" in metadata.serving.reason
    [advice] = package.advisor.advise(NIGHTS.features[:1].tolist())
    assert advice.advice_id in metadata.class_ids


def test_a_model_using_its_own_components_saves_and_loads(tmp_path: Path) -> None:
    metadata = components_train.train(tmp_path)

    assert load_model_package(tmp_path).advisor.metadata.name == metadata.name
    assert "model.components.sleep_features" in pickled.pickled_modules(
        load_model_package(tmp_path).advisor.predictor.estimator)  # type: ignore[attr-defined]


def log_hours(values: Any) -> Any:
    return np.log1p(values)


def test_a_class_of_the_teams_own_that_records_nothing_when_fitted_saves(tmp_path: Path) -> None:
    # A custom first step leaves the pipeline without n_features_in_: the golden answers, asked
    # as requests, check the width instead of a refusal with "?" features.
    estimator = Pipeline([("debt", SleepDebt(hours_column=0)), ("scaled", StandardScaler()),
                          ("classifier", LogisticRegression(max_iter=500))])
    estimator.fit(NIGHTS.features[:900], NIGHTS.advice_ids[:900])
    assert not hasattr(estimator, "n_features_in_")

    metadata = save_model(tmp_path, estimator, held_out_features=NIGHTS.features[900:],
                          held_out_labels=NIGHTS.advice_ids[900:],
                          training_features=NIGHTS.features[:900], name="debt", version="0.0.1",
                          description="", features=FEATURES, classes=CLASSES,
                          intended_use="A test's model.", training={"script": "a test"})

    assert metadata.serving.runtime == SCIKIT_LEARN  # the converter does not know the class
    [advice] = load_model_package(tmp_path).advisor.advise([list(NIGHTS.features[950])])
    assert advice.probabilities == pytest.approx(dict(zip(
        estimator.classes_, estimator.predict_proba([NIGHTS.features[950]])[0], strict=True)),
        abs=1e-9)


def test_a_pickle_naming_code_outside_the_components_home_is_refused(tmp_path: Path) -> None:
    # This module is the project's, but not code the image ships.
    with pytest.raises(ModelRejected, match=r"refers to code in tests\.unit\.test_model_libraries,"
                                            r" which the image would not have: define it in a "
                                            r"module under model/components/"):
        save_pipeline(tmp_path, log_hours)
    assert not (tmp_path / METADATA_FILENAME).exists()


def test_a_pickle_naming_the_training_script_itself_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What `python my_training.py` pickles for a function it defines: __main__.<name>.
    def in_script(values: Any) -> Any:
        return values

    in_script.__module__, in_script.__qualname__ = "__main__", "in_script"
    monkeypatch.setattr(sys.modules["__main__"], "in_script", in_script, raising=False)

    with pytest.raises(ModelRejected, match=r"refers to code in your training script \(__main__\)"):
        save_pipeline(tmp_path, in_script)


def test_a_library_the_image_does_not_pin_is_refused_naming_the_pin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(saving, "image_pins", lambda: {"numpy": "2.5.5"})
    scikit_learn = pickled.installed_version("scikit-learn")

    with pytest.raises(ModelRejected, match=(
            rf"imports scikit-learn {scikit_learn}, which the image does not install: add "
            rf"`scikit-learn=={scikit_learn}` to requirements/model-libraries.txt and run "
            r"`make lock`")):
        components_train.train(tmp_path)


@pytest.mark.parametrize(("libraries", "problem"), [
    ({"xgboost-cpu": "0.0.1"}, r"saved with xgboost-cpu 0\.0\.1 but 3\.4\.1 is installed"),
    ({"sleep-sensor-kit": "1.0"}, r"needs sleep-sensor-kit==1\.0, which is not installed here; "
                                  r"pin it in requirements/model-libraries\.txt"),
])
def test_a_library_missing_or_at_another_version_stops_the_function(
        xgboost_model: Path, tmp_path: Path, libraries: dict[str, str], problem: str) -> None:
    import shutil

    from chalicelib.metadata import package_files

    for name in package_files(xgboost_model):
        shutil.copy(xgboost_model / name, tmp_path / name)
    document = json.loads((tmp_path / METADATA_FILENAME).read_text())
    document["libraries"] = {**document["libraries"], **libraries}
    (tmp_path / METADATA_FILENAME).write_text(json.dumps(document))

    with pytest.raises(ModelLoadError, match=problem):
        load_model_package(tmp_path)
