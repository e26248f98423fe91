"""Service settings, read from the environment once at start-up and validated."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# app.py, chalicelib/ and model/ sit side by side both in the repository and in the image.
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"
_ENV_PREFIX = "SLEEP_ADVISOR_"


class Settings(BaseModel):
    """Operator-tunable limits, each overridable by `SLEEP_ADVISOR_<NAME>`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path = BUNDLED_MODEL_DIR
    # 100 nights covers a quarter of history in one call while bounding one request's work;
    # it is also the most values one EMF document may carry for a metric.
    max_batch_instances: int = Field(default=100, ge=1, le=100)
    # A full batch of 100 instances is about 25 KiB of JSON; 64 KiB leaves room for spacing.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=6 * 1024 * 1024)
    # Sleep features are health data: they reach the logs only when this is set, and then
    # only at DEBUG level, i.e. for the share of invocations POWERTOOLS_LOGGER_SAMPLE_RATE picks.
    log_features: bool = False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    values = {
        name: os.environ[_ENV_PREFIX + name.upper()]
        for name in Settings.model_fields
        if _ENV_PREFIX + name.upper() in os.environ
    }
    return Settings.model_validate(values)
