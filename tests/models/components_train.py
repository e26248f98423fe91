"""A sleep model whose pickle refers to the project's own code: a FunctionTransformer on
model.components.sleep_features.log_minutes, the suite's model for "custom code in the image".

    python -m tests.models.components_train OUTPUT_DIR

Not committed: the tests train it into a temporary folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from chalicelib.metadata import ModelMetadata
from chalicelib.saving import save_model
from model.components.sleep_features import log_minutes
from model.train import CLASSES, FEATURES, generate_nights

SEED = 13
ROWS = 4000
# Columns of the array (FEATURES' order) measured in minutes.
MINUTE_COLUMNS = [1, 3, 4, 6]


def train(output_dir: Path) -> ModelMetadata:
    data = generate_nights(ROWS, SEED)
    x_train, x_test, y_train, y_test = train_test_split(
        data.features, data.advice_ids, test_size=0.25, random_state=SEED,
        stratify=data.advice_ids)
    columns = ColumnTransformer([
        ("minutes", FunctionTransformer(log_minutes), MINUTE_COLUMNS),
    ], remainder="passthrough")
    estimator = Pipeline([("columns", columns), ("scaled", StandardScaler()),
                          ("classifier", LogisticRegression(max_iter=2000))]).fit(x_train, y_train)
    return save_model(
        output_dir, estimator, held_out_features=x_test, held_out_labels=y_test,
        training_features=x_train, name="sleep-advice-log-minutes", version="0.1.0",
        description="Advice for better sleep from a linear model on log-scaled minutes.",
        features=FEATURES, classes=CLASSES,
        intended_use="The bundled model's advice from a function of the team's own code.",
        training={"script": "tests/models/components_train.py", "seed": SEED},
    )


if __name__ == "__main__":
    print(train(Path(sys.argv[1])).serving.reason)
