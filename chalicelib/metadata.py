"""The model's metadata file: the contract between the training script and the service.

The service learns the features, their ranges and the advice classes from this file, so a
data scientist can swap in another model without touching the service code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

METADATA_FILENAME = "metadata.json"
ARTIFACT_FILENAME = "model.joblib"
GOLDEN_FILENAME = "golden.json"
BASELINE_FILENAME = "baseline.json"
COMPILED_FILENAME = "model.onnx"
# The files of a model directory, all written by save_model (the metadata last: it holds the
# others' hashes). The compiled artifact exists only when the model converted exactly.
PACKAGE_FILES = (ARTIFACT_FILENAME, GOLDEN_FILENAME, BASELINE_FILENAME, METADATA_FILENAME)
OPTIONAL_PACKAGE_FILES = (COMPILED_FILENAME,)


def package_files(model_dir: Path) -> tuple[str, ...]:
    """The names of the package files `model_dir` holds: every required one, and the compiled
    graph when it was saved."""
    return PACKAGE_FILES + tuple(name for name in OPTIONAL_PACKAGE_FILES
                                 if (model_dir / name).is_file())

# What can serve a model: the compiled graph through ONNX Runtime, or the pickled estimator.
SCIKIT_LEARN: Final = "scikit-learn"
ONNX_RUNTIME: Final = "onnxruntime"
Runtime = Literal["onnxruntime", "scikit-learn"]

# A feature name becomes a JSON field and a pydantic field name.
_FEATURE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


# Records save_model added over time: a metadata file without one was saved before it.
SAVED_LATER = ("baseline", "serving", "libraries", "intended_use", "latency",
               "metrics.per_class", "metrics.confusion_matrix")


class ModelLoadError(RuntimeError):
    """The artifact or its metadata cannot be trusted; the service must not start."""


class FrozenModel(BaseModel):
    """Immutable, and no field it does not declare: a typo in a model file is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# A category's values become an API Gateway enum and one drift bin each, counted in every
# container's aggregate line: a feature with more values is an identifier, not a category.
MAX_CATEGORIES = 50
# A value is a word or two: it is rendered in API Gateway's model (at most 400 KB) and the
# OpenAPI, and counted in every request body's size.
MAX_CATEGORY_LENGTH = 64


class FeatureSpec(FrozenModel):
    """One input feature, in the order the estimator expects its columns.

    A number or integer has a range; a category has its allowed values instead. Requests give
    a category's value as one of those strings. An estimator fitted on an array is given its
    code, the value's position in `categories` (0 for the first); one fitted on a DataFrame is
    given the string.
    """

    name: str = Field(pattern=_FEATURE_NAME_PATTERN)
    type: Literal["number", "integer", "category"]
    unit: str
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    description: str

    @model_validator(mode="after")
    def _range_or_categories(self) -> FeatureSpec:
        if self.type == "category":
            if self.minimum is not None or self.maximum is not None:
                raise ValueError(f"feature {self.name!r}: a category has categories, not a "
                                 "minimum and maximum")
            values = self.categories or ()
            if not 2 <= len(values) <= MAX_CATEGORIES or len(set(values)) != len(values):
                raise ValueError(f"feature {self.name!r}: a category needs 2 to "
                                 f"{MAX_CATEGORIES} distinct categories, got {list(values)}")
            if not all(value.strip() and len(value) <= MAX_CATEGORY_LENGTH for value in values):
                raise ValueError(f"feature {self.name!r}: a category value must not be blank "
                                 f"nor longer than {MAX_CATEGORY_LENGTH} characters")
            return self
        if self.categories is not None:
            raise ValueError(f"feature {self.name!r}: only a category has categories; declare "
                             "type='category'")
        if self.minimum is None or self.maximum is None:
            raise ValueError(f"feature {self.name!r}: a {self.type} needs a minimum and a maximum")
        if self.minimum >= self.maximum:
            raise ValueError(f"feature {self.name!r}: minimum must be below maximum")
        return self

    @property
    def discrete(self) -> bool:
        """Whether its values (a category's codes) are whole numbers."""
        return self.type != "number"

    @property
    def lowest(self) -> float:
        """The smallest value a row may hold: the minimum, or a category's first code."""
        return self.minimum if self.minimum is not None else 0.0

    @property
    def highest(self) -> float:
        """The largest value a row may hold: the maximum, or a category's last code."""
        if self.maximum is not None:
            return self.maximum
        return float(len(self.categories or ()) - 1)

    def code(self, value: str) -> int:
        """A category value's code; ValueError naming the allowed values if it is not one."""
        try:
            return (self.categories or ()).index(value)
        except ValueError:
            raise ValueError(f"feature {self.name!r}: {value!r} is not one of its categories "
                             f"{list(self.categories or ())}") from None

    def describe_values(self) -> str:
        """What a request may give: "0..30", or "closed | ajar | open"."""
        if self.categories is not None:
            return " | ".join(self.categories)
        return f"{self.lowest:g}..{self.highest:g}"


class AdviceClass(FrozenModel):
    """One class the model predicts, with the advice shown to the user."""

    id: str = Field(pattern=_FEATURE_NAME_PATTERN)
    advice: str


class ClassScores(FrozenModel):
    """How the model did on one class's held-out rows, as scikit-learn's classification report."""

    precision: float = Field(ge=0, le=1, description="Of the nights advised this class, the "
                                                       "share whose true class it was.")
    recall: float = Field(ge=0, le=1, description="Of the nights of this class, the share "
                                                    "advised it.")
    f1: float = Field(ge=0, le=1)
    support: int = Field(ge=0, description="Held-out nights of this class.")


class EvaluationMetrics(FrozenModel):
    """Scores on the held-out split, recorded at training time, of the advice as served (after
    any decision threshold)."""

    accuracy: float = Field(ge=0, le=1)
    macro_f1: float = Field(ge=0, le=1)
    test_rows: int = Field(gt=0)
    train_rows: int = Field(gt=0)
    per_class: dict[str, ClassScores]
    # confusion_matrix[i][j]: held-out nights of class i advised class j, both in the
    # metadata's class order.
    confusion_matrix: tuple[tuple[int, ...], ...]


class Latency(FrozenModel):
    """The model's own time to answer, measured by save_model through the runtime that serves
    it (the median of many calls, after a warm-up): what a request adds to the handler's fixed
    cost on the machine that saved it. Lambda's CPU differs; benchmarks/ measures the service."""

    runtime: Runtime
    one_night_ms: float = Field(gt=0)
    hundred_nights_ms: float = Field(gt=0)
    measured_on: str = Field(description="The CPU it was measured on.")


class DecisionThreshold(FrozenModel):
    """For a model of two classes: advise `advice_id` when its probability is at least
    `probability`, else the other class (instead of the more probable one). The golden answers
    are taken with it, so a threshold changed afterwards fails the start-up check."""

    advice_id: str
    probability: float = Field(gt=0, lt=1)


class GoldenReference(FrozenModel):
    """Where the model's golden answers are, and the hash that makes them tamper-evident."""

    file: str = GOLDEN_FILENAME
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    examples: int = Field(gt=0)


class BaselineReference(FrozenModel):
    """Where the model's drift baseline is (chalicelib.drift), and the hash that makes it
    tamper-evident."""

    file: str = BASELINE_FILENAME
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class CompiledArtifact(FrozenModel):
    """The estimator converted to ONNX, accepted because it answered as scikit-learn did."""

    file: str = COMPILED_FILENAME
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    runtime_version: str = Field(description="The ONNX Runtime release it was checked with.")
    converter: str = Field(description="The converter and its version, e.g. skl2onnx 1.20.0.")
    # The graph's floating-point inputs: float64 where the runtime's kernels take it, else
    # float32 (ONNX Runtime's tree ensembles), whose answers were still within the tolerance.
    precision: Literal["float64", "float32"]
    # The order of the graph's probability columns: the estimator's classes_.
    class_order: tuple[str, ...] = Field(min_length=2)


class Serving(FrozenModel):
    """Which runtime serves the model and why, decided by save_model."""

    runtime: Runtime
    compiled: CompiledArtifact | None = None
    # The requests the conversion was compared on, and the largest probability difference
    # found (None when it did not convert at all).
    compared_requests: int = Field(ge=0)
    largest_difference: float | None = None
    reason: str

    @model_validator(mode="after")
    def _compiled_when_onnx(self) -> Serving:
        if (self.runtime == ONNX_RUNTIME) != (self.compiled is not None):
            raise ValueError("a compiled artifact is recorded exactly when onnxruntime serves")
        return self


class Monitoring(FrozenModel):
    """Model-specific alarm settings; anything left out gets a default from the classes."""

    # The average probability of the chosen class below which the model-health alarm fires.
    low_probability: float | None = Field(default=None, gt=0, lt=1)


class ModelMetadata(FrozenModel):
    """Everything needed to serve, verify and reproduce one model artifact."""

    name: str
    version: str
    description: str
    estimator: str
    sklearn_version: str
    python_version: str
    artifact: str = ARTIFACT_FILENAME
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # What the estimator was fitted on, so what the service passes it: a float64 array, or a
    # pandas DataFrame with the features as columns. The image installs pandas only for the
    # latter (requirements/dataframe.txt).
    input: Literal["array", "dataframe"]
    features: tuple[FeatureSpec, ...] = Field(min_length=1)
    classes: tuple[AdviceClass, ...] = Field(min_length=2)
    metrics: EvaluationMetrics
    # The model card: what the model is for, what it must not be used for, and its speed.
    intended_use: str = Field(min_length=1)
    limitations: tuple[str, ...] = ()
    latency: Latency
    decision_threshold: DecisionThreshold | None = None
    golden: GoldenReference
    baseline: BaselineReference
    serving: Serving
    # Every installed library the pickle imports (by distribution), at the version it was
    # saved with: the function refuses to unpickle under another (chalicelib.pickled).
    libraries: dict[str, str]
    monitoring: Monitoring = Monitoring()
    training: dict[str, str | int | float]

    @model_validator(mode="after")
    def _names_are_unique(self) -> ModelMetadata:
        for label, names in (
            ("feature", [f.name for f in self.features]),
            ("class", [c.id for c in self.classes]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate {label} names in {names}")
        threshold = self.decision_threshold
        if threshold is not None and (len(self.classes) != 2
                                      or threshold.advice_id not in self.class_ids):
            raise ValueError(f"a decision threshold needs a model of two classes and one of "
                             f"them; this one has {list(self.class_ids)}")
        return self

    @classmethod
    def read(cls, model_dir: Path) -> ModelMetadata:
        """The metadata of a model directory; ModelLoadError if it is missing or invalid."""
        path = model_dir / METADATA_FILENAME
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise ModelLoadError(
                f"{path}: metadata file is missing; a model directory is written by "
                "chalicelib.saving.save_model (model/README.md)") from None
        except ValidationError as error:  # also malformed JSON and bytes that are not UTF-8
            missing = sorted({".".join(map(str, e["loc"])) for e in error.errors()
                              if e["type"] == "missing"
                              and ".".join(map(str, e["loc"])) in SAVED_LATER})
            if missing:
                raise ModelLoadError(
                    f"{path}: metadata has no {' or '.join(repr(m) for m in missing)}: the model "
                    "was saved by an earlier save_model; run its training script again (it "
                    "records the drift baseline, the serving runtime, the libraries it needs and "
                    "the model card, for which save_model now asks an intended_use)") from None
            raise ModelLoadError(f"{path}: metadata is invalid: {error}") from None

    @property
    def served_artifact(self) -> str:
        """The file the serving runtime loads: the compiled graph, or the pickle."""
        compiled = self.serving.compiled
        return compiled.file if compiled is not None else self.artifact

    @property
    def class_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.classes)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def low_probability_threshold(self) -> float:
        """The model-health alarm's threshold: the metadata's, else a default from the classes.

        The chosen class's probability is never below chance (1/k for k classes), so a fixed
        threshold cannot fit every model: 0.45 is a warning sign for five classes and can never
        be crossed by two. The default sits 30 % of the way from chance to certainty.
        """
        if self.monitoring.low_probability is not None:
            return self.monitoring.low_probability
        threshold = self.decision_threshold
        if threshold is not None:  # the advised class's probability is at least min(t, 1 - t)
            return toward_certainty(min(threshold.probability, 1 - threshold.probability))
        return default_low_probability(len(self.classes))


def default_low_probability(class_count: int) -> float:
    return toward_certainty(1 / class_count)


def toward_certainty(floor: float) -> float:
    """LOW_PROBABILITY_SHARE of the way from the lowest probability the advised class can have
    to certainty."""
    return round(floor + LOW_PROBABILITY_SHARE * (1 - floor), 3)


# How far from chance towards certainty the default low-probability threshold sits.
LOW_PROBABILITY_SHARE = 0.3


def read_verified_bytes(path: Path, sha256: str, what: str) -> bytes:
    """A file of a model package (`what`: "pickled model", "golden answers"), read once and
    returned only if its hash is the one the metadata recorded; ModelLoadError naming the fix
    if it is missing or altered."""
    try:
        content = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise ModelLoadError(f"{path}: the {what} file is missing; save the model with "
                             "chalicelib.saving.save_model to record it") from None
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha256:
        raise ModelLoadError(f"{path}: sha256 {actual} does not match {sha256} in the metadata; "
                             f"the {what} file is truncated, corrupted or was changed after "
                             "training")
    return content


def read_hashed[M: BaseModel](path: Path, sha256: str, model: type[M], what: str) -> M:
    """A file of a model package (`what`: "golden answers", "drift baseline"), parsed as `model`
    once its hash is the one the metadata recorded; ModelLoadError if missing, altered or
    malformed, naming the fix."""
    content = read_verified_bytes(path, sha256, what)
    try:
        return model.model_validate_json(content)
    except ValidationError as error:
        raise ModelLoadError(f"{path}: the {what} file is invalid: {error}") from None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so a large artifact is not held twice."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
