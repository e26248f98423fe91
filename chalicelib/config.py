"""Service settings, read from the environment once at start-up and validated."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib import contract


class Settings(BaseModel):
    """Operator-tunable limits, each overridable by `SLEEP_ADVISOR_<NAME>`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path = contract.BUNDLED_MODEL_DIR
    # At most EMF's 100 values per metric, so one request's probabilities fit one document.
    max_batch_instances: int = Field(default=contract.MAX_BATCH_INSTANCES, ge=1, le=100)
    max_body_bytes: int = Field(default=contract.MAX_BODY_BYTES, ge=1024,
                                le=contract.LAMBDA_SYNC_PAYLOAD_BYTES)
    # Sleep features are health data: they reach the logs only when this is set, and then
    # only at DEBUG level, i.e. for the share of invocations POWERTOOLS_LOGGER_SAMPLE_RATE picks.
    log_features: bool = False
    # Which runtime serves: "model", the one save_model chose (the only one the image holds),
    # or "scikit-learn" to serve the pickled estimator locally.
    runtime: Literal["model", "onnxruntime", "scikit-learn"] = "model"
    # GET /model serves the whole model card, or only its public part (chalicelib.drift's
    # TRAINING_DETAILS left out) when this is false.
    publish_training_details: bool = True

    @field_validator("model_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Relative to where the process started: later changes of directory must not move it.
        return value.resolve()


def setting_variable(name: str) -> str:
    """The environment variable that sets `name`: SLEEP_ADVISOR_<NAME>."""
    return contract.ENVIRONMENT_PREFIX + name.upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    values = {
        name: os.environ[setting_variable(name)]
        for name in Settings.model_fields
        if setting_variable(name) in os.environ
    }
    return Settings.model_validate(values)
