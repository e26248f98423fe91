"""`make drift-report`: the offline comparison a data scientist runs, from requests or from the
function's exported aggregate lines, with the same counts and distances either way."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib import contract, drift
from chalicelib.drift import NightTally
from harness.samples import BASELINE, GOLDEN, MODEL, MODEL_DIR
from harness.service import post_predict
from model import drift_report

REQUESTS = [{"features": GOLDEN.examples[i % len(GOLDEN.examples)].request["features"]}
            for i in range(100)]


def test_requests_and_their_aggregate_lines_give_the_same_report(
    client: Client, flushing_tally: NightTally, tmp_path: Path,
) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join(json.dumps(r) for r in REQUESTS) + "\n{\"features\": {}}\n")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for request in REQUESTS:
            post_predict(client, request)
    # As `aws logs filter-log-events ... --output json` exports them: events with a message.
    events = [{"timestamp": 0, "message": line} for line in output.getvalue().splitlines()
              if contract.AGGREGATE_LOG in line]
    aggregates = tmp_path / "aggregates.json"
    aggregates.write_text(json.dumps({"events": events}))

    from_requests, refused = drift_report.counts_from_requests(requests, MODEL_DIR)
    from_lines, left_out = drift_report.counts_from_aggregates(aggregates, BASELINE, MODEL.version)

    assert flushing_tally.nights == 0 and len(events) == len(REQUESTS) // 20
    assert (refused, left_out) == (1, 0)
    assert from_requests == from_lines
    assert from_requests.nights == len(REQUESTS)
    # The golden answers' advice, as the model gave it.
    assert from_requests.answers == {c: sum(
        GOLDEN.examples[i % len(GOLDEN.examples)].answer.advice_id == c for i in range(100))
        for c in MODEL.class_ids}


def test_the_report_prints_every_distance_and_draws_every_feature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join(json.dumps(r) for r in REQUESTS))
    png = tmp_path / "report.png"

    assert drift_report.main(["--model-dir", str(MODEL_DIR), "--requests", str(requests),
                              "--png", str(png)]) == 0

    printed = capsys.readouterr()
    counts, _ = drift_report.counts_from_requests(requests, MODEL_DIR)
    report = drift.compare(BASELINE, counts)
    for distance in report.distances:
        assert f"{distance.name:<34}{distance.psi:>7.3f}" in printed.out
    assert "fewer than 500 nights" in printed.err  # 100 nights: the bias is said
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_nothing_to_compare_is_an_error_not_a_report(tmp_path: Path) -> None:
    aggregates = tmp_path / "aggregates.jsonl"
    aggregates.write_text(json.dumps({"message": "prediction"}) + "\n")

    assert drift_report.main(["--model-dir", str(MODEL_DIR), "--aggregates", str(aggregates),
                              "--png", str(tmp_path / "x.png")]) == 1
    assert not (tmp_path / "x.png").exists()
