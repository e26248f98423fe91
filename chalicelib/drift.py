"""Input and answer drift against the training baseline, from counts only.

Three places share this module, so the distances are the same wherever they are computed:

- `save_model` records a `DriftBaseline` (baseline.json, whose sha256 the metadata holds): for
  each feature, bin edges from the training data and the training share of each bin, and the
  share of each answer on the held-out split.
- The function counts, per container, the nights in each bin and the answers per class
  (`NightTally`) and writes one aggregate log line per window of at least
  `AGGREGATE_MIN_NIGHTS` nights from `AGGREGATE_MIN_REQUESTS` requests: counts, never a value.
- The scheduled drift check (chalicelib/drift_check.py) and `make drift-report` sum such counts
  and compare them with the baseline (`compare`).

The distance is the population stability index, PSI = sum over bins of (r - t) ln(r / t) for
the recent and training shares r and t (the symmetric Kullback-Leibler divergence of the two
histograms). Its customary bands, from credit scoring: below 0.1 no significant change, 0.1 to
0.25 a moderate shift worth a look, above 0.25 a significant shift (N. Siddiqi, "Credit Risk
Scorecards", Wiley 2006, ch. 9; B. Yurdakul, "Statistical Properties of Population Stability
Index", Western Michigan University 2018, which also shows its bias for small samples: about
(bins - 1) / nights, hence a minimum number of nights per comparison).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

from chalicelib.metadata import FeatureSpec, FrozenModel, ModelLoadError, ModelMetadata, read_hashed

# Deciles: ten bins of a tenth of the training nights each (fewer where values repeat).
QUANTILE_BINS = 10
# An integer feature with at most this many distinct training values is binned by value.
MAX_VALUE_BINS = 12
# The customary PSI bands (module docstring).
MODERATE_SHIFT = 0.1
SIGNIFICANT_SHIFT = 0.25
# A share of zero would make PSI infinite: empty bins count as this share (Evidently's choice).
EMPTY_BIN_SHARE = 1e-4

# No aggregate line describes fewer nights than this, nor nights from fewer requests, so no
# line can be read back to one night or to one user's batch.
AGGREGATE_MIN_NIGHTS = 20
AGGREGATE_MIN_REQUESTS = 5
# And no container writes more than one line per this many seconds (log volume).
AGGREGATE_MIN_INTERVAL_S = 300.0


class FeatureBaseline(FrozenModel):
    """One feature's training histogram. Bin i holds the values v with edges[i-1] < v <=
    edges[i]; the first and last bins are open-ended, so every value the API accepts has one."""

    name: str
    unit: str
    # Integer codes binned by value: `values[i]` is bin i's value (edges are the midpoints).
    values: tuple[float, ...] | None = None
    # A category's values, bin i holding code i (so `values` are 0, 1, ...).
    categories: tuple[str, ...] | None = None
    edges: tuple[float, ...] = Field(min_length=1)
    shares: tuple[float, ...]

    def bin_of(self, value: float) -> int:
        return bisect_left(self.edges, value)

    def describe_bin(self, index: int) -> str:
        """Bin `index` in words: "above 36.9 min", "at 3", "6.1 to 8.3 min" (with an en dash)."""
        unit = "" if self.unit in ("", "count") else f" {self.unit}"
        if self.categories is not None:
            return self.categories[index]
        if self.values is not None:
            value = self.values[index]
            if index == 0:
                return f"at most {value:g}{unit}"
            return f"at least {value:g}{unit}" if index == len(self.values) - 1 else (
                f"at {value:g}{unit}")
        if index == 0:
            return f"at most {self.edges[0]:g}{unit}"
        if index == len(self.edges):
            return f"above {self.edges[-1]:g}{unit}"
        return f"{self.edges[index - 1]:g}–{self.edges[index]:g}{unit}"


class DriftBaseline(FrozenModel):
    """What the model saw in training, binned: the reference every drift distance is taken to."""

    training_rows: int = Field(gt=0)
    held_out_rows: int = Field(gt=0)
    features: tuple[FeatureBaseline, ...] = Field(min_length=1)
    # The share of each answer the model gave on the held-out split.
    answers: dict[str, float]


class ModelCard(ModelMetadata):
    """What GET /model serves: the metadata, and the drift baseline it references."""

    drift_baseline: DriftBaseline

    def served(self, *, training_details: bool) -> dict[str, Any]:
        """The card as JSON; without `training_details` (a stage's publish_training_details
        setting), only what the model is for and does, and how well."""
        if training_details:
            return self.model_dump(mode="json")
        return self.model_dump(mode="json", exclude=set(TRAINING_DETAILS))


# The parts of the model card that say how the model was made: its training record, the
# training data's histograms, the artifacts' hashes, libraries and runtime. A stage with
# publish_training_details=false leaves them out of GET /model. The golden answers' reference
# (a hash and a count) stays: the pre-traffic hook reads it to know which model a new version
# serves.
TRAINING_DETAILS = ("estimator", "sklearn_version", "python_version", "artifact",
                    "artifact_sha256", "baseline", "serving", "libraries", "monitoring",
                    "training", "drift_baseline")


def feature_baseline(spec: FeatureSpec, column: ArrayLike) -> FeatureBaseline:
    """The training histogram of one feature: a bin per category (those training never saw
    included: traffic that starts sending one is drift), by value for an integer feature with
    few values, else by deciles (repeated quantiles merge, so a feature that is 0 on most
    nights gets one bin for the zeros)."""
    import numpy as np  # at save time only

    values = np.asarray(column, dtype=np.float64)
    distinct = np.unique(values)
    by_value: tuple[float, ...] | None = None
    if spec.categories is not None:
        distinct = np.arange(len(spec.categories), dtype=np.float64)
    if spec.categories is not None or (spec.type == "integer" and 1 < len(distinct) <= MAX_VALUE_BINS):
        by_value = tuple(float(v) for v in distinct)
        edges = tuple(float(v) for v in (distinct[:-1] + distinct[1:]) / 2)
    else:
        quantiles = np.quantile(values, np.arange(1, QUANTILE_BINS) / QUANTILE_BINS)
        edges = tuple(float(v) for v in np.unique(quantiles))
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    shares = tuple(float(c) / len(values) for c in counts)
    return FeatureBaseline(name=spec.name, unit=spec.unit, values=by_value,
                           categories=spec.categories, edges=edges, shares=shares)


def drift_baseline(metadata: ModelMetadata, training_matrix: Sequence[Sequence[float]],
                   held_out_answers: Sequence[str]) -> DriftBaseline:
    """The baseline of a model: `training_matrix` has the metadata's features as columns."""
    columns = list(zip(*training_matrix, strict=True))
    answers = {class_id: 0 for class_id in metadata.class_ids}
    for advice_id in held_out_answers:
        answers[advice_id] += 1
    return DriftBaseline(
        training_rows=len(training_matrix), held_out_rows=len(held_out_answers),
        features=tuple(feature_baseline(spec, column)
                       for spec, column in zip(metadata.features, columns, strict=True)),
        answers={c: n / len(held_out_answers) for c, n in answers.items()},
    )


def read_baseline(model_dir: Path, metadata: ModelMetadata) -> DriftBaseline:
    """The drift baseline of a model directory, refused if missing, altered or not the model's."""
    path = model_dir / metadata.baseline.file
    baseline = read_hashed(path, metadata.baseline.sha256, DriftBaseline, "drift baseline")
    if tuple(f.name for f in baseline.features) != metadata.feature_names or (
            set(baseline.answers) != set(metadata.class_ids)):
        raise ModelLoadError(f"{path}: the drift baseline describes other features or classes "
                             "than the metadata")
    return baseline


# Counting on the request path -------------------------------------------------------------


class NightTally:
    """One container's counts since its last aggregate line.

    `add` is on the request path: a binary search per feature and night, no allocation beyond
    the counts. It returns the aggregate to write once the window holds at least
    AGGREGATE_MIN_NIGHTS nights from AGGREGATE_MIN_REQUESTS requests and the container's last
    line is AGGREGATE_MIN_INTERVAL_S old, then starts a new window. A container that ends
    first takes its window with it: nothing is written for fewer nights than the minimum.
    """

    def __init__(self, baseline: DriftBaseline, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._edges = [f.edges for f in baseline.features]
        self._names = [f.name for f in baseline.features]
        self._classes = tuple(baseline.answers)
        self._clock = clock
        self._last_line_at = -math.inf
        self._start()

    def _start(self) -> None:
        self._bins = [[0] * (len(edges) + 1) for edges in self._edges]
        self._answers = dict.fromkeys(self._classes, 0)
        self.nights = self.requests = 0

    def add(self, nights: Sequence[Sequence[float]],
            advice_ids: Sequence[str]) -> dict[str, Any] | None:
        for night in nights:
            for edges, bins, value in zip(self._edges, self._bins, night, strict=True):
                bins[bisect_left(edges, value)] += 1
        for advice_id in advice_ids:
            self._answers[advice_id] += 1
        self.nights += len(nights)
        self.requests += 1
        if (self.nights < AGGREGATE_MIN_NIGHTS or self.requests < AGGREGATE_MIN_REQUESTS
                or self._clock() - self._last_line_at < AGGREGATE_MIN_INTERVAL_S):
            return None
        aggregate = {"nights": self.nights, "requests": self.requests,
                     "bins": dict(zip(self._names, self._bins, strict=True)),
                     "answers": self._answers}
        self._last_line_at = self._clock()
        self._start()
        return aggregate


# Comparing counts with the baseline -------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Summed aggregates: nights per bin of each feature, and answers per class."""

    nights: int
    bins: dict[str, list[int]]
    answers: dict[str, int]

    @classmethod
    def empty(cls, baseline: DriftBaseline) -> Counts:
        return cls(0, {f.name: [0] * len(f.shares) for f in baseline.features},
                   dict.fromkeys(baseline.answers, 0))

    @classmethod
    def of_nights(cls, baseline: DriftBaseline, nights: Sequence[Sequence[float]],
                  advice_ids: Sequence[str]) -> Counts:
        """Nights and their answers counted in the baseline's bins, as NightTally counts them."""
        bins = {f.name: [0] * len(f.shares) for f in baseline.features}
        for night in nights:
            for feature, value in zip(baseline.features, night, strict=True):
                bins[feature.name][feature.bin_of(value)] += 1
        answers = dict.fromkeys(baseline.answers, 0)
        for advice_id in advice_ids:
            answers[advice_id] += 1
        return cls(len(nights), bins, answers)

    def add(self, aggregate: Mapping[str, Any]) -> Counts:
        return Counts(
            self.nights + int(aggregate["nights"]),
            {name: [a + int(b) for a, b in zip(bins, aggregate["bins"][name], strict=True)]
             for name, bins in self.bins.items()},
            {c: n + int(aggregate["answers"].get(c, 0)) for c, n in self.answers.items()},
        )


def valid_aggregate(aggregate: Mapping[str, Any], baseline: DriftBaseline) -> bool:
    """Whether a logged aggregate has this baseline's shape and the minimum size: a line from
    another model, a hand-written or truncated one is left out, never half-counted."""
    try:
        bins, answers = aggregate["bins"], aggregate["answers"]
        nights = int(aggregate["nights"])
        return (nights >= AGGREGATE_MIN_NIGHTS
                and set(answers) <= set(baseline.answers)
                and sum(int(n) for n in answers.values()) == nights
                and all(len(bins[f.name]) == len(f.shares)
                        and sum(int(n) for n in bins[f.name]) == nights
                        and min(int(n) for n in bins[f.name]) >= 0
                        for f in baseline.features))
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def sum_counts(aggregates: Iterable[Mapping[str, Any]], baseline: DriftBaseline) -> Counts:
    total = Counts.empty(baseline)
    for aggregate in aggregates:
        if valid_aggregate(aggregate, baseline):
            total = total.add(aggregate)
    return total


def shares_of(counts: Sequence[float]) -> list[float]:
    """Shares of a histogram, each at least EMPTY_BIN_SHARE, renormalised to sum to 1."""
    total = sum(counts)
    floored = [max(c / total if total else 0.0, EMPTY_BIN_SHARE) for c in counts]
    norm = sum(floored)
    return [s / norm for s in floored]


def population_stability_index(training_shares: Sequence[float],
                               recent_counts: Sequence[float]) -> float:
    expected, actual = shares_of(training_shares), shares_of(recent_counts)
    return sum((a - e) * math.log(a / e) for a, e in zip(actual, expected, strict=True))


@dataclass(frozen=True)
class MovedBin:
    bin: str
    training_share: float
    recent_share: float

    def words(self, noun: str = "nights") -> str:
        return (f"{self.recent_share:.0%} of {noun} {self.bin}, "
                f"{self.training_share:.0%} in training")


@dataclass(frozen=True)
class Distance:
    """How far one feature (or the answer mix) moved, and the bins that moved most."""

    name: str
    psi: float
    moved: tuple[MovedBin, ...]

    def summary(self) -> str:
        noun = "answers" if self.name == ANSWERS else "nights"
        return f"{self.name}: PSI {self.psi:.2f}, " + "; ".join(m.words(noun) for m in self.moved)


ANSWERS = "answers"
# Bins named per feature in the check's line and the on-call message.
MOVED_BINS_SHOWN = 2


def _distance(name: str, training: Sequence[float], counts: Sequence[int],
              labels: Sequence[str]) -> Distance:
    expected, actual = shares_of(training), shares_of(counts)
    contributions = [(a - e) * math.log(a / e) for a, e in zip(actual, expected, strict=True)]
    order = sorted(range(len(labels)), key=lambda i: contributions[i], reverse=True)
    # The bin that moved most, and the next ones only where they explain as much as a quarter
    # of its share of the distance (the rest is noise around an unchanged histogram).
    shown = [i for i in order[:MOVED_BINS_SHOWN]
             if i == order[0] or contributions[i] >= contributions[order[0]] / 4]
    total = sum(counts)
    moved = tuple(MovedBin(labels[i], training[i], counts[i] / total if total else 0.0)
                  for i in shown)
    return Distance(name, sum(contributions), moved)


@dataclass(frozen=True)
class DriftReport:
    """The distances of summed counts from the baseline, largest first."""

    nights: int
    distances: tuple[Distance, ...]

    @property
    def largest(self) -> Distance:
        return self.distances[0]

    def band(self) -> str:
        psi = self.largest.psi
        if psi >= SIGNIFICANT_SHIFT:
            return "significant"
        return "moderate" if psi >= MODERATE_SHIFT else "none"


def compare(baseline: DriftBaseline, counts: Counts) -> DriftReport:
    """Every feature's and the answer mix's PSI against the baseline (counts must be non-empty)."""
    distances = [
        _distance(f.name, f.shares, counts.bins[f.name],
                  [f.describe_bin(i) for i in range(len(f.shares))])
        for f in baseline.features
    ]
    classes = list(baseline.answers)
    distances.append(_distance(ANSWERS, [baseline.answers[c] for c in classes],
                               [counts.answers[c] for c in classes],
                               [f"'{c}'" for c in classes]))
    return DriftReport(counts.nights, tuple(sorted(distances, key=lambda d: d.psi,
                                                   reverse=True)))
