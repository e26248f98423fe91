"""The model card: held-out scores per class and the confusion matrix, intended use and
limitations, the model's own latency, an optional decision threshold for a model of two classes,
and what GET /model serves of it with and without the training details."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report

from chalicelib import saving
from chalicelib.drift import TRAINING_DETAILS
from chalicelib.metadata import (
    AdviceClass,
    DecisionThreshold,
    ModelLoadError,
    ModelMetadata,
)
from chalicelib.model_package import load_model_package
from chalicelib.openapi import bundled_openapi
from chalicelib.saving import ModelRejected, feature_matrix, save_model
from harness.samples import MODEL_DIR
from tests.models import bedroom_train

ROOMS, LABELS = bedroom_train.generate_rooms(1200, seed=5)
CODED = feature_matrix(ROOMS, bedroom_train.FEATURES)
TWO_CLASSES = (
    AdviceClass(id="bedroom_is_fine", advice="Nothing to change."),
    AdviceClass(id="change_the_room", advice="Something in the bedroom keeps you awake."),
)
BINARY_LABELS = np.where(LABELS == "bedroom_is_fine", "bedroom_is_fine", "change_the_room")
THRESHOLD = DecisionThreshold(advice_id="change_the_room", probability=0.3)


def save_binary(directory: Path, **overrides: Any) -> ModelMetadata:
    estimator = LogisticRegression(max_iter=2000).fit(CODED[:800], BINARY_LABELS[:800])
    arguments: dict[str, Any] = dict(
        held_out_features=CODED[800:], held_out_labels=BINARY_LABELS[800:],
        training_features=CODED[:800], name="bedroom-binary", version="1.0.0", description="",
        features=bedroom_train.FEATURES, classes=TWO_CLASSES,
        intended_use="Whether to look at the bedroom at all.",
        limitations=("Synthetic rooms.", "Errs towards advising a change."),
        training={"script": "tests/unit/test_model_card.py"})
    return save_model(directory, estimator, **{**arguments, **overrides})


def test_the_scores_per_class_and_the_confusion_matrix_are_scikit_learns() -> None:
    metadata = ModelMetadata.read(bedroom_train.OUTPUT_DIR)
    package = load_model_package(bedroom_train.OUTPUT_DIR)
    # The held-out split of the committed model, asked again through the service.
    rooms, labels = bedroom_train.generate_rooms(3000, bedroom_train.SEED)
    from sklearn.model_selection import train_test_split
    _, x_test, _, y_test = train_test_split(rooms, labels, test_size=0.25,
                                            random_state=bedroom_train.SEED, stratify=labels)
    advised = [a.advice_id for a in package.advisor.advise(
        feature_matrix(x_test, bedroom_train.FEATURES).tolist())]
    report = classification_report(y_test, advised, output_dict=True, zero_division=0)

    for class_id, scores in metadata.metrics.per_class.items():
        assert scores.precision == pytest.approx(report[class_id]["precision"], abs=1e-4)
        assert scores.recall == pytest.approx(report[class_id]["recall"], abs=1e-4)
        assert scores.support == report[class_id]["support"]
    matrix = np.array(metadata.metrics.confusion_matrix)
    assert matrix.sum() == metadata.metrics.test_rows
    assert matrix.sum(axis=1).tolist() == [metadata.metrics.per_class[c].support
                                           for c in metadata.class_ids]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metadata.metrics.accuracy, abs=1e-4)


def test_a_model_without_an_intended_use_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelRejected, match="say what the model is for"):
        save_binary(tmp_path, intended_use="  ")
    assert not list(tmp_path.iterdir())


def test_the_latency_is_measured_through_the_runtime_that_serves(tmp_path: Path) -> None:
    metadata = save_binary(tmp_path)

    assert metadata.latency.runtime == metadata.serving.runtime
    assert 0 < metadata.latency.one_night_ms < metadata.latency.hundred_nights_ms
    assert metadata.latency.measured_on


def test_a_decision_threshold_decides_the_advice_and_a_golden_answer(tmp_path: Path) -> None:
    metadata = save_binary(tmp_path, decision_threshold=THRESHOLD)
    package = load_model_package(tmp_path)

    answers = package.advisor.advise(CODED[800:].tolist())
    for answer in answers:
        advised_change = answer.probabilities["change_the_room"] >= 0.3
        assert answer.advice_id == ("change_the_room" if advised_change else "bedroom_is_fine")
    # Some nights are advised a change although staying as they are was more probable ...
    decided = [a for a in answers if a.advice_id == "change_the_room" and a.probability < 0.5]
    assert decided
    # ... and one such night is among the golden answers, so the check notices another threshold.
    golden = json.loads((tmp_path / "golden.json").read_text())
    assert any(e["answer"]["advice_id"] == "change_the_room"
               and e["answer"]["probabilities"]["change_the_room"] < 0.5
               for e in golden["examples"])
    assert metadata.metrics.per_class["change_the_room"].recall > (
        save_binary(tmp_path / "argmax").metrics.per_class["change_the_room"].recall)


@pytest.mark.parametrize("moved", [0.5, 0.2])
def test_a_threshold_changed_after_saving_stops_the_model(tmp_path: Path, moved: float) -> None:
    save_binary(tmp_path, decision_threshold=THRESHOLD)
    document = json.loads((tmp_path / "metadata.json").read_text())
    document["decision_threshold"]["probability"] = moved
    (tmp_path / "metadata.json").write_text(json.dumps(document))

    with pytest.raises(ModelLoadError, match=r"golden example .*: advice"):
        load_model_package(tmp_path)


def test_the_low_probability_alarms_start_from_the_floor_a_threshold_leaves(
        tmp_path: Path) -> None:
    metadata = save_binary(tmp_path, decision_threshold=THRESHOLD)
    answers = load_model_package(tmp_path).advisor.advise(CODED[800:].tolist())

    # Advised at 0.3 or more (from the threshold on), or at more than 0.7 (the other class):
    # a healthy model's average can sit below the two-class default of 0.65.
    assert min(a.probability for a in answers) >= 0.3
    assert metadata.low_probability_threshold == 0.51  # 30 % of the way from 0.3 to 1


def test_a_threshold_needs_two_classes() -> None:
    metadata = ModelMetadata.read(bedroom_train.OUTPUT_DIR)

    with pytest.raises(ValidationError, match="a decision threshold needs a model of two classes"):
        ModelMetadata.model_validate({**metadata.model_dump(), "decision_threshold": {
            "advice_id": "cool_the_room", "probability": 0.3}})


def test_check_model_prints_the_card(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    metadata = save_binary(tmp_path, decision_threshold=THRESHOLD)

    assert saving.main(["check", str(tmp_path)]) == 0

    printed = capsys.readouterr().out
    assert "Intended use: Whether to look at the bedroom at all." in printed
    assert "  - Errs towards advising a change." in printed
    assert "Decision threshold: change_the_room when its probability is at least 0.3" in printed
    for class_id, scores in metadata.metrics.per_class.items():
        assert f"{class_id}  {scores.precision:>9.3f}  {scores.recall:>6.3f}" in printed
    [fine, change] = metadata.metrics.confusion_matrix
    assert f"1. bedroom_is_fine  {fine[0]:>5}  {fine[1]:>5}" in printed
    assert f"2. change_the_room  {change[0]:>5}  {change[1]:>5}" in printed
    assert f"{metadata.latency.one_night_ms:g} ms for one night" in printed


def test_the_public_card_leaves_the_training_details_out_and_keeps_its_promise() -> None:
    card = load_model_package(MODEL_DIR).model_card()
    full = card.served(training_details=True)
    public = card.served(training_details=False)
    schema = bundled_openapi()["components"]["schemas"]["ModelCard"]

    assert set(full) - set(public) == set(TRAINING_DETAILS)
    # What the pre-traffic hook reads to know which model a new version serves.
    assert {"name", "version", "golden"} <= set(public)
    assert {"intended_use", "limitations", "features", "classes", "metrics", "latency"} <= set(
        public)
    # The OpenAPI requires only what both forms hold.
    assert set(schema["required"]) <= set(public)
    assert set(full) <= set(schema["properties"])
