"""Loading and verifying the model artifact; asking it for advice."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest

from chalicelib import contract, model_package
from chalicelib.metadata import ARTIFACT_FILENAME, METADATA_FILENAME
from chalicelib.model_package import ModelLoadError, load_model_package
from harness.samples import MODEL, MODEL_DIR, SAMPLE_ADVICE, SAMPLE_INSTANCE


def edit_metadata(model_dir: Path, **changes: object) -> None:
    path = model_dir / METADATA_FILENAME
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


def test_bundled_model_loads_and_answers_in_metadata_class_order() -> None:
    advisor = load_model_package(MODEL_DIR).advisor

    [advice] = advisor.advise([[SAMPLE_INSTANCE[name] for name in MODEL.feature_names]])

    assert advice.advice_id == SAMPLE_ADVICE
    assert list(advice.probabilities) == list(advisor.metadata.class_ids)
    assert advice.probability == max(advice.probabilities.values())


def test_missing_artifact_refuses_to_load(model_copy: Path) -> None:
    (model_copy / ARTIFACT_FILENAME).unlink()

    with pytest.raises(ModelLoadError, match=f"{ARTIFACT_FILENAME}: model artifact is missing"):
        load_model_package(model_copy)


def test_missing_metadata_refuses_to_load(model_copy: Path) -> None:
    (model_copy / METADATA_FILENAME).unlink()

    with pytest.raises(ModelLoadError, match=f"{METADATA_FILENAME}: metadata file is missing"):
        load_model_package(model_copy)


def test_truncated_artifact_refuses_to_load(model_copy: Path) -> None:
    artifact = model_copy / ARTIFACT_FILENAME
    content = artifact.read_bytes()
    artifact.write_bytes(content[: len(content) // 2])

    with pytest.raises(ModelLoadError, match=r"sha256 .* does not match .* truncated"):
        load_model_package(model_copy)


def test_tampered_artifact_refuses_to_load(model_copy: Path) -> None:
    artifact = model_copy / ARTIFACT_FILENAME
    content = bytearray(artifact.read_bytes())
    content[len(content) // 2] ^= 0xFF
    artifact.write_bytes(bytes(content))

    with pytest.raises(ModelLoadError, match=f"{ARTIFACT_FILENAME}: sha256"):
        load_model_package(model_copy)


def test_other_scikit_learn_version_refuses_to_load(model_copy: Path) -> None:
    edit_metadata(model_copy, sklearn_version="0.24.2")

    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.24\.2 but"):
        load_model_package(model_copy)


def test_invalid_metadata_refuses_to_load(model_copy: Path) -> None:
    edit_metadata(model_copy, classes=[{"id": "only_one", "advice": "x"}])

    with pytest.raises(ModelLoadError, match="metadata is invalid"):
        load_model_package(model_copy)


def test_metadata_classes_must_match_the_estimator(model_copy: Path) -> None:
    metadata = json.loads((model_copy / METADATA_FILENAME).read_text())
    metadata["classes"][0]["id"] = "renamed_class"
    (model_copy / METADATA_FILENAME).write_text(json.dumps(metadata))

    with pytest.raises(ModelLoadError, match=r"estimator classes .* do not match"):
        load_model_package(model_copy)


def test_metadata_features_must_match_the_estimator(model_copy: Path) -> None:
    metadata = json.loads((model_copy / METADATA_FILENAME).read_text())
    metadata["features"].pop()
    (model_copy / METADATA_FILENAME).write_text(json.dumps(metadata))

    features = len(MODEL.features)
    with pytest.raises(ModelLoadError, match=(
            rf"estimator expects {features} features, the metadata describes {features - 1}"
            r"|fitted on the columns")):
        load_model_package(model_copy)


def test_unpicklable_artifact_with_matching_hash_refuses_to_load(model_copy: Path) -> None:
    from chalicelib.metadata import sha256_of

    artifact = model_copy / ARTIFACT_FILENAME
    artifact.write_bytes(b"not a pickle")
    edit_metadata(model_copy, artifact_sha256=sha256_of(artifact))

    with pytest.raises(ModelLoadError, match="cannot be unpickled"):
        load_model_package(model_copy)


@pytest.mark.parametrize("image_environment", [True, False], ids=["image", "elsewhere"])
def test_thread_pools_are_capped_only_where_the_environment_does_not(
    image_environment: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The image's ENV already makes every pool single-threaded; the call would cost its
    # cold start for nothing. chalice local and the tests have no such ENV.
    for name, value in contract.SINGLE_THREADED_ENVIRONMENT.items():
        if image_environment:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    with mock.patch.object(model_package, "threadpool_limits") as limits:
        load_model_package(MODEL_DIR)

    assert limits.called is not image_environment
    if not image_environment:
        limits.assert_called_once_with(limits=contract.THREADS)
