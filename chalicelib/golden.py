"""Golden answers: questions asked of the model at training time, with the answers it gave.

They travel with the artifact (golden.json, whose sha256 the metadata holds). At start-up the
service asks them again exactly as a request would (the same schema parsing and row building),
and refuses to start if any answer moved: a model that loads but answers differently (another
library build, a pipeline that needs other input, a reordered feature list) never serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from chalicelib.metadata import FrozenModel, ModelLoadError, ModelMetadata, read_hashed

if TYPE_CHECKING:  # the pre-traffic hook reads golden answers without loading scikit-learn
    from chalicelib.advisor import SleepAdvisor
    from chalicelib.schemas import RequestSchema

# Probabilities are compared to this absolute tolerance. The same pinned scikit-learn, NumPy
# and Python give bit-identical answers on one platform; another CPU (AVX-512 against AVX2,
# x86_64 against arm64) may change the last bits of exp/log, about 1e-16, or 6e-8 for a float32
# model. 1e-6 is well above both and far below anything a retrained, altered or mis-fed model
# moves (a changed tree split or coefficient shifts probabilities by 1e-3 or more).
TOLERANCE = 1e-6


class GoldenAnswer(FrozenModel):
    advice_id: str
    probabilities: dict[str, float]


class GoldenExample(FrozenModel):
    """One held-out row: the request body the service receives, and what the model answered."""

    label: str = Field(description="The row's true class in the held-out data.")
    request: dict[str, dict[str, float | int | str]]
    answer: GoldenAnswer


class GoldenAnswers(FrozenModel):
    tolerance: float = Field(gt=0, lt=0.01)
    examples: tuple[GoldenExample, ...] = Field(min_length=1)


def read_golden(model_dir: Path, metadata: ModelMetadata) -> GoldenAnswers:
    """The golden answers of a model directory, refused if missing, altered or malformed."""
    path = model_dir / metadata.golden.file
    golden = read_hashed(path, metadata.golden.sha256, GoldenAnswers, "golden answers")
    if len(golden.examples) != metadata.golden.examples:
        raise ModelLoadError(f"{path}: {len(golden.examples)} examples, the metadata says "
                             f"{metadata.golden.examples}")
    return golden


def ask(advisor: SleepAdvisor, schema: RequestSchema, request: Mapping[str, object]) -> GoldenAnswer:
    """What the model answers to one request body, through the service's own parsing."""
    rows = schema.parse(json.dumps(request))
    [advice] = advisor.advise(rows)
    return GoldenAnswer(advice_id=advice.advice_id, probabilities=advice.probabilities)


class NoAnswer(Exception):
    """A golden question got no answer; the message says why, as a sentence."""


def first_moved_answer(golden: GoldenAnswers,
                       ask_one: Callable[[int, GoldenExample], GoldenAnswer]) -> str | None:
    """Ask every golden question through `ask_one(number, example)`; a sentence naming the first
    that was not answered as recorded, or None when every answer held.

    The one comparison loop: the start-up check asks the model in-process, the pre-traffic hook
    asks a new Lambda version through /predict.
    """
    total = len(golden.examples)
    for number, example in enumerate(golden.examples, start=1):
        where = f"golden example {number} of {total} (label {example.label!r})"
        try:
            answer = ask_one(number, example)
        except NoAnswer as error:
            return f"{where}: {error}"
        except Exception as error:  # the model itself raised: it cannot serve this request
            return f"{where}: the model failed to answer: {error!r}"
        difference = first_difference(example.answer, answer, golden.tolerance)
        if difference is not None:
            return f"{where}: {difference}"
    return None


def verify(advisor: SleepAdvisor, schema: RequestSchema, golden: GoldenAnswers) -> None:
    """Ask every golden question in-process; ModelLoadError naming the first answer that moved.

    Each question is parsed as /predict parses it, and all are answered in one call to the
    model (one call instead of ten at every cold start; a tree ensemble or a linear model
    answers each row of a batch as it answers it alone, within the tolerance). Should that call
    fail, they are asked one by one, so the message names the question that failed.
    """
    try:
        rows = [row for example in golden.examples
                for row in schema.parse(json.dumps(example.request))]
        answers = [GoldenAnswer(advice_id=a.advice_id, probabilities=a.probabilities)
                   for a in advisor.advise(rows)]
    except Exception:
        moved = first_moved_answer(golden, lambda _, example: ask(advisor, schema,
                                                                  example.request))
    else:
        moved = first_moved_answer(golden, lambda number, _: answers[number - 1])
    if moved is not None:
        raise ModelLoadError(f"{moved}; the model does not answer as it did at training time "
                             f"(served by {advisor.runtime})")


def first_difference(expected: GoldenAnswer, actual: GoldenAnswer, tolerance: float) -> str | None:
    """A sentence naming the first way `actual` differs from `expected`, or None."""
    if actual.advice_id != expected.advice_id:
        return f"advice {actual.advice_id!r}, recorded {expected.advice_id!r}"
    if set(actual.probabilities) != set(expected.probabilities):
        return (f"classes {sorted(actual.probabilities)}, recorded "
                f"{sorted(expected.probabilities)}")
    for class_id, recorded in expected.probabilities.items():
        now = actual.probabilities[class_id]
        if not abs(now - recorded) <= tolerance:  # `not <=` also catches NaN
            return (f"probability of {class_id!r} is {now!r}, recorded {recorded!r} "
                    f"(tolerance {tolerance})")
    return None
