"""The model as the service serves it: verified, loaded, and checked against its golden answers.

One function does it for every caller that must agree with the deployed function: the app at
initialisation, `make check-model`, and `save_model` before it keeps what it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chalicelib import contract, golden

# ModelLoadError is re-exported: callers that only load a model need nothing else.
from chalicelib.advisor import ModelLoadError as ModelLoadError
from chalicelib.advisor import SleepAdvisor
from chalicelib.golden import GoldenAnswers
from chalicelib.schemas import RequestSchema


@dataclass(frozen=True)
class ServedModel:
    advisor: SleepAdvisor
    request_schema: RequestSchema
    golden: GoldenAnswers


def load_served_model(
    model_dir: Path,
    *,
    max_batch_instances: int = contract.MAX_BATCH_INSTANCES,
    max_body_bytes: int = contract.MAX_BODY_BYTES,
) -> ServedModel:
    """Load `model_dir` as the function does; ModelLoadError if it must not serve.

    Order matters: the artifact's hash and library version are checked before unpickling
    (which runs code), the golden answers' hash before they are trusted, and the golden
    questions are asked last, through the same request schema that /predict uses.
    """
    advisor = SleepAdvisor.load(model_dir)
    answers = golden.read_golden(model_dir, advisor.metadata)
    schema = RequestSchema(advisor.metadata, max_batch_instances=max_batch_instances,
                           max_body_bytes=max_body_bytes)
    golden.verify(advisor, schema, answers)
    return ServedModel(advisor=advisor, request_schema=schema, golden=answers)
