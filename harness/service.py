"""The service under test, imported in this process as Lambda would import it."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from chalicelib.config import get_settings
from harness import REPO_ROOT


def import_app(module_name: str, model_dir: Path | None = None) -> ModuleType:
    """Import app.py afresh as `module_name`, serving the model in `model_dir`.

    The environment is restored afterwards: only the returned module keeps that model.
    """
    previous = os.environ.get("SLEEP_ADVISOR_MODEL_DIR")
    if model_dir is not None:
        os.environ["SLEEP_ADVISOR_MODEL_DIR"] = str(model_dir)
    get_settings.cache_clear()
    try:
        spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / "app.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {REPO_ROOT / 'app.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        if previous is None:
            os.environ.pop("SLEEP_ADVISOR_MODEL_DIR", None)
        else:
            os.environ["SLEEP_ADVISOR_MODEL_DIR"] = previous
        get_settings.cache_clear()


def post_predict(client: Any, document: Any) -> Any:
    """POST /predict with a JSON document through Chalice's test client."""
    return client.http.post("/predict", headers={"Content-Type": "application/json"},
                            body=json.dumps(document))
