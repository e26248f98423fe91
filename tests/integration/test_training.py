"""Retraining from scratch reproduces the committed model, prediction for prediction."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.golden import TOLERANCE
from chalicelib.model_package import load_model_package
from harness.model_packages import package_differences
from harness.samples import IS_SLEEP_MODEL, MODEL_DIR, NOT_THE_SLEEP_MODEL

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
    probes.append([f.lowest for f in train.FEATURES])
    probes.append([f.highest for f in train.FEATURES])
    return probes


def test_retraining_reproduces_the_committed_model(retrained_dir: Path) -> None:
    committed = load_model_package(MODEL_DIR).advisor
    retrained = load_model_package(retrained_dir).advisor

    before = committed.advise(probe_nights())
    after = retrained.advise(probe_nights())

    assert [a.advice_id for a in after] == [b.advice_id for b in before]
    for a, b in zip(after, before, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=TOLERANCE)
    assert package_differences(retrained_dir, MODEL_DIR) == []
