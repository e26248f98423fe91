"""The training script: documented data, reproducible artifact, honest metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chalicelib.advisor import SleepAdvisor
from chalicelib.config import BUNDLED_MODEL_DIR
from model import train


@pytest.fixture(scope="module")
def retrained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("retrained")
    train.train(output)
    return output


def probe_nights() -> list[list[float]]:
    # Nights the model never saw (another seed), plus the edges of every feature's range.
    probes = train.generate_nights(300, seed=7).features.tolist()
    probes.append([f.minimum for f in train.FEATURES])
    probes.append([f.maximum for f in train.FEATURES])
    return probes


def test_retraining_reproduces_the_committed_model(retrained_dir: Path) -> None:
    committed = SleepAdvisor.load(BUNDLED_MODEL_DIR)
    retrained = SleepAdvisor.load(retrained_dir)

    before = committed.advise(probe_nights())
    after = retrained.advise(probe_nights())

    assert [a.advice_id for a in after] == [b.advice_id for b in before]
    for a, b in zip(after, before, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-12)
    assert retrained.metadata.metrics == committed.metadata.metrics
    assert retrained.metadata.model_dump(exclude={"artifact_sha256", "python_version"}) == (
        committed.metadata.model_dump(exclude={"artifact_sha256", "python_version"})
    )


def test_metadata_describes_features_classes_and_provenance() -> None:
    metadata = SleepAdvisor.load(BUNDLED_MODEL_DIR).metadata

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
