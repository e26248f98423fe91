"""The training script: documented data, reproducible artifact, honest metadata."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.model_package import load_model_package
from harness.samples import IS_SLEEP_MODEL, MODEL_DIR, NOT_THE_SLEEP_MODEL

# About the bundled sleep model and its training script: another model in model/ has neither.
if not IS_SLEEP_MODEL:
    pytest.skip(NOT_THE_SLEEP_MODEL, allow_module_level=True)
from model import train


def test_metadata_describes_features_classes_and_provenance() -> None:
    metadata = load_model_package(MODEL_DIR).advisor.metadata

    assert 4 <= len(metadata.classes) <= 6
    assert all(f.unit and f.description for f in metadata.features)
    assert metadata.training["data_seed"] == train.DATA_SEED
    assert metadata.metrics.accuracy > 0.75 and metadata.metrics.macro_f1 > 0.75
    assert metadata.metrics.test_rows == int(train.DATASET_ROWS * train.TEST_FRACTION)


def test_synthetic_nights_stay_inside_the_published_ranges() -> None:
    data = train.generate_nights(5000, seed=11)

    for column, spec in enumerate(train.FEATURES):
        values = data.features[:, column]
        assert values.min() >= spec.minimum and values.max() <= spec.maximum, spec.name
        if spec.type == "integer":
            assert np.array_equal(values, values.round()), spec.name
    assert set(np.unique(data.advice_ids)) == {c.id for c in train.CLASSES}


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, again, other = (train.generate_nights(100, s) for s in (1, 1, 2))

    assert np.array_equal(first.features, again.features)
    assert np.array_equal(first.advice_ids, again.advice_ids)
    assert not np.array_equal(first.features, other.features)
