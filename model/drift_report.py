"""Offline drift report: a model's training baseline against requests or exported aggregates.

    make drift-report REQUESTS=requests.jsonl [MODEL_DIR=model] [PNG=drift-report.png]
    make drift-report AGGREGATES=aggregates.jsonl

REQUESTS holds one /predict body per line, as the API takes them ({"features": {...}} or
{"instances": [...]}); each is checked by the API's own request schema (a refused line is
counted, not compared) and answered by the model, so the answer mix is compared too. AGGREGATES
holds the function's aggregate lines, one per line: the lines themselves, or the events of
`aws logs filter-log-events --log-group-name <function log group> --filter-pattern
'{ $.message = "night aggregate" }' --output json` (its `events`, or one event per line). It
prints every feature's PSI with the bins that moved most and writes a PNG of training against
recent shares per feature. The distances are chalicelib.drift's: the same as the hourly check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chalicelib import contract, drift
from chalicelib.drift import Counts, DriftBaseline, DriftReport
from chalicelib.drift_check import MIN_NIGHTS
from chalicelib.model_package import load_model_package
from chalicelib.schemas import RequestRejected


def _json_lines(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("{") and '"events"' in text[:200]:
        try:
            yield from json.loads(text)["events"]  # the CLI's whole output
            return
        except (ValueError, KeyError):
            pass
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError as error:
                raise SystemExit(f"{path}:{number}: not JSON ({error})") from None


def counts_from_aggregates(path: Path, baseline: DriftBaseline,
                           model_version: str) -> tuple[Counts, int]:
    """The summed aggregates of `model_version` in `path`, and how many lines were left out."""
    aggregates, left_out = [], 0
    for item in _json_lines(path):
        line = item
        if isinstance(item, dict) and isinstance(item.get("message"), str) and "bins" not in item:
            try:
                line = json.loads(item["message"])  # an exported log event
            except ValueError:
                line = None
        if (isinstance(line, dict) and line.get("message") == contract.AGGREGATE_LOG
                and line.get("model_version") == model_version
                and drift.valid_aggregate(line, baseline)):
            aggregates.append(line)
        else:
            left_out += 1
    return drift.sum_counts(aggregates, baseline), left_out


def counts_from_requests(path: Path, model_dir: Path) -> tuple[Counts, int]:
    """The nights of the valid requests in `path`, binned, with the model's answers."""
    package = load_model_package(model_dir)
    baseline = package.baseline
    nights: list[Sequence[float]] = []
    refused = 0
    for number, document in enumerate(_json_lines(path), start=1):
        try:
            nights += package.request_schema.parse(json.dumps(document).encode())
        except RequestRejected as rejection:
            refused += 1
            print(f"{path}:{number}: refused as the API would ({rejection.code})", file=sys.stderr)
    answers = [a.advice_id for a in package.advisor.advise(nights)] if nights else []
    return Counts.of_nights(baseline, nights, answers), refused


def table(report: DriftReport) -> str:
    rows = [f"{'':<34}{'PSI':>7}  {'band':<12} moved most",
            f"{'':<34}{'':>7}  (below {drift.MODERATE_SHIFT}: no change; above "
            f"{drift.SIGNIFICANT_SHIFT}: significant)"]
    for distance in report.distances:
        band = ("significant" if distance.psi >= drift.SIGNIFICANT_SHIFT else
                "moderate" if distance.psi >= drift.MODERATE_SHIFT else "none")
        noun = "answers" if distance.name == drift.ANSWERS else "nights"
        moved = "; ".join(m.words(noun) for m in distance.moved)
        rows.append(f"{distance.name:<34}{distance.psi:>7.3f}  {band:<12} {moved}")
    return "\n".join(rows)


def plot(baseline: DriftBaseline, counts: Counts, report: DriftReport, title: str,
         output: Path) -> None:
    """Training against recent shares, one panel per feature and one for the answers."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    psi = {d.name: d.psi for d in report.distances}
    panels: list[tuple[str, list[str], Sequence[float], list[int]]] = [
        (f.name, [f.describe_bin(i) for i in range(len(f.shares))], f.shares, counts.bins[f.name])
        for f in baseline.features]
    classes = list(baseline.answers)
    panels.append((drift.ANSWERS, classes, [baseline.answers[c] for c in classes],
                   [counts.answers[c] for c in classes]))
    columns = 2
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(14, 3.2 * rows), squeeze=False)
    for axis, (name, labels, training, recent) in zip(axes.flat, panels, strict=False):
        total = sum(recent) or 1
        positions = range(len(labels))
        axis.bar([p - 0.2 for p in positions], training, width=0.4, label="training")
        axis.bar([p + 0.2 for p in positions], [n / total for n in recent], width=0.4,
                 label="recent")
        axis.set_title(f"{name}: PSI {psi[name]:.3f}", fontsize=10)
        axis.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=7)
        axis.set_ylabel("share")
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(output, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=contract.BUNDLED_MODEL_DIR)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--requests", type=Path, help="JSON lines of /predict bodies")
    source.add_argument("--aggregates", type=Path,
                        help="the function's aggregate lines (or their exported log events)")
    parser.add_argument("--png", type=Path, default=Path("drift-report.png"))
    args = parser.parse_args(argv)

    package = load_model_package(args.model_dir)
    metadata, baseline = package.advisor.metadata, package.baseline
    if args.requests is not None:
        counts, left_out = counts_from_requests(args.requests, args.model_dir)
        what = f"{counts.nights} nights from {args.requests} ({left_out} requests refused)"
    else:
        counts, left_out = counts_from_aggregates(args.aggregates, baseline, metadata.version)
        what = (f"{counts.nights} nights from {args.aggregates} ({left_out} lines of another "
                "model version or shape left out)")
    if counts.nights == 0:
        print(f"no nights to compare: {what}", file=sys.stderr)
        return 1
    report = drift.compare(baseline, counts)
    title = f"{metadata.name} {metadata.version}: {what}"
    print(title)
    if counts.nights < MIN_NIGHTS:
        print(f"warning: fewer than {MIN_NIGHTS} nights, the hourly check's minimum: PSI's bias "
              f"alone is about (bins - 1) / nights, here ~{9 / counts.nights:.2f}",
              file=sys.stderr)
    print(table(report))
    plot(baseline, counts, report, title, args.png)
    print(f"histograms: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
