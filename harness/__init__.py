"""What the tests and the benchmarks share: real processes to drive, models of AWS behaviour
and sample requests. Importing any of it changes nothing in the environment."""

from __future__ import annotations

from chalicelib.contract import PROJECT_ROOT as REPO_ROOT

__all__ = ["REPO_ROOT", "examples"]


def examples(full: int) -> int:
    """Hypothesis examples for one property: all of them, or a tenth in `make test-fast`."""
    import os

    return max(10, full // 10) if os.environ.get("HYPOTHESIS_PROFILE") == "fast" else full
