"""Facts about AWS Lambda that aws-cdk-lib encodes, read from its installed bundle: the metrics
Lambda publishes with their dimension sets, and the function properties a version locks.

The metrics are read from aws-cdk-lib's canned metrics for Lambda, which are generated from CloudWatch's own
metric metadata (the same list the CloudWatch console offers): for example Errors exists per
function, per function and Resource (a version or an alias), and per function, Resource and
ExecutedVersion (an alias invocation, by the version it ran).
"""

from __future__ import annotations

import functools
import json
import os
import re
import tarfile
from pathlib import Path

import aws_cdk

_DECLARATIONS = "package/aws-lambda/lib/lambda-canned-metrics.generated.d.ts"
_IMPLEMENTATION = "package/aws-lambda/lib/lambda-canned-metrics.generated.js"
# CDK's table of which AWS::Lambda::Function properties a published version locks
# (aws-lambda/lib/function-hash.ts, VERSION_LOCKED): CDK's own Version hashing follows it.
_FUNCTION_HASH = "package/aws-lambda/lib/function-hash.js"


def _read(bundle: Path, *members: str) -> list[str]:
    """The text of `members`, in one pass over the compressed bundle."""
    found: dict[str, str] = {}
    with tarfile.open(bundle, mode="r|gz") as archive:
        for entry in archive:
            if entry.name in members:
                extracted = archive.extractfile(entry)
                assert extracted is not None
                found[entry.name] = extracted.read().decode()
                if len(found) == len(members):
                    break
    missing = set(members) - set(found)
    if missing:
        raise FileNotFoundError(sorted(missing))
    return [found[m] for m in members]


@functools.cache
def lambda_metric_dimensions() -> dict[str, set[frozenset[str]]]:
    """Each Lambda metric's dimension sets, read on first use from the installed aws-cdk-lib
    (a 37 MB bundle) and kept, per version, in the user's cache directory."""
    [bundle] = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sleep-advisor"
    cached = cache_dir / f"lambda-metrics-{bundle.name.removesuffix('.jsii.tgz')}.json"
    if cached.is_file():
        return {name: {frozenset(d) for d in sets}
                for name, sets in json.loads(cached.read_text()).items()}
    found = _read_dimensions(bundle)
    _write_atomically(cached, json.dumps({name: sorted(sorted(d) for d in sets)
                                          for name, sets in found.items()}))
    return found


def _write_atomically(path: Path, text: str) -> None:
    # CI runs two test processes side by side: neither may read the other's half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _read_dimensions(bundle: Path) -> dict[str, set[frozenset[str]]]:
    implementation, declarations = _read(bundle, _IMPLEMENTATION, _DECLARATIONS)
    # e.g. static errorsSum(dimensions){return{namespace:"AWS/Lambda",metricName:"Errors",...
    names = dict(re.findall(r'static (\w+)\(dimensions\)\{return\{namespace:"AWS/Lambda",'
                            r'metricName:"(\w+)"', implementation))
    found: dict[str, set[frozenset[str]]] = {}
    # e.g. static errorsSum(this: void, dimensions: { FunctionName: string; Resource: string; })
    for method, fields in re.findall(r"static (\w+)\((?:this: void, )?dimensions: \{([^}]*)\}",
                                     declarations):
        dimensions = frozenset(re.findall(r"(\w+): string", fields))
        if dimensions:
            found.setdefault(names[method], set()).add(dimensions)
    return found


@functools.cache
def version_locked_properties() -> frozenset[str]:
    """The AWS::Lambda::Function properties a version locks (CDK's VERSION_LOCKED, true)."""
    [bundle] = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sleep-advisor"
    cached = cache_dir / f"version-locked-{bundle.name.removesuffix('.jsii.tgz')}.json"
    if not cached.is_file():
        [source] = _read(bundle, _FUNCTION_HASH)
        # e.g. VERSION_LOCKED={Architectures:!0,Code:!0,...,Tags:!1,...}
        [table] = re.findall(r"VERSION_LOCKED=\{([^}]*)\}", source)
        locked = sorted(name for name, flag in re.findall(r"(\w+):!([01])", table) if flag == "0")
        _write_atomically(cached, json.dumps(locked))
    return frozenset(json.loads(cached.read_text()))
