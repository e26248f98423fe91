"""Train the suite's second model: bedroom conditions, fitted on a pandas DataFrame.

    python -m tests.models.bedroom_train        (rewrites tests/models/bedroom/)

It differs from the bundled sleep model in every way the service must not care about: other
features (one of them a count, one a category given as strings), four classes instead of
five, and a scikit-learn Pipeline whose ColumnTransformer selects its columns by name, so it
must be given a DataFrame. CI runs the
service, API and infrastructure layers with it in model/ (tests/integration/
test_another_model.py); it is also the worked example in model/README.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from chalicelib.metadata import AdviceClass, FeatureSpec, ModelMetadata
from chalicelib.saving import save_model

OUTPUT_DIR = Path(__file__).resolve().parent / "bedroom"
SEED = 7

WINDOW_POSITIONS = ("closed", "ajar", "open")
FEATURES = (
    FeatureSpec(name="room_temperature_celsius", type="number", unit="°C", minimum=5,
                maximum=40, description="Bedroom temperature at bedtime."),
    FeatureSpec(name="noise_decibels", type="number", unit="dB", minimum=10, maximum=100,
                description="Loudest sustained noise in the bedroom overnight."),
    FeatureSpec(name="light_lux", type="number", unit="lx", minimum=0, maximum=1000,
                description="Light level in the bedroom after lights out."),
    FeatureSpec(name="screens_in_bedroom", type="integer", unit="count", minimum=0, maximum=5,
                description="Screens (TV, laptop, tablet) kept in the bedroom."),
    FeatureSpec(name="window", type="category", unit="", categories=WINDOW_POSITIONS,
                description="How the bedroom window is left overnight."),
)
CLASSES = (
    AdviceClass(id="bedroom_is_fine", advice="Your bedroom suits sleep: nothing to change."),
    AdviceClass(id="cool_the_room", advice="Your bedroom is warm: aim for about 18 °C."),
    AdviceClass(id="quiet_the_room", advice="Your bedroom is noisy: try earplugs or a fan."),
    AdviceClass(id="darken_the_room", advice="Your bedroom is bright: use blackout curtains."),
)


def generate_rooms(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rooms = pd.DataFrame({
        "room_temperature_celsius": np.clip(rng.normal(20, 3, rows), 12, 32).round(1),
        "noise_decibels": np.clip(rng.normal(35, 10, rows), 15, 80).round(0),
        "light_lux": np.clip(rng.gamma(1.5, 8, rows), 0, 200).round(1),
        "screens_in_bedroom": rng.integers(0, 4, rows),
        "window": rng.choice(WINDOW_POSITIONS, rows, p=(0.5, 0.3, 0.2)),
    })
    # An open window lets the street in and the warmth out.
    opened = rooms["window"].map({"closed": 0.0, "ajar": 0.5, "open": 1.0})
    rooms["noise_decibels"] = np.clip(rooms["noise_decibels"] + 12 * opened, 15, 90).round(0)
    rooms["room_temperature_celsius"] = (rooms["room_temperature_celsius"] - 2 * opened).round(1)
    scores = np.column_stack([
        np.full(rows, 1.0),
        (rooms["room_temperature_celsius"] - 21) / 2,
        (rooms["noise_decibels"] - 40) / 8,
        (rooms["light_lux"] - 10) / 8 + 0.3 * rooms["screens_in_bedroom"],
    ]) + rng.normal(0, 0.3, (rows, 4))
    labels = np.array([c.id for c in CLASSES])[scores.argmax(axis=1)]
    return rooms, labels


def build_estimator() -> Pipeline:
    # Columns chosen by name: this pipeline cannot be given a bare array.
    columns = ColumnTransformer([
        ("scaled", StandardScaler(), ["room_temperature_celsius", "noise_decibels", "light_lux"]),
        ("screens", OneHotEncoder(handle_unknown="ignore"), ["screens_in_bedroom"]),
        # The window by its strings, as the request gives them.
        ("window", OneHotEncoder(categories=[list(WINDOW_POSITIONS)]), ["window"]),
    ])
    return Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=1000))])


def build_uncompilable_estimator() -> Pipeline:
    """The same columns into boosted trees that ONNX Runtime cannot serve exactly.

    Its tree kernels take only float32, and a learning rate of 1.0 over 200 deep trees leaves
    leaf values beyond float32's range: the compiled graph answers NaN for some rooms, so
    save_model keeps scikit-learn for it (tests/unit/test_compiled_serving.py).
    """
    columns = ColumnTransformer([
        ("rooms", "passthrough", [f.name for f in FEATURES if f.categories is None]),
        ("window", OrdinalEncoder(categories=[list(WINDOW_POSITIONS)]), ["window"]),
    ])
    return Pipeline([("columns", columns), ("classifier", GradientBoostingClassifier(
        n_estimators=200, learning_rate=1.0, max_depth=4, random_state=SEED))])


def train(output_dir: Path = OUTPUT_DIR, *, uncompilable: bool = False) -> ModelMetadata:
    """The second model; `uncompilable` swaps in build_uncompilable_estimator, trained on a
    smaller sample (fast enough for a test), as version 0.4.1-boosted."""
    rooms, labels = generate_rooms(1200 if uncompilable else 3000, SEED)
    x_train, x_test, y_train, y_test = train_test_split(
        rooms, labels, test_size=0.25, random_state=SEED, stratify=labels)
    estimator = (build_uncompilable_estimator() if uncompilable
                 else build_estimator()).fit(x_train, y_train)
    return save_model(
        output_dir, estimator,
        held_out_features=x_test, held_out_labels=y_test, training_features=x_train,
        name="bedroom-check", version="0.4.1-boosted" if uncompilable else "0.4.0",
        description="Advice on the bedroom itself, from the room's sensors.",
        features=FEATURES, classes=CLASSES,
        intended_use="Advice on the bedroom itself (temperature, noise, light), from its sensors.",
        limitations=("Trained on synthetic rooms; the suite's second model, not a product.",),
        training={"script": "tests/models/bedroom_train.py", "seed": SEED},
    )


if __name__ == "__main__":
    print(train().metrics)
