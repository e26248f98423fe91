"""Converting a fitted estimator to ONNX at save time, kept only if it answers exactly.

    serving, graph = choose_runtime(estimator, metadata, held_out, golden_answers)

skl2onnx converts the estimator (pipelines, column transformers, encoders, linear models, tree
ensembles); ONNX Runtime runs the graph. The graph is accepted only if, on the golden requests,
every held-out row and SAMPLED_REQUESTS requests drawn across the declared feature ranges, it
gives the same advice and every probability within the golden tolerance of scikit-learn's.
Otherwise scikit-learn serves, and the metadata says why (the largest difference found, or the
converter's error). Only the development environment imports this module.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime
import skl2onnx
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)

from chalicelib.advisor import ScikitLearnPredictor, advised_columns
from chalicelib.compiled import ARRAY_INPUT, CompiledPredictor
from chalicelib.metadata import (
    ONNX_RUNTIME,
    SCIKIT_LEARN,
    CompiledArtifact,
    ModelMetadata,
    Serving,
)
from chalicelib.schemas import row_encoder

# Requests drawn uniformly across each feature's declared range (integers rounded), beyond the
# held-out rows: the compiled graph must agree where the training data is thin, too.
SAMPLED_REQUESTS = 10_000
SAMPLE_SEED = 20261202
# Double precision first: it is exact wherever the runtime's kernels take doubles (a linear
# model, a scaler). ONNX Runtime's tree ensembles take only float32; skl2onnx then rounds each
# threshold as scikit-learn's float32 comparison would, so only the sums differ, in the 7th
# digit, which the comparison measures.
PRECISIONS = ("float64", "float32")
# What another x86_64 CPU may move a probability, kept free below the golden tolerance: the
# comparison runs here, the golden check at every cold start on whichever CPU Lambda gives.
# In float64, the last bits of exp/log (about 1e-16). In float32, a few units in the last place
# near 1 (6e-8 each): another libm's expf, or ONNX Runtime's AVX2 and AVX-512 kernels adding in
# another order (a tree ensemble's softmax is scalar, but a MatMul's is not).
CPU_ALLOWANCE = {"float64": 1e-15, "float32": 2.5e-7}
# ONNX opsets: 21 is ONNX Runtime 1.31's (and ONNX 1.16's) default; ai.onnx.ml 3 is the
# highest whose tree ensembles skl2onnx writes.
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
# A converter's error message can repeat a whole model's attributes: its first line is enough.
ERROR_CHARACTERS = 300


@dataclass(frozen=True)
class Comparison:
    """How far the compiled graph's answers were from scikit-learn's."""

    requests: int
    largest_difference: float
    advice_changed: int


def compare(reference: ScikitLearnPredictor, compiled: CompiledPredictor,
            nights: np.ndarray, metadata: ModelMetadata) -> Comparison:
    """The two runtimes' answers to `nights`, column for column in the same class order, and
    the advice each gives (by the model's decision threshold, if it has one)."""
    expected = reference.predict_proba(nights)
    order = [list(compiled.classes).index(c) for c in reference.classes]
    actual = compiled.predict_proba(nights)[:, order]
    difference = np.abs(actual - expected)
    # NaN anywhere counts as an infinite difference: it must never pass as "within".
    largest = float(np.nanmax(np.where(np.isnan(difference), np.inf, difference)))
    changed = advised_columns(actual, reference.classes, metadata) != advised_columns(
        expected, reference.classes, metadata)
    return Comparison(requests=len(nights), largest_difference=largest,
                      advice_changed=int(changed.sum()))


def sampled_nights(metadata: ModelMetadata, count: int = SAMPLED_REQUESTS,
                   seed: int = SAMPLE_SEED) -> np.ndarray:
    """`count` rows drawn uniformly across the declared ranges, both ends included."""
    rng = np.random.default_rng(seed)
    columns = []
    for spec in metadata.features:
        if spec.categories is not None:  # every code equally often
            values = rng.integers(0, len(spec.categories), count).astype(np.float64)
        else:
            values = rng.uniform(spec.lowest, spec.highest, count)
            if spec.type == "integer":
                values = np.round(values)
        values[:2] = (spec.lowest, spec.highest)  # the edges are valid requests too
        columns.append(values)
    return np.column_stack(columns)


def convert(estimator: Any, metadata: ModelMetadata, precision: str) -> bytes:
    """The estimator as an ONNX graph whose inputs are what chalicelib.compiled.feeds builds."""
    number = DoubleTensorType if precision == "float64" else FloatTensorType
    if metadata.input == "array":
        inputs: list[tuple[str, Any]] = [(ARRAY_INPUT, number([None, len(metadata.features)]))]
    else:
        inputs = [(spec.name, StringTensorType([None, 1]) if spec.categories is not None
                   else Int64TensorType([None, 1]) if spec.type == "integer"
                   else number([None, 1])) for spec in metadata.features]
    graph = skl2onnx.to_onnx(estimator, initial_types=inputs, target_opset=TARGET_OPSET,
                             options={"zipmap": False})
    # skl2onnx lists the opsets in a set's order, which Python's string hashing changes from
    # one process to the next: sorted, the same estimator gives the same bytes (and sha256).
    opsets = sorted(graph.opset_import, key=lambda opset: opset.domain)
    del graph.opset_import[:]
    graph.opset_import.extend(opsets)
    serialized: bytes = graph.SerializeToString()
    return serialized


def choose_runtime(reference: ScikitLearnPredictor, metadata: ModelMetadata,
                   checked_nights: np.ndarray, tolerance: float) -> tuple[Serving, bytes | None]:
    """Which runtime serves the estimator, and the compiled graph if it is ONNX Runtime.

    `reference` is the estimator as the service unpickles it; `metadata` describes the model
    (its serving field is not read); `checked_nights` are the golden and held-out rows, in the
    metadata's feature order.
    """
    estimator = reference.estimator
    nights = np.vstack([checked_nights, sampled_nights(metadata)])
    refusals: list[str] = []
    largest: float | None = None
    for precision in PRECISIONS:
        try:
            # A value the precision cannot hold is a NumPy warning, not an error: kept for the
            # reason, should the graph then answer differently.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                graph = convert(estimator, metadata, precision)
            artifact = CompiledArtifact(
                sha256="0" * 64, runtime_version=onnxruntime.__version__,
                converter=f"skl2onnx {skl2onnx.__version__}", precision=precision,  # type: ignore[arg-type]
                class_order=reference.classes)
            comparison = compare(reference, CompiledPredictor(graph, metadata, artifact), nights,
                                 metadata)
        except Exception as error:  # a converter or runtime failure can raise almost anything
            refusals.append(f"{precision}: {first_line(error)}")
            continue
        largest = comparison.largest_difference if largest is None else min(
            largest, comparison.largest_difference)
        allowed = tolerance - CPU_ALLOWANCE[precision]
        if comparison.advice_changed == 0 and comparison.largest_difference <= allowed:
            return Serving(
                runtime=ONNX_RUNTIME,
                compiled=artifact.model_copy(update={"sha256": hashlib.sha256(graph).hexdigest()}),
                compared_requests=comparison.requests,
                largest_difference=comparison.largest_difference,
                # No figure here: the largest difference, beside it, varies in its last digits
                # from one CPU to another.
                reason=(f"its {precision} ONNX graph gave {comparison.requests:,} requests the "
                        f"same advice as scikit-learn, every probability within the golden "
                        f"tolerance {tolerance:g} less {CPU_ALLOWANCE[precision]:g} for "
                        f"another CPU"),
            ), graph
        warned = "".join(f" after the converter warned '{first_line(w.message)}'"
                         for w in caught[:1])
        refusals.append(
            f"{precision}: advice changed on {comparison.advice_changed} of "
            f"{comparison.requests:,} requests, largest probability difference "
            f"{comparison.largest_difference:.1e} (at most {allowed:.2g} accepted: the golden "
            f"tolerance {tolerance:g} less {CPU_ALLOWANCE[precision]:g} for another CPU)"
            f"{warned}")
    return Serving(
        runtime=SCIKIT_LEARN, compared_requests=0 if largest is None else len(nights),
        largest_difference=largest,
        reason="no ONNX conversion answered exactly: " + "; ".join(refusals),
    ), None


def first_line(error: BaseException | str) -> str:
    text = (str(error).strip().splitlines() or [""])[0]
    if len(text) > ERROR_CHARACTERS:
        text = text[:ERROR_CHARACTERS] + "..."
    name = "" if isinstance(error, str) else type(error).__name__
    return ": ".join(part for part in (name, text) if part)


def checked_rows(rows: Sequence[dict[str, float | int | str]], metadata: ModelMetadata) -> np.ndarray:
    """Request objects as rows in the metadata's feature order (a category as its code)."""
    columns = [(spec.name, row_encoder(spec)) for spec in metadata.features]
    return np.array([[encode(row[name]) for name, encode in columns] for row in rows],
                    dtype=np.float64)
