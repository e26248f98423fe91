"""Saving a model the service can serve, and checking a model directory before it ships.

    from chalicelib.saving import save_model      # at the end of a training script
    python -m chalicelib.saving check model/      # or: make check-model MODEL_DIR=model

`save_model` refuses what the service could not serve before anything is written, records the
golden answers from the held-out data, then loads the result exactly as the function will and
only then replaces the model directory's files: a failed save leaves the old model in place.
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from chalicelib import compiling, contract, drift, evaluation, golden, pickled
from chalicelib.advisor import ScikitLearnPredictor, SleepAdvisor, serving_problem
from chalicelib.compiled import CompiledPredictor
from chalicelib.config import get_settings
from chalicelib.golden import GoldenAnswers, GoldenExample
from chalicelib.metadata import (
    ARTIFACT_FILENAME,
    BASELINE_FILENAME,
    COMPILED_FILENAME,
    GOLDEN_FILENAME,
    METADATA_FILENAME,
    ONNX_RUNTIME,
    OPTIONAL_PACKAGE_FILES,
    PACKAGE_FILES,
    SCIKIT_LEARN,
    AdviceClass,
    BaselineReference,
    DecisionThreshold,
    FeatureSpec,
    GoldenReference,
    Latency,
    ModelLoadError,
    ModelMetadata,
    Monitoring,
    Runtime,
    Serving,
    sha256_of,
)
from chalicelib.model_package import ModelPackage, load_model_package, unpickle
from chalicelib.schemas import RequestSchema, batch_limits_problem, largest_body_bytes

# Golden examples per class, drawn from held-out rows of that class: enough to exercise every
# class's path through the model, few enough to keep start-up fast (each is one predict call).
GOLDEN_PER_CLASS = 2
# A golden example's winning class must lead the runner-up by this much, so that a difference
# within the tolerance can never flip the advice and fail a healthy start.
GOLDEN_MIN_MARGIN = 0.01


class ModelRejected(ValueError):
    """The model cannot be served as described; nothing was written."""


def save_model(
    output_dir: Path,
    estimator: Any,
    *,
    held_out_features: Any,
    held_out_labels: Sequence[str] | np.ndarray,
    training_features: Any,
    name: str,
    version: str,
    description: str,
    features: Sequence[FeatureSpec],
    classes: Sequence[AdviceClass],
    training: dict[str, str | int | float],
    intended_use: str,
    limitations: Sequence[str] = (),
    decision_threshold: DecisionThreshold | None = None,
    monitoring: Monitoring | None = None,
) -> ModelMetadata:
    """Check, evaluate and save a fitted classifier with its metadata and golden answers.

    `held_out_features` are rows the estimator was not fitted on, in the form it was fitted
    on (a NumPy array, or a pandas DataFrame with the features as columns); their scores (per
    class, and the confusion matrix) go into the metadata and some of them become the golden
    answers. `training_features` are the rows it was fitted on, in the same form: their
    histogram per feature is the drift baseline the deployed stage compares its traffic with.
    `intended_use` and `limitations` are the model card's words for the people who use it;
    GET /model serves them. A model of two classes may advise by a `decision_threshold`.
    """
    if not intended_use.strip():
        raise ModelRejected("say what the model is for: save_model(..., intended_use=\"...\"), "
                            "a sentence or two for the model card GET /model serves")
    labels = np.asarray(held_out_labels)
    libraries = _image_libraries(estimator)
    training_matrix = feature_matrix(training_features, features, "training")
    train_rows = len(training_matrix)
    draft = ModelMetadata(
        name=name, version=version, description=description, estimator=_estimator_name(estimator),
        sklearn_version=sklearn.__version__, python_version=platform.python_version(),
        artifact_sha256="0" * 64, features=tuple(features), classes=tuple(classes),
        input="array" if getattr(estimator, "feature_names_in_", None) is None else "dataframe",
        metrics=evaluation.placeholder_metrics([c.id for c in classes], len(labels), train_rows),
        intended_use=intended_use, limitations=tuple(limitations),
        latency=Latency(runtime=SCIKIT_LEARN, one_night_ms=1, hundred_nights_ms=1,
                        measured_on="not measured yet"),
        decision_threshold=decision_threshold,
        golden=GoldenReference(sha256="0" * 64, examples=1),
        baseline=BaselineReference(sha256="0" * 64),
        serving=Serving(runtime=SCIKIT_LEARN, compared_requests=0, reason="not compiled yet"),
        libraries=libraries,
        monitoring=monitoring or Monitoring(), training=training,
    )
    problem = serving_problem(estimator, draft)
    if problem is not None:
        raise ModelRejected(problem)
    unknown = sorted(set(labels.tolist()) - set(draft.class_ids))
    if unknown:
        raise ModelRejected(f"held-out labels {unknown} are not declared classes "
                            f"{list(draft.class_ids)}")
    rows = _feature_rows(held_out_features, draft)

    with tempfile.TemporaryDirectory(prefix="model-") as staging_name:
        staging = Path(staging_name)
        joblib.dump(estimator, staging / ARTIFACT_FILENAME, compress=3)
        unverified = draft.model_copy(update={
            "artifact_sha256": sha256_of(staging / ARTIFACT_FILENAME)})
        # The golden answers and the scores come from the artifact as the service loads it,
        # asked as the service asks: what is recorded is what a request would be answered.
        reference = ScikitLearnPredictor(unpickle(staging, unverified), unverified,
                                         staging / ARTIFACT_FILENAME)
        advisor = SleepAdvisor(unverified, reference)
        answers = _golden_answers(advisor, rows, labels)
        held_out = compiling.checked_rows(rows, draft)
        predicted = [a.advice_id for a in advisor.advise(held_out.tolist())]
        metrics = evaluation.evaluate(labels, predicted, draft.class_ids, train_rows)
        (staging / GOLDEN_FILENAME).write_text(answers.model_dump_json(indent=2) + "\n",
                                               encoding="utf-8")
        baseline = drift.drift_baseline(draft, training_matrix.tolist(), predicted)
        (staging / BASELINE_FILENAME).write_text(baseline.model_dump_json(indent=2) + "\n",
                                                 encoding="utf-8")
        # The compiled graph serves only if it answers these and 10,000 sampled requests as
        # the estimator does (chalicelib.compiling).
        checked = [example.request["features"] for example in answers.examples] + rows
        serving, graph = compiling.choose_runtime(
            reference, draft, compiling.checked_rows(checked, draft), golden.TOLERANCE)
        served: ScikitLearnPredictor | CompiledPredictor = reference
        if graph is not None:
            (staging / COMPILED_FILENAME).write_bytes(graph)
        if graph is not None and serving.compiled is not None:
            served = CompiledPredictor(graph, unverified, serving.compiled)
        metadata = unverified.model_copy(update={
            "latency": evaluation.measure_latency(SleepAdvisor(unverified, served), held_out),
            "serving": serving,
            "metrics": metrics,
            "golden": GoldenReference(sha256=sha256_of(staging / GOLDEN_FILENAME),
                                      examples=len(answers.examples)),
            "baseline": BaselineReference(sha256=sha256_of(staging / BASELINE_FILENAME)),
        })
        _write_metadata(staging, metadata)
        # Loaded as the function will (its runtime), and by scikit-learn too when compiled: the
        # path a data scientist can still ask for locally must give the golden answers as well.
        runtimes: tuple[Runtime, ...] = ((ONNX_RUNTIME, SCIKIT_LEARN) if graph is not None
                                         else (SCIKIT_LEARN,))
        for runtime in runtimes:
            try:
                load_model_package(staging, runtime=runtime)
            except ModelLoadError as error:
                raise ModelRejected(f"the saved model does not load as the service loads it "
                                    f"({runtime}): {error}") from None
        conflict = committed_version_conflict(output_dir, metadata)
        if conflict is not None:
            raise ModelRejected(conflict)
        limits = batch_limits_problem(metadata, contract.MAX_BATCH_INSTANCES,
                                      contract.MAX_BODY_BYTES)
        if limits is not None:  # the model can serve, but not with the default limits
            warnings.warn(f"{limits} (the defaults; make check-model and cdk synth refuse it "
                          "until then)", stacklevel=2)
        output_dir.mkdir(parents=True, exist_ok=True)
        for file_name in PACKAGE_FILES + OPTIONAL_PACKAGE_FILES:
            if (staging / file_name).exists():
                shutil.copyfile(staging / file_name, output_dir / file_name)
            else:  # a compiled graph of an earlier model must not ship beside this one
                (output_dir / file_name).unlink(missing_ok=True)
    return metadata


# The requirement files the image installs a scikit-learn model's libraries from.
IMAGE_REQUIREMENTS = ("runtime.txt", "scikit-learn.txt", "dataframe.txt", "model-libraries.txt")


def image_pins() -> dict[str, str]:
    """Every library the image can install for a model, with its pinned version."""
    pins: dict[str, str] = {}
    for name in IMAGE_REQUIREMENTS:
        path = contract.PROJECT_ROOT / "requirements" / name
        for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
            project, separator, version = line.strip().partition("==")
            if separator and not project.startswith("#"):
                pins[pickled.canonical_name(project)] = version
    return pins


def _image_libraries(estimator: Any) -> dict[str, str]:
    """The libraries the estimator's pickle imports, each pinned for the image at the version
    installed here; ModelRejected naming the fix for anything the image could not import."""
    try:
        modules = pickled.pickled_modules(estimator)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise ModelRejected(f"the estimator cannot be pickled: {error}; a function or class it "
                            f"uses must be importable by name: define it in a module under "
                            f"{pickled.COMPONENTS_HOME} and import it from there") from None
    missing = pickled.unshippable(modules)
    if missing:
        where = ("your training script (__main__)" if "__main__" in missing
                 else ", ".join(missing))
        raise ModelRejected(
            f"the pickle refers to code in {where}, which the image would not have: define "
            f"it in a module under {pickled.COMPONENTS_HOME} (it ships in the image), import "
            "it from there in the training script, and save again")
    libraries = pickled.library_versions(modules)
    pins = image_pins()
    for library, version in libraries.items():
        if pins.get(library) != version:
            pinned = f" (pinned at {pins[library]})" if library in pins else ""
            raise ModelRejected(
                f"the pickle imports {library} {version}, which the image does not install"
                f"{pinned}: add `{library}=={version}` to requirements/model-libraries.txt "
                "and run `make lock` (model/README.md, \"Using another library\")")
    return libraries


def committed_version_conflict(model_dir: Path, metadata: ModelMetadata) -> str | None:
    """Why `metadata` must not be shipped from `model_dir`, if the last commit recorded another
    artifact under the same version there; None otherwise (or outside a git repository).

    Alarms, dashboards and rollouts tell models apart by their version: two artifacts under one
    version would be averaged as one model.
    """
    directory = model_dir.resolve()
    try:
        top = subprocess.run(["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        relative = (directory / METADATA_FILENAME).relative_to(Path(top).resolve())
        committed_text = subprocess.run(["git", "-C", top, "show", f"HEAD:{relative.as_posix()}"],
                                        capture_output=True, text=True, check=True).stdout
        committed = ModelMetadata.model_validate_json(committed_text)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None  # no repository, no commit of this model yet, or not a model there
    if committed.version != metadata.version or committed.artifact_sha256 == metadata.artifact_sha256:
        return None
    return (f"{model_dir} holds another artifact (sha256 {metadata.artifact_sha256[:12]}...) "
            f"under version {metadata.version}, which the last commit recorded for artifact "
            f"{committed.artifact_sha256[:12]}...: alarms, dashboards and rollouts keyed by "
            "the model version would average two models. Save it under a new version "
            "(save_model(..., version=...)), or restore the committed model with "
            f"`git checkout -- {relative.parent.as_posix()}`.")


def _estimator_name(estimator: Any) -> str:
    # A pipeline is named by its steps: "Pipeline(ColumnTransformer, LogisticRegression)".
    steps = getattr(estimator, "steps", None)
    if steps:
        return f"{type(estimator).__name__}({', '.join(type(s).__name__ for _, s in steps)})"
    # A wrapper (LabelEncodedClassifier) by what it wraps: "LabelEncodedClassifier(XGBClassifier)".
    inner = getattr(estimator, "estimator_", None)
    if inner is not None:
        return f"{type(estimator).__name__}({type(inner).__name__})"
    return type(estimator).__name__


def feature_matrix(data: Any, features: Sequence[FeatureSpec], role: str = "given") -> np.ndarray:
    """Rows of `data` (an array, or a DataFrame with the features as columns) as the service
    builds them: a float64 matrix with the features in the metadata's order, a category as its
    code. It is also the array encoding: fit an array model on `feature_matrix(frame, FEATURES)`."""
    names = [f.name for f in features]
    columns = getattr(data, "columns", None)
    if columns is not None:
        missing = [n for n in names if n not in list(columns)]
        if missing:
            raise ModelRejected(f"{role} data has no column(s) {missing}")
        raw = [np.asarray(data[name].to_numpy()) for name in names]
    else:
        table = np.asarray(data, dtype=object)
        if table.ndim != 2 or table.shape[1] != len(features) or len(table) == 0:
            raise ModelRejected(f"{role} features have shape {table.shape}; expected rows of "
                                f"{len(features)} features")
        raw = list(table.T)
    if len(raw[0]) == 0:
        raise ModelRejected(f"{role} features have no rows")
    return np.column_stack([_feature_column(spec, column, role)
                            for spec, column in zip(features, raw, strict=True)])


def _feature_column(spec: FeatureSpec, column: np.ndarray, role: str) -> np.ndarray:
    """One feature's values as floats: a category's strings (a DataFrame's) as their codes, its
    codes (an array's) as they are."""
    if spec.categories is not None and any(isinstance(value, str) for value in column):
        try:
            return np.array([spec.code(value) for value in column], dtype=np.float64)
        except ValueError as error:
            raise ModelRejected(f"{role} data: {error}; add it to the feature's categories or "
                                "drop those rows") from None
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelRejected(f"{role} data: feature {spec.name!r} is declared {spec.type} but "
                            f"holds {next(v for v in column if not _is_number(v))!r}; "
                            "declare it a category with its values") from None


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _feature_rows(held_out_features: Any,
                  metadata: ModelMetadata) -> list[dict[str, float | int | str]]:
    """Held-out rows as request objects, checked against the declared types and ranges."""
    matrix = feature_matrix(held_out_features, metadata.features, "held-out")
    for spec, column in zip(metadata.features, matrix.T, strict=True):
        outside = column[(column < spec.lowest) | (column > spec.highest) | ~np.isfinite(column)]
        if outside.size and spec.categories is not None:
            raise ModelRejected(f"feature {spec.name!r}: held-out code {outside[0]!r} is not one "
                                f"of its {len(spec.categories)} categories' codes (0 to "
                                f"{len(spec.categories) - 1}, in the order declared)")
        if outside.size:
            raise ModelRejected(f"feature {spec.name!r}: held-out value {outside[0]!r} is outside "
                                f"its declared range {spec.minimum}..{spec.maximum}; widen the "
                                "range or the API would refuse such requests")
        if spec.discrete and not np.all(column == np.round(column)):
            raise ModelRejected(f"feature {spec.name!r} is declared {spec.type} but the held-out "
                                "data has fractions; declare it a number")
    return [{spec.name: request_value(spec, value)
             for spec, value in zip(metadata.features, values, strict=True)}
            for values in matrix]


def request_value(spec: FeatureSpec, value: float) -> float | int | str:
    """A row's value as a request gives it."""
    if spec.categories is not None:
        return spec.categories[int(value)]
    return int(value) if spec.type == "integer" else float(value)


def _golden_answers(advisor: SleepAdvisor, rows: list[dict[str, float | int | str]],
                    labels: np.ndarray) -> GoldenAnswers:
    """GOLDEN_PER_CLASS clear answers per class, then one for every category value they did not
    give yet (where the held-out rows have it): each string reaches the model in the check. A
    model with a decision threshold also gets the held-out nights nearest to it on either side,
    so the check fails if the threshold is moved past either."""
    schema = RequestSchema(advisor.metadata, max_batch_instances=1, max_body_bytes=1 << 20)
    examples: list[GoldenExample] = []
    threshold = advisor.metadata.decision_threshold

    def clear(answer: golden.GoldenAnswer) -> bool:
        # Far enough from where the advice would change that a difference within the tolerance
        # cannot flip it: the runner-up, or the threshold (half the margin: in two classes, the
        # lead over the runner-up is twice the distance from one half).
        if threshold is not None:
            return abs(answer.probabilities[threshold.advice_id]
                       - threshold.probability) >= GOLDEN_MIN_MARGIN / 2
        top, runner_up = sorted(answer.probabilities.values(), reverse=True)[:2]
        return top - runner_up >= GOLDEN_MIN_MARGIN


    def clear_answer(index: int) -> GoldenExample | None:
        request = {"features": rows[index]}
        try:
            answer = golden.ask(advisor, schema, request)
        except Exception as error:  # whatever the estimator raises, it cannot serve
            raise ModelRejected(
                f"the model failed to answer held-out row {index} as the service asks it "
                f"({'a DataFrame' if advisor.metadata.input == 'dataframe' else 'a float64 array'} with "
                f"the metadata's features in order): {error!r}") from None
        if not clear(answer):
            return None
        return GoldenExample(label=str(labels[index]), request=request, answer=answer)

    for class_id in advisor.metadata.class_ids:
        chosen = 0
        for index in np.flatnonzero(labels == class_id):
            example = clear_answer(int(index))
            if example is None:
                continue
            examples.append(example)
            chosen += 1
            if chosen == GOLDEN_PER_CLASS:
                break
        if chosen == 0:
            raise ModelRejected(f"held-out data has no row of class {class_id!r} with a clear "
                                "answer; golden answers must cover every class")
    for spec in advisor.metadata.features:
        for value in spec.categories or ():
            if any(e.request["features"][spec.name] == value for e in examples):
                continue
            for row_index in (i for i, row in enumerate(rows) if row[spec.name] == value):
                example = clear_answer(row_index)
                if example is not None:
                    examples.append(example)
                    break
    if threshold is not None:
        answers = advisor.advise(compiling.checked_rows(rows, advisor.metadata).tolist())
        distance = np.array([a.probabilities[threshold.advice_id] for a in answers]) - (
            threshold.probability)
        clear_rows = np.abs(distance) >= GOLDEN_MIN_MARGIN / 2
        for side in (distance > 0, distance < 0):
            candidates = np.flatnonzero(side & clear_rows)
            if candidates.size:
                nearest = int(candidates[np.argmin(np.abs(distance[candidates]))])
                example = clear_answer(nearest)
                if example is not None and example not in examples:
                    examples.append(example)
    return GoldenAnswers(tolerance=golden.TOLERANCE, examples=tuple(examples))


def _write_metadata(directory: Path, metadata: ModelMetadata) -> None:
    (directory / METADATA_FILENAME).write_text(
        json.dumps(metadata.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")


def describe(package: ModelPackage) -> str:
    """The API a model directory will get, as `make check-model` prints it."""
    metadata = package.advisor.metadata
    lines = [
        f"{metadata.name} {metadata.version}: {metadata.description}",
        f"  {metadata.estimator}, scikit-learn {metadata.sklearn_version}, "
        f"input as {'a DataFrame' if metadata.input == 'dataframe' else 'an array'}",
        f"  served by {served_by(metadata)}; checked here with {package.advisor.runtime}",
        f"    because {metadata.serving.reason}{largest_difference(metadata)}",
        f"  held-out accuracy {metadata.metrics.accuracy}, macro F1 {metadata.metrics.macro_f1} "
        f"({metadata.metrics.test_rows} rows)",
        f"  golden answers: {len(package.golden.examples)} examples, all answered within "
        f"{package.golden.tolerance}",
        f"  low-probability alarm below {metadata.low_probability_threshold}",
        f"  a full batch of {package.request_schema.max_batch_instances} nights takes at most "
        f"{largest_body_bytes(metadata, package.request_schema.max_batch_instances):,} bytes "
        f"(body limit {package.request_schema.max_body_bytes:,})",
        "",
        "POST /predict features (JSON object, every field required):",
    ]
    lines += [f"  {f.name:<32} {f.type:<8} {f.describe_values():<10} {f.unit:<6} "
              f"{f.description}" for f in metadata.features]
    lines += ["", "Classes (advice_id: advice):"]
    lines += [f"  {c.id}: {c.advice}" for c in metadata.classes]
    lines += ["", *evaluation.describe_card(metadata)]
    baseline = package.baseline
    lines += ["", f"Drift baseline ({baseline.training_rows} training rows; answers from "
              f"{baseline.held_out_rows} held-out rows), share per bin:"]
    for feature in baseline.features:
        bins = ", ".join(f"{feature.describe_bin(i)} {share:.0%}"
                         for i, share in enumerate(feature.shares))
        lines.append(f"  {feature.name}: {bins}")
    lines.append("  answers: " + ", ".join(f"{c} {share:.0%}"
                                          for c, share in baseline.answers.items()))
    return "\n".join(lines)


def largest_difference(metadata: ModelMetadata) -> str:
    largest = metadata.serving.largest_difference
    return "" if largest is None else f" (largest difference {largest:.1e})"


def served_by(metadata: ModelMetadata) -> str:
    compiled = metadata.serving.compiled
    if compiled is None:
        return "scikit-learn (the image holds no ONNX Runtime)"
    return (f"ONNX Runtime {compiled.runtime_version} ({compiled.file}, {compiled.precision}, "
            f"converted by {compiled.converter}; the image holds no scikit-learn)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a model directory as the service would.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="verify, load and run the golden answers")
    check.add_argument("model_dir", type=Path)
    check.add_argument("--runtime", choices=("model", ONNX_RUNTIME, SCIKIT_LEARN),
                       default=get_settings().runtime,
                       help="the runtime to check with (default: the one the model names, as "
                            "the image; or SLEEP_ADVISOR_RUNTIME)")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        package = load_model_package(args.model_dir, runtime=args.runtime,
                                     max_batch_instances=settings.max_batch_instances,
                                     max_body_bytes=settings.max_body_bytes)
    except ModelLoadError as error:
        print(f"model check failed: {error}", file=sys.stderr)
        return 1
    print(describe(package))
    limits = batch_limits_problem(package.advisor.metadata, settings.max_batch_instances,
                                  settings.max_body_bytes)
    if limits is not None:
        print(f"model check failed: {limits} (SLEEP_ADVISOR_MAX_BODY_BYTES and "
              "SLEEP_ADVISOR_MAX_BATCH_INSTANCES here; -c max_body_bytes=... or "
              "-c max_batch_instances=... for a deployed stage)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
