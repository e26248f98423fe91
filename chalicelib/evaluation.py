"""The model card's figures, taken by save_model: held-out scores per class, the confusion
matrix and the model's own latency; and the card as `make check-model` prints it.

Only the development environment imports this module (it needs scikit-learn's metrics).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from chalicelib.advisor import SleepAdvisor
from chalicelib.metadata import ClassScores, EvaluationMetrics, Latency, ModelMetadata

# Each latency is the median of at most this many calls, or of those that fit in the budget
# (a forest answering 100 nights in 50 ms gets 20), after one warm-up call.
LATENCY_CALLS = 200
LATENCY_BUDGET_S = 1.0
LATENCY_MIN_CALLS = 5
BATCH_NIGHTS = 100


def placeholder_metrics(class_ids: Sequence[str], test_rows: int,
                        train_rows: int) -> EvaluationMetrics:
    """Scores of nothing yet, in the right shape: a draft metadata's, before the model answers."""
    return EvaluationMetrics(
        accuracy=0, macro_f1=0, test_rows=max(test_rows, 1), train_rows=max(train_rows, 1),
        per_class={c: ClassScores(precision=0, recall=0, f1=0, support=0) for c in class_ids},
        confusion_matrix=tuple((0,) * len(class_ids) for _ in class_ids))


def evaluate(labels: np.ndarray, advised: Sequence[str], class_ids: Sequence[str],
             train_rows: int) -> EvaluationMetrics:
    """The held-out scores of the advice as served (a class never advised scores 0, not NaN)."""
    classes = list(class_ids)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, advised, labels=classes, zero_division=0)
    matrix = confusion_matrix(labels, advised, labels=classes)
    return EvaluationMetrics(
        accuracy=round(float(accuracy_score(labels, advised)), 4),
        macro_f1=round(float(f1_score(labels, advised, labels=classes, average="macro",
                                      zero_division=0)), 4),
        test_rows=len(labels), train_rows=train_rows,
        per_class={c: ClassScores(precision=round(float(p), 4), recall=round(float(r), 4),
                                  f1=round(float(f), 4), support=int(s))
                   for c, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)},
        confusion_matrix=tuple(tuple(int(n) for n in row) for row in matrix),
    )


def _median_ms(advisor: SleepAdvisor, nights: list[list[float]]) -> float:
    advisor.advise(nights)  # warm-up: first-call allocations are not the model's speed
    durations: list[float] = []
    deadline = time.perf_counter() + LATENCY_BUDGET_S
    while len(durations) < LATENCY_CALLS and (
            len(durations) < LATENCY_MIN_CALLS or time.perf_counter() < deadline):
        started = time.perf_counter()
        advisor.advise(nights)
        durations.append(time.perf_counter() - started)
    return round(statistics.median(durations) * 1000, 4)


def measure_latency(advisor: SleepAdvisor, nights: np.ndarray) -> Latency:
    """The median time `advisor` takes to answer one night and a batch of BATCH_NIGHTS (drawn
    from `nights`, repeated if there are fewer), through its own runtime."""
    rows = nights.tolist()
    batch = [rows[i % len(rows)] for i in range(BATCH_NIGHTS)]
    return Latency(runtime=advisor.runtime, one_night_ms=_median_ms(advisor, rows[:1]),
                   hundred_nights_ms=_median_ms(advisor, batch), measured_on=cpu_name())


def cpu_name() -> str:
    """The CPU's model name (Linux), else what the platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_card(metadata: ModelMetadata) -> list[str]:
    """The model card's lines, as `make check-model` prints them."""
    scores = metadata.metrics
    width = max(len(c) for c in metadata.class_ids)
    lines = [f"Intended use: {metadata.intended_use}"]
    lines += ["Limitations:"] + [f"  - {limit}" for limit in metadata.limitations] if (
        metadata.limitations) else ["Limitations: none recorded"]
    threshold = metadata.decision_threshold
    if threshold is not None:
        lines.append(f"Decision threshold: {threshold.advice_id} when its probability is at "
                     f"least {threshold.probability:g}")
    lines += ["", f"Held-out scores ({scores.test_rows} nights):",
              f"  {'class':<{width}}  precision  recall     f1  support"]
    lines += [f"  {c:<{width}}  {s.precision:>9.3f}  {s.recall:>6.3f}  {s.f1:>5.3f}  "
              f"{s.support:>7}" for c, s in scores.per_class.items()]
    cell = max(5, *(len(str(n)) for row in scores.confusion_matrix for n in row))
    numbers = "".join(f"  {i + 1:>{cell}}" for i in range(len(metadata.class_ids)))
    lines += ["", "Confusion matrix (rows: true class; columns: advised, in the same order):",
              f"  {'':<{width + 4}}{numbers}"]
    lines += [f"  {i + 1:>2}. {c:<{width}}" + "".join(f"  {n:>{cell}}" for n in row)
              for i, (c, row) in enumerate(zip(metadata.class_ids, scores.confusion_matrix,
                                                strict=True))]
    latency = metadata.latency
    lines += ["", f"Latency of the model itself ({latency.runtime}, median, when saved on "
              f"{latency.measured_on}): {latency.one_night_ms:g} ms for one night, "
              f"{latency.hundred_nights_ms:g} ms for {BATCH_NIGHTS}"]
    return lines
