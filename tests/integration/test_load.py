"""A bounded load against `chalice local` on loopback: every request sent is answered."""

from __future__ import annotations

from benchmarks.load import run_load
from harness.chalice_local import ChaliceLocal
from harness.samples import SAMPLE_INSTANCE


def test_every_request_is_answered_as_expected(chalice_local: ChaliceLocal) -> None:
    # Sized to what it asserts: eight concurrent clients, every request accounted for, the
    # request mix's statuses exactly (the latency distribution is `make bench`'s).
    result = run_load(chalice_local.port, SAMPLE_INSTANCE, clients=8, total=400)

    print(f"\nload: sent {result.sent}, answered {result.answered}, {dict(result.by_status)}, "
          f"{result.seconds:.1f} s, latency ms {result.latency()}")
    assert result.sent == result.answered == 400
    assert result.unexpected == []
    assert result.by_status == {200: 360, 400: 40}
