"""The model's compiled form served by ONNX Runtime, for a model that converted exactly.

save_model converts the estimator with skl2onnx (chalicelib.compiling) and keeps the graph only
if it answered as scikit-learn does; this module is all the function needs to serve it, so an
image that serves it holds neither scikit-learn, SciPy, joblib nor pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime

from chalicelib import contract
from chalicelib.advisor import category_strings
from chalicelib.metadata import (
    ONNX_RUNTIME,
    CompiledArtifact,
    ModelLoadError,
    ModelMetadata,
    Runtime,
    read_verified_bytes,
)

# The graph's input for a model fitted on an array: one tensor of every feature.
ARRAY_INPUT = "X"
# ONNX Runtime's severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal.
ERRORS_ONLY = 3


def feeds(metadata: ModelMetadata, precision: str,
          nights: Sequence[Sequence[float]] | np.ndarray) -> dict[str, np.ndarray]:
    """The graph's inputs for rows of feature values in the metadata's order.

    A model fitted on an array takes one tensor; one fitted on a DataFrame takes a column per
    feature, named as the DataFrame's (integers as int64, as the DataFrame typed them), so a
    ColumnTransformer finds its columns by name without pandas; a category column holds its
    strings there, its codes in an array.
    """
    matrix = np.asarray(nights, dtype=np.float64)
    if metadata.input == "array":
        return {ARRAY_INPUT: matrix.astype(precision)}
    return {spec.name: (category_strings(spec, column) if spec.categories is not None
                        else column.astype("int64" if spec.type == "integer" else precision))
            for spec, column in zip(metadata.features, matrix.T[:, :, None], strict=True)}


class CompiledPredictor:
    """An ONNX Runtime session over the compiled artifact, whose hash was checked first."""

    runtime: Runtime = ONNX_RUNTIME

    def __init__(self, graph: bytes, metadata: ModelMetadata, compiled: CompiledArtifact) -> None:
        self._metadata = metadata
        self._precision = compiled.precision
        self.classes = compiled.class_order
        # Its warnings would be plain-text lines in a JSON log: the session's own logger and
        # the process-wide one it creates with the first session (which, in 1.2x-1.3x, warns
        # when GPU discovery finds no device, microsoft/onnxruntime issue 26763) say errors only.
        onnxruntime.set_default_logger_severity(ERRORS_ONLY)
        options = onnxruntime.SessionOptions()
        # One request at a time per container, as for scikit-learn: no thread pool to share.
        options.intra_op_num_threads = contract.THREADS
        options.inter_op_num_threads = contract.THREADS
        options.log_severity_level = ERRORS_ONLY
        try:
            self._session = onnxruntime.InferenceSession(
                graph, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as error:  # the runtime reports an invalid graph in its own types
            raise ModelLoadError(f"{compiled.file}: ONNX Runtime cannot load the compiled "
                                 f"model: {error}") from None
        needed = sorted(feeds(metadata, compiled.precision, np.zeros((1, len(metadata.features)))))
        takes = sorted(graph_input.name for graph_input in self._session.get_inputs())
        if takes != needed:
            fitted_on = "a DataFrame" if takes != [ARRAY_INPUT] else "an array"
            raise ModelLoadError(
                f"{compiled.file}: the metadata says the model takes {metadata.input!r} input "
                f"(graph inputs {needed}) but the compiled model was converted from one fitted "
                f"on {fitted_on} (inputs {takes})")
        outputs = [output.name for output in self._session.get_outputs()]
        if "probabilities" not in outputs:
            raise ModelLoadError(f"{compiled.file}: the compiled model has no 'probabilities' "
                                 f"output (it has {outputs})")
        self._outputs = ["probabilities"]

    def predict_proba(self, nights: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        [probabilities] = self._session.run(self._outputs,
                                            feeds(self._metadata, self._precision, nights))
        # float64 whatever the graph computed in: answers are compared and served as doubles.
        return np.asarray(probabilities, dtype=np.float64)


def load_compiled(model_dir: Path, metadata: ModelMetadata) -> CompiledPredictor:
    """The compiled predictor of `model_dir`, loaded only once its hash matches the metadata."""
    compiled = metadata.serving.compiled
    if compiled is None:
        raise ModelLoadError(
            f"{model_dir}: the model has no compiled artifact ({metadata.serving.reason}); "
            f"it is served by scikit-learn")
    path = model_dir / compiled.file
    return CompiledPredictor(read_verified_bytes(path, compiled.sha256, "compiled model"),
                             metadata, compiled)
