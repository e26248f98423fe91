"""Comparing two model packages as the golden answers' contract allows: hashes and floats differ
across CPUs (another SIMD path in exp/log changes the last bits), answers beyond the tolerance do
not."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib.golden import first_difference, read_golden
from chalicelib.metadata import ModelMetadata

# What a rebuild on another CPU or Python patch release may change without changing the model:
# the pickle's and the compiled graph's bytes, the interpreter it was saved under, golden.json's
# bytes, the largest difference between the two runtimes' answers (compared below), and the
# model's latency (measured, not computed).
_MACHINE_SPECIFIC: Mapping[str, Any] = {
    "artifact_sha256": True, "python_version": True, "golden": {"sha256"}, "latency": True,
    "serving": {"compiled": {"sha256"}, "largest_difference": True}}


def package_differences(retrained_dir: Path, committed_dir: Path) -> list[str]:
    """Every way the retrained package differs from the committed one beyond the tolerance."""
    retrained, committed = ModelMetadata.read(retrained_dir), ModelMetadata.read(committed_dir)
    found = []
    ours = retrained.model_dump(exclude=_MACHINE_SPECIFIC)
    theirs = committed.model_dump(exclude=_MACHINE_SPECIFIC)
    found += [f"metadata {key}: {ours.get(key)!r}, committed {theirs.get(key)!r}"
              for key in sorted(set(ours) | set(theirs)) if ours.get(key) != theirs.get(key)]
    new, old = read_golden(retrained_dir, retrained), read_golden(committed_dir, committed)
    ours_largest = retrained.serving.largest_difference
    theirs_largest = committed.serving.largest_difference
    if (ours_largest is None) != (theirs_largest is None) or (
            ours_largest is not None and theirs_largest is not None
            and abs(ours_largest - theirs_largest) > new.tolerance):
        found.append(f"serving largest_difference: {ours_largest!r}, committed {theirs_largest!r}")
    for number, (a, b) in enumerate(zip(new.examples, old.examples, strict=True), start=1):
        where = f"golden example {number}"
        if a.label != b.label or a.request.keys() != b.request.keys():
            found.append(f"{where}: another request")
            continue
        for form, values in b.request.items():
            for name, value in values.items():
                given = a.request[form][name]
                if (given != value if isinstance(value, str) or isinstance(given, str)
                        else not math.isclose(given, value, rel_tol=1e-12, abs_tol=new.tolerance)):
                    found.append(f"{where}: {name} = {given!r}, committed {value!r}")
        difference = first_difference(b.answer, a.answer, old.tolerance)
        if difference is not None:
            found.append(f"{where}: {difference}")
    return found
