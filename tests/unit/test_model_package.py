"""Bringing your own model: what save_model refuses, what the loader refuses, the golden answers
and the check command. Models are small and fitted here, on the second model's data."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from chalicelib import saving
from chalicelib.golden import TOLERANCE
from chalicelib.metadata import (
    ARTIFACT_FILENAME,
    GOLDEN_FILENAME,
    METADATA_FILENAME,
    ONNX_RUNTIME,
    SCIKIT_LEARN,
    ModelLoadError,
    ModelMetadata,
    Monitoring,
    Runtime,
    default_low_probability,
    sha256_of,
)
from chalicelib.model_package import load_model_package
from chalicelib.saving import ModelRejected, feature_matrix, save_model
from harness.model_packages import package_differences
from tests.conftest import RUNTIMES
from tests.models import bedroom_train

ROOMS, LABELS = bedroom_train.generate_rooms(800, seed=1)
X_TRAIN, X_TEST, Y_TRAIN, Y_TEST = train_test_split(
    ROOMS, LABELS, test_size=0.25, random_state=0, stratify=LABELS)
COLUMNS = [f.name for f in bedroom_train.FEATURES]
# The same rooms in the array encoding (the window as its code), for models fitted on arrays.
ARRAY_TRAIN = feature_matrix(X_TRAIN, bedroom_train.FEATURES)
ARRAY_TEST = feature_matrix(X_TEST, bedroom_train.FEATURES)
CODED_TRAIN = pd.DataFrame(ARRAY_TRAIN, columns=COLUMNS)


def save(output_dir: Path, estimator: Any, **overrides: Any) -> ModelMetadata:
    arguments: dict[str, Any] = dict(
        held_out_features=X_TEST, held_out_labels=Y_TEST, training_features=X_TRAIN,
        name="bedroom-test", version="1.2.3", description="Fitted by a test.",
        features=bedroom_train.FEATURES, classes=bedroom_train.CLASSES,
        intended_use="A test's model.", training={"script": "tests/unit/test_model_package.py"},
    )
    return save_model(output_dir, estimator, **{**arguments, **overrides})


def dataframe_pipeline() -> Any:
    return bedroom_train.build_estimator().fit(X_TRAIN, Y_TRAIN)


@pytest.mark.parametrize("runtime", [SCIKIT_LEARN, ONNX_RUNTIME])
def test_a_dataframe_pipeline_is_served_the_dataframe_it_was_fitted_on(
        tmp_path: Path, runtime: Runtime) -> None:
    estimator = dataframe_pipeline()

    metadata = save(tmp_path, estimator)
    served = load_model_package(tmp_path, runtime=runtime)

    rows = X_TEST.iloc[:25]
    answers = served.advisor.advise(feature_matrix(rows, bedroom_train.FEATURES).tolist())
    expected = estimator.predict_proba(rows)
    assert metadata.input == "dataframe"
    for answer, probabilities in zip(answers, expected, strict=True):
        by_class = dict(zip(estimator.classes_, probabilities, strict=True))
        assert answer.probabilities == pytest.approx(by_class, abs=TOLERANCE)
    assert metadata.estimator == "Pipeline(ColumnTransformer, LogisticRegression)"
    assert metadata.metrics.test_rows == len(Y_TEST)


@pytest.mark.parametrize("runtime", [SCIKIT_LEARN, ONNX_RUNTIME])
def test_an_array_model_is_served_an_array(tmp_path: Path, runtime: Runtime) -> None:
    estimator = DecisionTreeClassifier(max_depth=4, random_state=0).fit(ARRAY_TRAIN, Y_TRAIN)

    metadata = save(tmp_path, estimator, held_out_features=ARRAY_TEST)
    served = load_model_package(tmp_path, runtime=runtime)

    [answer] = served.advisor.advise(ARRAY_TEST[:1].tolist())
    expected = estimator.predict_proba(ARRAY_TEST[:1])[0]
    assert metadata.input == "array"
    assert answer.probabilities == pytest.approx(
        dict(zip(estimator.classes_, expected, strict=True)), abs=TOLERANCE)


def test_golden_answers_cover_every_class_with_clear_winners(tmp_path: Path) -> None:
    save(tmp_path, dataframe_pipeline())
    served = load_model_package(tmp_path)
    examples = served.golden.examples

    assert {e.label for e in examples} == {c.id for c in bedroom_train.CLASSES}
    assert len(examples) == saving.GOLDEN_PER_CLASS * len(bedroom_train.CLASSES)
    assert served.golden.tolerance == TOLERANCE
    for example in examples:
        top, runner_up = sorted(example.answer.probabilities.values(), reverse=True)[:2]
        assert top - runner_up >= saving.GOLDEN_MIN_MARGIN
        assert set(example.request["features"]) == set(COLUMNS)


@pytest.mark.parametrize("columns", [
    pytest.param(COLUMNS[1:] + COLUMNS[:1], id="reordered"),
    pytest.param(["room_temperature", *COLUMNS[1:]], id="renamed"),
])
def test_a_model_fitted_on_other_columns_is_refused(tmp_path: Path, columns: list[str]) -> None:
    frame = (CODED_TRAIN.set_axis(columns, axis=1) if columns[0] == "room_temperature"
             else CODED_TRAIN[columns])
    estimator = DecisionTreeClassifier(max_depth=4, random_state=0).fit(frame, Y_TRAIN)

    with pytest.raises(ModelRejected, match=re.escape(
            f"the estimator was fitted on the columns {columns} but the metadata lists the "
            f"features {COLUMNS}")):
        save(tmp_path, estimator)
    assert not list(tmp_path.iterdir())


def test_a_model_trained_on_integer_labels_is_refused(tmp_path: Path) -> None:
    codes = {c.id: i for i, c in enumerate(bedroom_train.CLASSES)}
    estimator = DecisionTreeClassifier(max_depth=4, random_state=0).fit(
        ARRAY_TRAIN, [codes[y] for y in Y_TRAIN])

    with pytest.raises(ModelRejected, match=re.escape(
            "the estimator was trained on labels [0, 1, 2, 3], not on the class ids")):
        save(tmp_path, estimator, held_out_features=ARRAY_TEST)


def test_a_model_without_predict_proba_is_refused(tmp_path: Path) -> None:
    estimator = LinearSVC().fit(ARRAY_TRAIN, Y_TRAIN)

    with pytest.raises(ModelRejected, match="LinearSVC has no predict_proba"):
        save(tmp_path, estimator, held_out_features=ARRAY_TEST)


def test_a_model_that_needs_a_dataframe_but_hides_it_is_refused(tmp_path: Path) -> None:
    # Without feature_names_in_ the service cannot know the pipeline selects columns by name:
    # asking it the first held-out question as the service would (an array) fails.
    estimator = dataframe_pipeline()
    del estimator.named_steps["columns"].feature_names_in_

    with pytest.raises(ModelRejected, match=r"the model failed to answer held-out row \d+ as "
                                            r"the service asks it \(a float64 array"):
        save(tmp_path, estimator)


def test_held_out_values_outside_the_declared_range_are_refused(tmp_path: Path) -> None:
    hot = X_TEST.assign(room_temperature_celsius=X_TEST["room_temperature_celsius"] + 30)

    with pytest.raises(ModelRejected, match="feature 'room_temperature_celsius': held-out value"):
        save(tmp_path, dataframe_pipeline(), held_out_features=hot)


def test_a_failed_save_leaves_the_previous_model_in_place(tmp_path: Path) -> None:
    save(tmp_path, dataframe_pipeline())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    with pytest.raises(ModelRejected):
        save(tmp_path, LinearSVC().fit(ARRAY_TRAIN, Y_TRAIN),
             held_out_features=ARRAY_TEST)

    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# What the loader refuses: a model directory changed after it was saved -------------------

def altered_digit(golden_text: str) -> tuple[str, str]:
    """The golden file with one digit of the first recorded probability changed, and the class."""
    document = json.loads(golden_text)
    probabilities = document["examples"][0]["answer"]["probabilities"]
    class_id, value = next(iter(probabilities.items()))
    text = repr(value)
    digit = text.index(".") + 3  # the third decimal: a 0.001-sized change
    changed = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:]
    return golden_text.replace(text, changed, 1), class_id


def test_a_golden_answer_altered_by_one_digit_is_refused(model_copy: Path) -> None:
    golden = model_copy / GOLDEN_FILENAME
    altered, _ = altered_digit(golden.read_text())
    golden.write_text(altered)

    with pytest.raises(ModelLoadError, match=f"{golden}: sha256 .* golden answers file is truncated"):
        load_model_package(model_copy)


def test_a_golden_answer_the_model_no_longer_gives_is_refused(model_copy: Path) -> None:
    # The same alteration with the hash updated: what a model that drifted from its recorded
    # answers looks like. The comparison itself refuses it, naming the example.
    golden = model_copy / GOLDEN_FILENAME
    altered, class_id = altered_digit(golden.read_text())
    golden.write_text(altered)
    rehash(model_copy, golden=sha256_of(golden))

    with pytest.raises(ModelLoadError, match=(
            rf"golden example 1 of \d+ \(label '\w+'\): probability of '{class_id}' is "
            r"[0-9.e-]+, recorded [0-9.e-]+ \(tolerance 1e-06\); the model does not answer")):
        load_model_package(model_copy)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_features_reordered_in_the_metadata_are_refused(model_copy: Path, runtime: Runtime) -> None:
    metadata = json.loads((model_copy / METADATA_FILENAME).read_text())
    first, second, *rest = metadata["features"]
    metadata["features"] = [second, first, *rest]
    (model_copy / METADATA_FILENAME).write_text(json.dumps(metadata))

    # An array model answers the swapped columns differently (the golden answers catch it);
    # a DataFrame model's column names say so first. A compiled DataFrame graph takes its
    # columns by name, so it answers right, and the drift baseline's feature order refuses it.
    with pytest.raises(ModelLoadError, match=r"golden example \d+ of \d+|fitted on the columns"
                                             r"|drift baseline describes other features"):
        load_model_package(model_copy, runtime=runtime)


def test_a_saved_model_that_cannot_answer_never_starts(tmp_path: Path) -> None:
    save(tmp_path, dataframe_pipeline())
    broken = dataframe_pipeline()
    del broken.named_steps["columns"].feature_names_in_
    joblib.dump(broken, tmp_path / ARTIFACT_FILENAME)
    # Metadata consistent with what the estimator now shows (no column names): only asking it
    # a question can reveal that it still needs a DataFrame.
    rehash(tmp_path, artifact_sha256=sha256_of(tmp_path / ARTIFACT_FILENAME), model_input="array")

    with pytest.raises(ModelLoadError, match=r"golden example 1 of 8 \(label '\w+'\): the model "
                                             r"failed to answer: ValueError"):
        load_model_package(tmp_path, runtime=SCIKIT_LEARN)


def rehash(model_dir: Path, *, golden: str | None = None, artifact_sha256: str | None = None,
           model_input: str | None = None, baseline: str | None = None) -> None:
    path = model_dir / METADATA_FILENAME
    metadata = json.loads(path.read_text())
    if baseline is not None:
        metadata["baseline"]["sha256"] = baseline
    if model_input is not None:
        metadata["input"] = model_input
    if golden is not None:
        metadata["golden"]["sha256"] = golden
    if artifact_sha256 is not None:
        metadata["artifact_sha256"] = artifact_sha256
    path.write_text(json.dumps(metadata))


# The check command and the alarm threshold -------------------------------------------------

def test_check_prints_the_api_the_model_gets(capsys: pytest.CaptureFixture[str],
                                             second_model_dir: Path) -> None:
    assert saving.main(["check", str(second_model_dir)]) == 0

    printed = capsys.readouterr().out
    metadata = ModelMetadata.read(second_model_dir)
    assert f"{metadata.name} {metadata.version}" in printed
    assert "input as a DataFrame" in printed
    for feature in metadata.features:
        # A range for a number, the allowed strings for a category ("closed | ajar | open").
        values = (" | ".join(feature.categories) if feature.categories is not None
                  else f"{feature.minimum:g}..{feature.maximum:g}")
        assert re.search(rf"{feature.name} +{feature.type} +{re.escape(values)} +"
                         rf"{re.escape(feature.unit)}", printed)
    for advice in metadata.classes:
        assert f"{advice.id}: {advice.advice}" in printed
    assert f"golden answers: {metadata.golden.examples} examples" in printed


def test_check_fails_with_the_reason(capsys: pytest.CaptureFixture[str], model_copy: Path) -> None:
    (model_copy / GOLDEN_FILENAME).unlink()

    assert saving.main(["check", str(model_copy)]) == 1

    assert "model check failed:" in capsys.readouterr().err


@pytest.mark.parametrize(("classes", "threshold"), [(2, 0.65), (4, 0.475), (5, 0.44), (10, 0.37)])
def test_the_default_low_probability_threshold_follows_the_class_count(
    classes: int, threshold: float
) -> None:
    # Always above chance (1/k, which the chosen class can never fall below) and below 1.
    assert default_low_probability(classes) == threshold
    assert 1 / classes < threshold < 1


def test_a_model_may_set_its_own_threshold(tmp_path: Path) -> None:
    default = save(tmp_path, dataframe_pipeline())
    own = save(tmp_path, dataframe_pipeline(), monitoring=Monitoring(low_probability=0.6))

    assert default.low_probability_threshold == default_low_probability(4)
    assert own.low_probability_threshold == 0.6


def test_the_second_models_training_script_reproduces_it(tmp_path: Path,
                                                         second_model_dir: Path) -> None:
    retrained = bedroom_train.train(tmp_path)

    assert retrained.golden.examples == ModelMetadata.read(second_model_dir).golden.examples
    assert package_differences(tmp_path, second_model_dir) == []


def test_the_held_out_frame_and_array_forms_give_the_same_golden_answers(tmp_path: Path) -> None:
    estimator = DecisionTreeClassifier(max_depth=4, random_state=0).fit(ARRAY_TRAIN, Y_TRAIN)
    from_frame = save(tmp_path / "frame", estimator,
                      held_out_features=pd.DataFrame(ARRAY_TEST, columns=COLUMNS))
    from_array = save(tmp_path / "array", estimator, held_out_features=ARRAY_TEST)

    assert from_frame.golden == from_array.golden


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_metadata_that_misstates_the_models_input_is_refused(model_copy: Path,
                                                              runtime: Runtime) -> None:
    # The image installs pandas by the metadata's word, and the compiled graph is fed by it: a
    # model saying "array" while fitted on a DataFrame (or the reverse) would be fed wrongly.
    metadata = json.loads((model_copy / METADATA_FILENAME).read_text())
    flipped = {"array": "dataframe", "dataframe": "array"}[metadata["input"]]
    metadata["input"] = flipped
    (model_copy / METADATA_FILENAME).write_text(json.dumps(metadata))

    with pytest.raises(ModelLoadError, match=f"the metadata says the model takes '{flipped}' input"):
        load_model_package(model_copy, runtime=runtime)


def test_another_artifact_under_the_committed_version_is_refused(tmp_path: Path) -> None:
    # Alarms, dashboards and rollouts tell models apart by version: a retrained artifact
    # shipped under the version the last commit recorded would be averaged with the old one.
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    model_dir = tmp_path / "model"
    save(model_dir, dataframe_pipeline(), version="2.0.0")
    git("add", "-A")
    git("commit", "-q", "-m", "model 2.0.0")
    other = DecisionTreeClassifier(max_depth=3, random_state=0).fit(ARRAY_TRAIN, Y_TRAIN)

    with pytest.raises(ModelRejected, match=r"another artifact .* under version 2\.0\.0, which "
                                            r"the last commit recorded .* new version"):
        save(model_dir, other, version="2.0.0", held_out_features=ARRAY_TEST)
    assert saving.committed_version_conflict(model_dir, ModelMetadata.read(model_dir)) is None
    # The same save under a new version is what the message asks for.
    assert save(model_dir, other, version="2.1.0", held_out_features=ARRAY_TEST).version == "2.1.0"
