"""Categorical features end to end: declared with their values, asked for as strings, given to
an array model as codes and to a DataFrame model as the strings, and carried by the request
schema, API Gateway's model, the OpenAPI, GET /model, the golden answers and the drift baseline.

The suite's second model (tests/models/bedroom) has one, `window`, fitted on its strings by a
one-hot encoder; an array model fitted on its codes is trained here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.ensemble import RandomForestClassifier

from chalicelib.config import Settings
from chalicelib.drift import Counts, compare, read_baseline
from chalicelib.golden import read_golden
from chalicelib.metadata import SCIKIT_LEARN, FeatureSpec, ModelMetadata, Runtime
from chalicelib.model_package import load_model_package
from chalicelib.openapi import build_openapi
from chalicelib.saving import ModelRejected, feature_matrix, save_model
from chalicelib.schemas import RequestRejected, RequestSchema, gateway_request_schema
from tests.conftest import RUNTIMES
from tests.models import bedroom_train

WINDOW = next(f for f in bedroom_train.FEATURES if f.type == "category")
ROOMS, LABELS = bedroom_train.generate_rooms(900, seed=11)


def bedroom() -> ModelMetadata:
    return ModelMetadata.read(Path(bedroom_train.OUTPUT_DIR))


def night(**changes: Any) -> dict[str, Any]:
    base = {"room_temperature_celsius": 19.0, "noise_decibels": 30.0, "light_lux": 3.0,
            "screens_in_bedroom": 1, "window": "closed"}
    return {**base, **changes}


@pytest.mark.parametrize("arguments", [
    pytest.param({"categories": ("on",)}, id="one value"),
    pytest.param({"categories": ("on", "on")}, id="repeated"),
    pytest.param({"categories": ("on", " ")}, id="blank"),
    pytest.param({"categories": ("on", "o" * 65)}, id="too long"),
    pytest.param({"categories": None}, id="none"),
    pytest.param({"categories": ("on", "off"), "minimum": 0, "maximum": 1}, id="with a range"),
])
def test_a_category_needs_distinct_values_and_no_range(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="feature 'lamp'"):
        FeatureSpec(name="lamp", type="category", unit="", description="", **arguments)


def test_only_a_category_has_categories_and_a_number_still_needs_its_range() -> None:
    with pytest.raises(ValidationError, match="declare type='category'"):
        FeatureSpec(name="lamp", type="integer", unit="", minimum=0, maximum=1,
                    categories=("on", "off"), description="")
    with pytest.raises(ValidationError, match="needs a minimum and a maximum"):
        FeatureSpec(name="lamp", type="number", unit="", description="")


def test_a_request_gives_the_string_and_the_row_holds_its_code() -> None:
    schema = RequestSchema(bedroom(), max_batch_instances=10, max_body_bytes=10_000)

    rows = schema.parse(json.dumps({"instances": [night(window=w) for w in WINDOW.categories or ()]}))

    assert [row[-1] for row in rows] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("value", ["OPEN", "wide_open", 2, None, True])
def test_any_other_value_is_refused_naming_the_allowed_ones(value: object) -> None:
    schema = RequestSchema(bedroom(), max_batch_instances=10, max_body_bytes=10_000)

    with pytest.raises(RequestRejected) as refused:
        schema.parse(json.dumps({"features": night(window=value)}))

    [error] = refused.value.errors
    assert error["field"] == "features.window" and error["type"] == "literal_error"
    assert error["message"] == "Input should be 'closed', 'ajar' or 'open'"


def test_the_gateway_model_the_openapi_and_the_model_card_list_the_values() -> None:
    metadata = bedroom()
    values = list(WINDOW.categories or ())

    gateway = gateway_request_schema(metadata, 10)["properties"]["features"]["properties"]
    openapi = build_openapi(metadata, Settings())["components"]["schemas"]["SleepFeatures"]
    card = load_model_package(bedroom_train.OUTPUT_DIR).model_card().model_dump(mode="json")

    assert gateway["window"] == {"type": "string", "enum": values}
    assert openapi["properties"]["window"]["enum"] == values
    assert openapi["properties"]["window"]["type"] == "string"
    [feature] = [f for f in card["features"] if f["name"] == "window"]
    assert feature["categories"] == values and feature["type"] == "category"
    [binned] = [f for f in card["drift_baseline"]["features"] if f["name"] == "window"]
    assert binned["categories"] == values


def test_the_golden_answers_ask_every_value() -> None:
    metadata = bedroom()
    golden = read_golden(bedroom_train.OUTPUT_DIR, metadata)

    assert {e.request["features"]["window"] for e in golden.examples} == set(WINDOW.categories or ())


def test_the_drift_baseline_has_a_bin_per_value_and_names_a_shift_by_the_value() -> None:
    metadata = bedroom()
    baseline = read_baseline(bedroom_train.OUTPUT_DIR, metadata)
    [window] = [f for f in baseline.features if f.name == "window"]
    assert [window.describe_bin(i) for i in range(len(window.shares))] == list(
        WINDOW.categories or ())
    # The training rooms: half with the window closed, a fifth open.
    assert window.shares == pytest.approx([0.5, 0.3, 0.2], abs=0.05)

    # A heat wave: most windows open.
    schema = RequestSchema(metadata, max_batch_instances=100, max_body_bytes=1 << 20)
    rooms = [night(window="open")] * 60 + [night(window="ajar")] * 30 + [night()] * 10
    rows = schema.parse(json.dumps({"instances": rooms}))
    counts = Counts.of_nights(baseline, rows, ["bedroom_is_fine"] * len(rows))
    [window_distance] = [d for d in compare(baseline, counts).distances if d.name == "window"]

    assert window_distance.psi > 0.25
    # Named by its values in the on-call message.
    assert [m.bin for m in window_distance.moved] == ["closed", "open"]
    assert re.fullmatch(r"60% of nights open, 2\d% in training",
                        window_distance.moved[1].words()), window_distance.summary()


def test_a_value_training_never_saw_still_gets_its_bin(tmp_path: Path) -> None:
    rooms = ROOMS[ROOMS["window"] != "ajar"]
    labels = LABELS[(ROOMS["window"] != "ajar").to_numpy()]
    estimator = bedroom_train.build_estimator().fit(rooms, labels)

    save_model(tmp_path, estimator, held_out_features=rooms, held_out_labels=labels,
               training_features=rooms, name="no-ajar", version="1.0.0", description="",
               features=bedroom_train.FEATURES, classes=bedroom_train.CLASSES,
               intended_use="A test's model.", training={"script": "tests/unit/test_categories.py"})

    [window] = [f for f in read_baseline(tmp_path, ModelMetadata.read(tmp_path)).features
                if f.name == "window"]
    assert window.shares[1] == 0.0 and len(window.shares) == 3


def test_an_undeclared_value_in_the_data_is_refused_at_save_time(tmp_path: Path) -> None:
    rooms = ROOMS.assign(window=ROOMS["window"].replace("ajar", "tilted"))
    estimator = bedroom_train.build_estimator().fit(ROOMS, LABELS)

    with pytest.raises(ModelRejected, match=r"'tilted' is not one of its categories "
                                            r"\['closed', 'ajar', 'open'\]"):
        save_model(tmp_path, estimator, held_out_features=rooms, held_out_labels=LABELS,
                   training_features=ROOMS, name="tilted", version="1.0.0", description="",
                   features=bedroom_train.FEATURES, classes=bedroom_train.CLASSES,
                   intended_use="A test's model.", training={"script": "tests/unit/test_categories.py"})
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def array_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A forest fitted on the array encoding: the window as its code (0 closed, 1 ajar, 2 open)."""
    coded = feature_matrix(ROOMS, bedroom_train.FEATURES)
    estimator = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(
        coded[:600], LABELS[:600])
    directory = tmp_path_factory.mktemp("array-category")
    save_model(directory, estimator, held_out_features=coded[600:], held_out_labels=LABELS[600:],
               training_features=coded[:600], name="bedroom-array", version="1.0.0",
               description="", features=bedroom_train.FEATURES, classes=bedroom_train.CLASSES,
               intended_use="A test's model.", training={"script": "tests/unit/test_categories.py"})
    return directory, estimator


def test_the_array_encoding_is_the_value_s_position_in_the_declared_list() -> None:
    coded = feature_matrix(ROOMS.iloc[:3].assign(window=["closed", "ajar", "open"]),
                           bedroom_train.FEATURES)

    assert coded[:, -1].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_array_model_is_given_the_code(array_model: tuple[Path, Any], runtime: Runtime) -> None:
    directory, estimator = array_model
    package = load_model_package(directory, runtime=runtime)

    for code, value in enumerate(WINDOW.categories or ()):
        rows = package.request_schema.parse(json.dumps({"features": night(window=value)}))
        [advice] = package.advisor.advise(rows)
        expected = estimator.predict_proba(np.array([[19.0, 30.0, 3.0, 1, code]]))[0]
        by_class = dict(zip(estimator.classes_, expected, strict=True))
        assert advice.probabilities == pytest.approx(by_class, abs=1e-6)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_dataframe_model_is_given_the_string(runtime: Runtime) -> None:
    package = load_model_package(bedroom_train.OUTPUT_DIR, runtime=runtime)
    estimator = load_model_package(bedroom_train.OUTPUT_DIR, runtime=SCIKIT_LEARN).advisor
    frame = ROOMS.iloc[:40]

    rows = package.request_schema.parse(json.dumps({"instances": [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in room.items()}
        for room in frame.to_dict("records")]}))
    answers = package.advisor.advise(rows)

    fitted = estimator.predictor.estimator  # type: ignore[attr-defined]
    expected = fitted.predict_proba(frame)
    for answer, probabilities in zip(answers, expected, strict=True):
        assert answer.probabilities == pytest.approx(
            dict(zip(fitted.classes_, probabilities, strict=True)), abs=1e-6)
