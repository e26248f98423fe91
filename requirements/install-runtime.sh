#!/bin/sh
# Install the function's runtime dependencies into TARGET as prebuilt wheels for the Lambda
# platform (requirements/lambda-platform). The image build and the test suite run this script.
#   usage: install-runtime.sh TARGET [REQUIREMENTS_DIR]
#          install-runtime.sh TARGET REQUIREMENTS_DIR MODEL_METADATA
# The second form installs only what the shipped model needs beyond the runtime, as its metadata
# says: ONNX Runtime for a model whose compiled graph serves it; otherwise scikit-learn, and
# pandas too for a model fitted on a DataFrame. It is a separate image step so that a new model
# does not invalidate the cached layer of the runtime install.
set -eu
target="$1"
# What the task root held before this run: bytecode is written for what it adds alone, so a
# later image step leaves an earlier step's files (and its cached layer) untouched.
installed_before=$(ls -1 "$target" 2>/dev/null || true)
requirements="${2:-$(dirname "$0")}"
model_metadata="${3:-}"

# The AWS APIs the image's commands call through botocore: the pre-traffic hook (lambda,
# codedeploy, sns), the drift check (logs, sns) and the X-Ray SDK's sampling rules (xray).
# tests/unit/test_supply_chain.py keeps this list equal to the services chalicelib creates.
BOTOCORE_SERVICES="codedeploy lambda logs sns xray"

# The platform arguments, shared with lock.py (no spaces inside any of them).
platform=$(grep -v '^#' "$requirements/lambda-platform")

pip_install() {
    # shellcheck disable=SC2086 # one word per argument, by design
    "${PYTHON:-python3}" -m pip install --disable-pip-version-check --quiet \
        --target "$target" $platform "$@"
}

# The lock files pin every wheel by sha256 (requirements/lock.py writes them).
if [ -z "$model_metadata" ]; then
    pip_install --require-hashes -r "$requirements/runtime.lock"
    pip_install --require-hashes --no-deps -r "$requirements/runtime-no-deps.lock"
else
    model_needs=$("${PYTHON:-python3}" -c '
import json, sys
metadata = json.load(open(sys.argv[1], encoding="utf-8"))
print(metadata["serving"]["runtime"], metadata["input"])
' "$model_metadata")
    case "$model_needs" in
        # The compiled graph takes arrays whatever the model was fitted on: no pandas.
        "onnxruntime "*) pip_install --require-hashes --no-deps -r "$requirements/onnxruntime.lock" ;;
        # Without dependencies: the only one not in scikit-learn.lock itself is numpy, and
        # pandas' are numpy and python-dateutil, all in runtime.lock, already installed.
        "scikit-learn array")
            pip_install --require-hashes --no-deps -r "$requirements/scikit-learn.lock" ;;
        "scikit-learn dataframe")
            pip_install --require-hashes --no-deps -r "$requirements/scikit-learn.lock"
            pip_install --require-hashes --no-deps -r "$requirements/dataframe.lock" ;;
        *) echo "install-runtime.sh: unknown model runtime and input '$model_needs'" >&2; exit 2 ;;
    esac
    # The other libraries the model's pickle imports (its metadata's `libraries`), from
    # model-libraries.lock: only those, so one model's libraries do not weigh on another's image.
    if [ "${model_needs%% *}" = "scikit-learn" ]; then
        "${PYTHON:-python3}" -c '
import json, re, sys
needed = set(json.load(open(sys.argv[1], encoding="utf-8"))["libraries"])
entries = re.split(r"\n(?=[a-z0-9])", open(sys.argv[2], encoding="utf-8").read())
kept = [e for e in entries if e.split("==", 1)[0] in needed]
open(sys.argv[3], "w", encoding="utf-8").write("\n".join(kept) + "\n")
' "$model_metadata" "$requirements/model-libraries.lock" "$target/.model-libraries.lock"
        if grep -q "==" "$target/.model-libraries.lock"; then
            pip_install --require-hashes --no-deps -r "$target/.model-libraries.lock"
        fi
        rm -f "$target/.model-libraries.lock"
    fi
fi

# What the function never loads, removed from the task root (Python does the walk: the AWS base
# image is Amazon Linux 2023 minimal, which has no `find`); the test suite proves the service,
# its pre-traffic hook and its drift check work without them:
# - the test suites shipped inside numpy, scipy and scikit-learn (a third of their size);
# - botocore's API models of every service but those the image calls (BOTOCORE_SERVICES: the
#   pre-traffic hook's, the drift check's, the X-Ray SDK's): 17 of its 17.1 MB compressed;
# - ONNX Runtime's model tools (transformers, quantization, tools) and its C API library
#   libonnxruntime.so, which its Python module does not link (it carries its own copy):
#   13 of its 25 MB compressed.
"${PYTHON:-python3}" -c '
import pathlib, shutil, sys
root = pathlib.Path(sys.argv[1])
for folder in sorted(root.rglob("tests"), reverse=True):
    if folder.is_dir():
        shutil.rmtree(folder)
services = set(sys.argv[2].split())
models = root / "botocore" / "data"
if models.is_dir():
    for service in models.iterdir():
        if service.is_dir() and service.name not in services:
            shutil.rmtree(service)
runtime = root / "onnxruntime"
for unused in ("transformers", "quantization", "tools"):
    if (runtime / unused).is_dir():
        shutil.rmtree(runtime / unused)
for library in (runtime / "capi").glob("libonnxruntime.so*"):
    library.unlink()
' "$target" "$BOTOCORE_SERVICES"

# Bytecode for every installed module. Lambda's task root is read-only, so a module without
# valid bytecode is compiled again at every cold start. pip writes timestamp-checked .pyc files,
# which stop matching when a build rewrites file times (reproducible builds do); unchecked-hash
# ones are valid whatever the times, and nothing in an image changes after the build.
"${PYTHON:-python3}" -c '
import compileall, pathlib, py_compile, sys
target, before = pathlib.Path(sys.argv[1]), set(sys.argv[2].split())
for entry in sorted(target.iterdir()):
    if entry.name in before or entry.name == "bin":
        continue
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    if entry.is_dir():
        compiled = compileall.compile_dir(entry, quiet=1, force=True, workers=0,
                                          invalidation_mode=mode)
    elif entry.suffix == ".py":
        compiled = compileall.compile_file(entry, quiet=1, force=True, invalidation_mode=mode)
    else:
        continue
    if not compiled:
        sys.exit(f"install-runtime.sh: {entry} does not compile")
' "$target" "$installed_before"
