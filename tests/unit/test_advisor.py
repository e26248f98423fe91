"""Loading and verifying the model artifact; asking it for advice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from unittest import mock

import pytest

from chalicelib import contract
from chalicelib.metadata import (
    ARTIFACT_FILENAME,
    COMPILED_FILENAME,
    METADATA_FILENAME,
    ONNX_RUNTIME,
    SCIKIT_LEARN,
    Runtime,
    sha256_of,
)
from chalicelib.model_package import ModelLoadError, load_model_package
from harness.samples import MODEL, MODEL_DIR, SAMPLE_ADVICE, SAMPLE_INSTANCE, as_row
from tests.conftest import RUNTIMES, SECOND_MODEL_DIR, requires_compiled


def edit_metadata(model_dir: Path, **changes: object) -> None:
    path = model_dir / METADATA_FILENAME
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


# Each runtime's artifact, checked as the function checks it before loading.
ARTIFACTS = [pytest.param(SCIKIT_LEARN, ARTIFACT_FILENAME, id="pickled"),
             pytest.param(ONNX_RUNTIME, COMPILED_FILENAME, id="compiled",
                          marks=requires_compiled)]


def rehash_compiled(model_dir: Path) -> None:
    path = model_dir / METADATA_FILENAME
    metadata = json.loads(path.read_text())
    metadata["serving"]["compiled"]["sha256"] = sha256_of(model_dir / COMPILED_FILENAME)
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bundled_model_loads_and_answers_in_metadata_class_order(runtime: Runtime) -> None:
    advisor = load_model_package(MODEL_DIR, runtime=runtime).advisor

    [advice] = advisor.advise([as_row(SAMPLE_INSTANCE)])

    assert advisor.runtime == runtime
    assert advice.advice_id == SAMPLE_ADVICE
    assert list(advice.probabilities) == list(advisor.metadata.class_ids)
    assert advice.probability == max(advice.probabilities.values())


def test_the_runtime_the_metadata_names_serves_by_default() -> None:
    assert load_model_package(MODEL_DIR).advisor.runtime == MODEL.serving.runtime


@pytest.mark.parametrize(("runtime", "artifact"), ARTIFACTS)
def test_missing_artifact_refuses_to_load(model_copy: Path, runtime: Runtime,
                                          artifact: str) -> None:
    (model_copy / artifact).unlink()

    with pytest.raises(ModelLoadError, match=f"{artifact}: the .* file is missing"):
        load_model_package(model_copy, runtime=runtime)


def test_missing_metadata_refuses_to_load(model_copy: Path) -> None:
    (model_copy / METADATA_FILENAME).unlink()

    with pytest.raises(ModelLoadError, match=f"{METADATA_FILENAME}: metadata file is missing"):
        load_model_package(model_copy)


@pytest.mark.parametrize(("runtime", "artifact"), ARTIFACTS)
def test_truncated_artifact_refuses_to_load(model_copy: Path, runtime: Runtime,
                                            artifact: str) -> None:
    path = model_copy / artifact
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])

    with pytest.raises(ModelLoadError, match=rf"{artifact}: sha256 .* does not match .* truncated"):
        load_model_package(model_copy, runtime=runtime)


@pytest.mark.parametrize(("runtime", "artifact"), ARTIFACTS)
def test_tampered_artifact_refuses_to_load(model_copy: Path, runtime: Runtime,
                                           artifact: str) -> None:
    path = model_copy / artifact
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))

    with pytest.raises(ModelLoadError, match=f"{artifact}: sha256"):
        load_model_package(model_copy, runtime=runtime)


@requires_compiled
def test_a_compiled_graph_that_does_not_load_refuses_to_start(model_copy: Path) -> None:
    (model_copy / COMPILED_FILENAME).write_bytes(b"not an ONNX graph")
    rehash_compiled(model_copy)

    with pytest.raises(ModelLoadError, match="ONNX Runtime cannot load the compiled model"):
        load_model_package(model_copy, runtime=ONNX_RUNTIME)


@requires_compiled
def test_a_compiled_graph_of_another_model_refuses_to_start(model_copy: Path) -> None:
    # Hash and graph valid, but another model's: the golden answers catch it.
    other = contract.BUNDLED_MODEL_DIR if MODEL_DIR == SECOND_MODEL_DIR else SECOND_MODEL_DIR
    shutil.copy(other / COMPILED_FILENAME, model_copy / COMPILED_FILENAME)
    rehash_compiled(model_copy)

    with pytest.raises(ModelLoadError):
        load_model_package(model_copy, runtime=ONNX_RUNTIME)


@requires_compiled
def test_a_model_without_a_compiled_graph_cannot_be_asked_for_one(model_copy: Path) -> None:
    edit_metadata(model_copy, serving={"runtime": SCIKIT_LEARN, "compared_requests": 0,
                                       "reason": "no ONNX conversion answered exactly"})

    assert load_model_package(model_copy).advisor.runtime == SCIKIT_LEARN
    with pytest.raises(ModelLoadError, match=r"has no compiled artifact .* served by scikit-learn"):
        load_model_package(model_copy, runtime=ONNX_RUNTIME)


def test_other_scikit_learn_version_refuses_to_load(model_copy: Path) -> None:
    edit_metadata(model_copy, sklearn_version="0.24.2")

    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.24\.2 but"):
        load_model_package(model_copy, runtime=SCIKIT_LEARN)


def test_a_model_saved_before_the_serving_record_is_told_to_save_again(model_copy: Path) -> None:
    path = model_copy / METADATA_FILENAME
    metadata = json.loads(path.read_text())
    del metadata["serving"]
    path.write_text(json.dumps(metadata))

    with pytest.raises(ModelLoadError, match="has no 'serving': the model was saved by an earlier"):
        load_model_package(model_copy)


def test_invalid_metadata_refuses_to_load(model_copy: Path) -> None:
    edit_metadata(model_copy, classes=[{"id": "only_one", "advice": "x"}])

    with pytest.raises(ModelLoadError, match="metadata is invalid"):
        load_model_package(model_copy)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_metadata_classes_must_match_the_model(model_copy: Path, runtime: Runtime) -> None:
    metadata = json.loads((model_copy / METADATA_FILENAME).read_text())
    metadata["classes"][0]["id"] = "renamed_class"
    (model_copy / METADATA_FILENAME).write_text(json.dumps(metadata))

    with pytest.raises(ModelLoadError, match=r"classes .* do not match|answers for the classes"):
        load_model_package(model_copy, runtime=runtime)


def test_metadata_features_must_match_the_estimator(model_copy: Path) -> None:
    metadata = json.loads((model_copy / METADATA_FILENAME).read_text())
    metadata["features"].pop()
    (model_copy / METADATA_FILENAME).write_text(json.dumps(metadata))

    features = len(MODEL.features)
    # By the estimator's recorded width or columns; a pipeline that records neither (its first
    # step the team's own) by its first golden question, now a request with a field too many.
    with pytest.raises(ModelLoadError, match=(
            rf"estimator expects {features} features, the metadata describes {features - 1}"
            r"|fitted on the columns|golden example 1 of \d+ .*Extra inputs are not permitted")):
        load_model_package(model_copy, runtime=SCIKIT_LEARN)


def test_unpicklable_artifact_with_matching_hash_refuses_to_load(model_copy: Path) -> None:
    artifact = model_copy / ARTIFACT_FILENAME
    artifact.write_bytes(b"not a pickle")
    edit_metadata(model_copy, artifact_sha256=sha256_of(artifact))

    with pytest.raises(ModelLoadError, match="cannot be unpickled"):
        load_model_package(model_copy, runtime=SCIKIT_LEARN)


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
    with mock.patch("threadpoolctl.threadpool_limits") as limits:
        load_model_package(MODEL_DIR, runtime=SCIKIT_LEARN)

    assert limits.called is not image_environment
    if not image_environment:
        limits.assert_called_once_with(limits=contract.THREADS)
