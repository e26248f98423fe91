"""The compiled serving path: chosen at save time only where it answers as scikit-learn does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from chalicelib import compiling, contract, golden
from chalicelib.metadata import (
    COMPILED_FILENAME,
    ONNX_RUNTIME,
    SCIKIT_LEARN,
    ModelMetadata,
    package_files,
)
from chalicelib.model_package import load_model_package
from chalicelib.saving import feature_matrix, save_model
from chalicelib.saving import main as saving_main
from harness import REPO_ROOT
from harness.samples import MODEL, MODEL_DIR
from tests.conftest import SECOND_MODEL_DIR
from tests.models import bedroom_train


@pytest.mark.parametrize("model_dir", [MODEL_DIR, SECOND_MODEL_DIR], ids=["served", "second"])
def test_a_compiled_model_answers_every_sampled_request_as_scikit_learn(model_dir: Path) -> None:
    # Recomputed here, not read from the metadata: the two runtimes side by side.
    metadata = ModelMetadata.read(model_dir)
    if metadata.serving.runtime != ONNX_RUNTIME:
        pytest.skip(f"{metadata.name} is served by scikit-learn")
    reference = load_model_package(model_dir, runtime=SCIKIT_LEARN).advisor.predictor
    compiled = load_model_package(model_dir, runtime=ONNX_RUNTIME).advisor.predictor

    nights = compiling.sampled_nights(metadata, count=2_000, seed=1)
    comparison = compiling.compare(reference, compiled, nights, metadata)  # type: ignore[arg-type]

    assert comparison.advice_changed == 0
    assert comparison.largest_difference <= golden.TOLERANCE
    assert metadata.serving.compared_requests >= compiling.SAMPLED_REQUESTS + metadata.metrics.test_rows


def test_the_committed_models_are_compiled_at_the_precision_their_kernels_take() -> None:
    # Boosted trees: ONNX Runtime's tree kernels are float32 only. The DataFrame pipeline
    # (scaler, one-hot encoder, logistic regression) runs in float64, exact to the last bits.
    served = ModelMetadata.read(contract.BUNDLED_MODEL_DIR)
    second = ModelMetadata.read(SECOND_MODEL_DIR)
    precisions = {m.name: m.serving.compiled.precision for m in (served, second)
                  if m.serving.compiled is not None}

    assert precisions.get("sleep-advice") == "float32"
    assert precisions.get("bedroom-check") == "float64"
    assert second.serving.largest_difference is not None
    assert second.serving.largest_difference < 1e-12


def test_a_model_the_compiled_graph_answers_wrongly_is_served_by_scikit_learn(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Saved over a compiled model: its graph must not be left beside the new pickle.
    for name in package_files(SECOND_MODEL_DIR):
        shutil.copy(SECOND_MODEL_DIR / name, tmp_path / name)

    metadata = bedroom_train.train(tmp_path, uncompilable=True)

    assert metadata.serving.runtime == SCIKIT_LEARN and metadata.serving.compiled is None
    assert "float32: advice changed on" in metadata.serving.reason
    assert "overflow" in metadata.serving.reason
    assert not (tmp_path / COMPILED_FILENAME).exists()
    assert load_model_package(tmp_path).advisor.runtime == SCIKIT_LEARN
    assert saving_main(["check", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "served by scikit-learn" in printed and "advice changed on" in printed


def test_the_comparison_refuses_a_graph_beyond_the_tolerance() -> None:
    # The acceptance rule itself, on a graph that is right but for a 1e-5 shift in one class.
    package = load_model_package(SECOND_MODEL_DIR, runtime=ONNX_RUNTIME)
    reference = load_model_package(SECOND_MODEL_DIR, runtime=SCIKIT_LEARN).advisor.predictor

    class Shifted:
        classes = package.advisor.predictor.classes

        def predict_proba(self, nights: np.ndarray) -> np.ndarray:
            answers = package.advisor.predictor.predict_proba(nights)
            answers[:, 0] += 1e-5
            return answers

    nights = compiling.sampled_nights(package.advisor.metadata, count=100)
    comparison = compiling.compare(reference, Shifted(), nights,  # type: ignore[arg-type]
                                   package.advisor.metadata)

    assert comparison.largest_difference == pytest.approx(1e-5, rel=1e-3)
    assert comparison.largest_difference > golden.TOLERANCE


def test_a_converter_error_is_named_and_scikit_learn_serves(tmp_path: Path) -> None:
    rooms, labels = bedroom_train.generate_rooms(600, 3)
    arrays = feature_matrix(rooms, bedroom_train.FEATURES)  # the window as its code
    estimator = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(arrays, labels)

    metadata = save_model(
        tmp_path, estimator, held_out_features=arrays[:300], held_out_labels=labels[:300],
        training_features=arrays[300:], name="bedroom-hist", version="0.0.1",
        description="A histogram-boosted bedroom model.", features=bedroom_train.FEATURES,
        classes=bedroom_train.CLASSES, intended_use="A test's model.",
        training={"script": "tests/unit/test_compiled_serving.py"})

    assert metadata.serving.runtime == SCIKIT_LEARN
    # Whatever the converter raised, the reason is one readable sentence per precision, not
    # the model's attributes it may dump.
    assert metadata.serving.reason.startswith("no ONNX conversion answered exactly: float64: ")
    assert len(metadata.serving.reason) < 2 * compiling.ERROR_CHARACTERS + 300


def test_sampled_requests_cover_each_declared_range_edge_to_edge() -> None:
    nights = compiling.sampled_nights(MODEL, count=500)

    for index, spec in enumerate(MODEL.features):
        column = nights[:, index]
        assert column.min() == spec.lowest and column.max() == spec.highest
        if spec.discrete:  # a count, or a category's code
            assert np.all(column == np.round(column))



@pytest.mark.parametrize(("largest", "served_by"), [(5e-7, ONNX_RUNTIME), (8e-7, SCIKIT_LEARN)])
def test_a_float32_graph_must_leave_room_below_the_tolerance_for_another_cpu(
        monkeypatch: pytest.MonkeyPatch, largest: float, served_by: str) -> None:
    # Within the golden tolerance here is not enough: the golden check runs again at every cold
    # start on Lambda's CPU, whose float32 kernels may add in another order.
    package = load_model_package(SECOND_MODEL_DIR, runtime=SCIKIT_LEARN)
    monkeypatch.setattr(compiling, "PRECISIONS", ("float32",))
    monkeypatch.setattr(compiling, "compare", lambda *_: compiling.Comparison(
        requests=10_000, largest_difference=largest, advice_changed=0))

    serving, graph = compiling.choose_runtime(
        package.advisor.predictor, package.advisor.metadata,  # type: ignore[arg-type]
        compiling.sampled_nights(package.advisor.metadata, count=10), golden.TOLERANCE)

    assert serving.runtime == served_by and (graph is not None) == (served_by == ONNX_RUNTIME)
    if served_by == SCIKIT_LEARN:
        assert "at most 7.5e-07 accepted" in serving.reason


def test_the_same_estimator_compiles_to_the_same_bytes_in_every_process() -> None:
    # The graph's sha256 is in the committed metadata: a conversion that depended on the
    # process's string hashing would rewrite model.onnx at every save.
    script = ("import hashlib, sys; from pathlib import Path; "
              "from chalicelib import compiling; "
              "from chalicelib.model_package import load_model_package; "
              "package = load_model_package(Path(sys.argv[1]), runtime='scikit-learn'); "
              "print(hashlib.sha256(compiling.convert(package.advisor.predictor.estimator, "
              "package.advisor.metadata, 'float32')).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", script, str(SECOND_MODEL_DIR)],
                              cwd=REPO_ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout.split()[-1]
               for seed in ("1", "2", "3")}

    assert len(digests) == 1
