#!/bin/sh
# Install the function's runtime dependencies into TARGET as prebuilt wheels for the Lambda
# platform (requirements/lambda-platform). The image build and the test suite run this script.
#   usage: install-runtime.sh TARGET [REQUIREMENTS_DIR]
#          install-runtime.sh TARGET REQUIREMENTS_DIR MODEL_METADATA
# The second form installs only what the shipped model needs beyond the runtime: pandas for a
# model fitted on a DataFrame. It is a separate image step so that a new model does not
# invalidate the cached layer of the runtime install.
set -eu
target="$1"
added="$target"  # what this run installs: bytecode is written for it alone
requirements="${2:-$(dirname "$0")}"
model_metadata="${3:-}"

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
    added=""
    model_input=$("${PYTHON:-python3}" -c '
import json, sys
print(json.load(open(sys.argv[1], encoding="utf-8"))["input"])
' "$model_metadata")
    case "$model_input" in
        array) ;;
        # pandas' own dependencies are in runtime.lock, already installed.
        dataframe) pip_install --require-hashes --no-deps -r "$requirements/dataframe.lock"
                   added="$target/pandas" ;;
        *) echo "install-runtime.sh: unknown model input '$model_input'" >&2; exit 2 ;;
    esac
fi

# Test suites shipped inside numpy, scipy and scikit-learn are over a third of the installed
# size and never run in Lambda; the test suite proves the service works without them. Python
# does the walk: the AWS base image is Amazon Linux 2023 minimal, which has no `find`.
"${PYTHON:-python3}" -c '
import pathlib, shutil, sys
for folder in sorted(pathlib.Path(sys.argv[1]).rglob("tests"), reverse=True):
    if folder.is_dir():
        shutil.rmtree(folder)
' "$target"

# Bytecode for every installed module. Lambda's task root is read-only, so a module without
# valid bytecode is compiled again at every cold start. pip writes timestamp-checked .pyc files,
# which stop matching when a build rewrites file times (reproducible builds do); unchecked-hash
# ones are valid whatever the times, and nothing in an image changes after the build.
if [ -d "$added" ]; then
    "${PYTHON:-python3}" -m compileall -q -f -j 0 --invalidation-mode unchecked-hash "$added" \
        >/dev/null
fi
