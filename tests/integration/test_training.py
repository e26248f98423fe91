"""Retraining from scratch reproduces the committed model, prediction for prediction."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.advisor import SleepAdvisor
from chalicelib.config import BUNDLED_MODEL_DIR
from harness.samples import IS_SLEEP_MODEL, NOT_THE_SLEEP_MODEL

# About the bundled sleep model and its training script: another model in model/ has neither.
if not IS_SLEEP_MODEL:
    pytest.skip(NOT_THE_SLEEP_MODEL, allow_module_level=True)
from model import train


@pytest.fixture(scope="module")
def retrained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("retrained")
    train.train(output)
    return output


def probe_nights() -> list[list[float]]:
    # Nights the model never saw (another seed), plus the edges of every feature's range.
    probes: list[list[float]] = train.generate_nights(300, seed=7).features.tolist()
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
