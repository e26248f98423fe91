"""The metrics AWS Lambda publishes and the dimension sets each is published with.

Read from aws-cdk-lib's canned metrics for Lambda, which are generated from CloudWatch's own
metric metadata (the same list the CloudWatch console offers): for example Errors exists per
function, per function and Resource (a version or an alias), and per function, Resource and
ExecutedVersion (an alias invocation, by the version it ran).
"""

from __future__ import annotations

import functools
import re
import tarfile
from pathlib import Path

import aws_cdk

_DECLARATIONS = "package/aws-lambda/lib/lambda-canned-metrics.generated.d.ts"
_IMPLEMENTATION = "package/aws-lambda/lib/lambda-canned-metrics.generated.js"


def _read(bundle: Path, member: str) -> str:
    with tarfile.open(bundle) as archive:
        extracted = archive.extractfile(member)
        if extracted is None:
            raise FileNotFoundError(member)
        return extracted.read().decode()


@functools.cache
def lambda_metric_dimensions() -> dict[str, set[frozenset[str]]]:
    """Each Lambda metric's dimension sets; read on first use (the bundle is 37 MB)."""
    [bundle] = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    # e.g. static errorsSum(dimensions){return{namespace:"AWS/Lambda",metricName:"Errors",...
    names = dict(re.findall(r'static (\w+)\(dimensions\)\{return\{namespace:"AWS/Lambda",'
                            r'metricName:"(\w+)"', _read(bundle, _IMPLEMENTATION)))
    found: dict[str, set[frozenset[str]]] = {}
    # e.g. static errorsSum(this: void, dimensions: { FunctionName: string; Resource: string; })
    for method, fields in re.findall(r"static (\w+)\((?:this: void, )?dimensions: \{([^}]*)\}",
                                     _read(bundle, _DECLARATIONS)):
        dimensions = frozenset(re.findall(r"(\w+): string", fields))
        if dimensions:
            found.setdefault(names[method], set()).add(dimensions)
    return found
