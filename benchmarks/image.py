"""What the pushed image stores in ECR: its layers, gzip-compressed as `docker push` sends them.

Our layers are measured from the image the Dockerfile builds (harness/container_image.py): the
files each instruction adds, tarred and gzip-compressed at Docker's default level.
The base image's layers cannot be pulled here; their sizes come from the repository AWS
builds the base images from, as xz-compressed tarballs, converted to gzip at the gzip/xz ratio
measured on our own dependency layer (the same kind of content: Python and shared libraries).
"""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
import subprocess
import tarfile
from pathlib import Path

from harness.container_image import ImageBuild, Instruction, instructions

# The six layers of public.ecr.aws/lambda/python:3.12 for x86_64: the sizes Git LFS records for
# the tarballs x86_64/Dockerfile.python3.12 adds, in github.com/aws/aws-lambda-base-images,
# branch python3.12, commit 384f430 (2024-10-14). Later digests differ by patch updates only.
BASE_IMAGE_SOURCE = ("https://github.com/aws/aws-lambda-base-images/tree/python3.12/x86_64 "
                     "(commit 384f430)")
BASE_IMAGE_XZ_BYTES = 468 + 12_800 + 90_948_464 + 24_224_956 + 2_075_192 + 44_180


def _tar(root: Path, members: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member in sorted(members):
            archive.add(member, arcname=str(member.relative_to(root)), recursive=False)
    return buffer.getvalue()


def _xz_size(data: bytes) -> int:
    """xz at its default preset, as the base image's tarballs are; on every core if xz is here."""
    xz = shutil.which("xz")
    if xz is None:
        return len(lzma.compress(data, preset=6))
    result = subprocess.run([xz, "-6", "-T0", "-c"], input=data, capture_output=True, check=True)
    return len(result.stdout)


def layer_name(instruction: Instruction) -> str:
    """What a layer of the Dockerfile holds, by the instruction that adds it."""
    if instruction.keyword == "RUN":
        if "model-metadata.json" in instruction.argument:
            return "model's runtime"
        if "install-runtime.sh" in instruction.argument:
            return "runtime dependencies"
        return "service code"  # the bytecode of app.py and chalicelib/
    if instruction.argument.split()[0].startswith("model/"):
        return "model"
    if "requirements/" in instruction.argument:
        return "requirements (deleted in the same step)"
    return "service code"


def layer_sizes_mb(build: ImageBuild) -> dict[str, float]:
    """Compressed megabytes of each layer the image stores, by what it holds (the service code's
    COPY and bytecode steps summed), the base image's included."""
    sizes: dict[str, float] = {}
    ratio = 0.0
    for instruction, added in zip(instructions(build.dockerfile), build.layers, strict=True):
        present = [Path(entry) for entry in added if Path(entry).exists()]
        name = layer_name(instruction)
        if not present or name.startswith("requirements"):
            continue
        tarball = _tar(build.root, present)
        compressed = gzip.compress(tarball, compresslevel=6)  # Docker's default level
        sizes[name] = sizes.get(name, 0.0) + len(compressed) / 1e6
        if name == "runtime dependencies":
            ratio = len(compressed) / _xz_size(tarball)
    sizes["base image"] = BASE_IMAGE_XZ_BYTES * ratio / 1e6
    return sizes
