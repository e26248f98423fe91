"""An XGBoost model of the sleep data, trained with the advice ids through the project's label
wrapper (chalicelib.estimators): the suite's model that needs a library beyond scikit-learn's.

    python -m tests.models.xgboost_train OUTPUT_DIR

Not committed: the tests train it into a temporary folder (about a second).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.model_selection import train_test_split
from xgboost import XGBClassifier

from chalicelib.estimators import LabelEncodedClassifier
from chalicelib.metadata import ModelMetadata
from chalicelib.saving import save_model
from model.train import CLASSES, FEATURES, generate_nights

SEED = 11
ROWS = 4000


def train(output_dir: Path) -> ModelMetadata:
    data = generate_nights(ROWS, SEED)
    x_train, x_test, y_train, y_test = train_test_split(
        data.features, data.advice_ids, test_size=0.25, random_state=SEED,
        stratify=data.advice_ids)
    # One thread, as the function runs it; hist is XGBoost's CPU default.
    booster = XGBClassifier(n_estimators=30, max_depth=3, learning_rate=0.3, n_jobs=1,
                            tree_method="hist", random_state=SEED)
    estimator = LabelEncodedClassifier(booster).fit(x_train, y_train)
    return save_model(
        output_dir, estimator, held_out_features=x_test, held_out_labels=y_test,
        training_features=x_train, name="sleep-advice-xgboost", version="0.1.0",
        description="Advice for better sleep from boosted trees (XGBoost).",
        features=FEATURES, classes=CLASSES,
        intended_use="The bundled model's advice from XGBoost: the suite's library example.",
        training={"script": "tests/models/xgboost_train.py", "seed": SEED},
    )


if __name__ == "__main__":
    print(train(Path(sys.argv[1])).libraries)
