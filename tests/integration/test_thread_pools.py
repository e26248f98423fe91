"""A model loaded in a fresh process, as chalice local loads it, runs single-threaded.

(scikit-learn's pools; ONNX Runtime's session is given one thread by its options.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chalicelib import contract
from harness import REPO_ROOT
from harness.samples import MODEL_DIR


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: every pool starts single-threaded")
def test_a_model_loaded_without_the_images_environment_runs_single_threaded() -> None:
    environment = {k: v for k, v in os.environ.items()
                   if k not in contract.SINGLE_THREADED_ENVIRONMENT}
    script = ("import json, sys; from pathlib import Path; "
              "from chalicelib.model_package import load_model_package; "
              "from threadpoolctl import threadpool_info; "
              "load_model_package(Path(sys.argv[1]), runtime='scikit-learn'); "
              "print(json.dumps([p['num_threads'] for p in threadpool_info()]))")
    result = subprocess.run([sys.executable, "-c", script, str(MODEL_DIR)], cwd=REPO_ROOT,
                            env=environment, capture_output=True, text=True, check=True)

    pools = json.loads(result.stdout.strip().splitlines()[-1])
    assert pools and set(pools) == {contract.THREADS}
