"""Deployment settings, read from CDK context in this one place and validated.

Every setting has its default and its meaning here, in StageConfig; override any with
`-c name=value` on the command line (or in cdk.json's context, for a project's own defaults).
Nothing account-specific lives in code: account and region come from the CDK CLI's
credentials, Slack ids and e-mail addresses from context.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from aws_cdk import aws_logs as logs
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib import contract

# The Chalice app, the Dockerfile and the model sit at the repository root.
REPO_ROOT = contract.PROJECT_ROOT

# CodeDeploy's predefined configurations for Lambda (SAM's DeploymentPreference.Type).
DEPLOYMENT_PREFERENCES = (
    "Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
    "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes", "AllAtOnce",
)
RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS, 7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
}


def benchmarked_memory_mb() -> int:
    """The memory rule's choice (docs/benchmarks.md), which `make bench` writes into
    infra/cdk.json's context: the stage's default, read by CDK and by this model alike."""
    cdk_json = Path(__file__).resolve().parents[1] / "cdk.json"
    return int(json.loads(cdk_json.read_text())["context"]["memory_size_mb"])


class StageConfig(BaseModel):
    """One deployment stage of the service: every setting, its default and what it means.

    The descriptions are the README's context table (a test keeps the two equal).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field(
        default="dev", pattern=r"^[a-z][a-z0-9-]{0,19}$",
        description="stack name `SleepAdvisor-<stage>`; deploy several stages side by side")
    memory_size_mb: int = Field(
        default=benchmarked_memory_mb(), ge=128, le=10240,
        description="Lambda memory (and so CPU share: 1,769 MB is one full vCPU); chosen in "
        "[docs/benchmarks.md](docs/benchmarks.md) by the cold start it buys per cent a month")
    timeout_seconds: int = Field(
        default=contract.LATENCY_OBJECTIVE_MS // 1000, ge=3,
        le=contract.API_GATEWAY_TIMEOUT_S - 4,
        description="Lambda timeout: the 10 s objective (an answer later than that has already "
        "failed the user, who may as well retry), below API Gateway's 29 s")
    reserved_concurrency: int | None = Field(
        default=None, ge=1,
        description="cap on concurrent executions (a new account may have too little to reserve)")
    throttle_rate_per_second: float = Field(
        default=50, gt=0, description="API stage throttling: steady requests per second")
    throttle_burst: int = Field(
        default=100, ge=1, description="API stage throttling: burst")
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365] = Field(
        default=30,
        description="retention of function, access and execution logs: long enough to "
        "investigate an incident, short because logs may hold personal data")
    max_batch_instances: int = Field(
        default=contract.MAX_BATCH_INSTANCES, ge=1, le=contract.MAX_BATCH_INSTANCES,
        description="the largest batch one `/predict` request may carry (1–100), given to the "
        "function and to API Gateway's request model alike")
    max_body_bytes: int = Field(
        default=contract.MAX_BODY_BYTES, ge=1024, le=contract.LAMBDA_SYNC_PAYLOAD_BYTES,
        description="the largest `/predict` body the function reads (at most Lambda's 6 MB); "
        "`cdk synth` refuses a model whose full batch could be larger, naming the settings that "
        "fit (API Gateway's request model checks the parsed body, not its size)")
    publish_training_details: bool = Field(
        default=True,
        description="serve the model card's training details in `GET /model` (the training "
        "record, the training data's histograms, hashes, libraries and runtime); `false` serves "
        "only what the model is for, its limitations, features, classes, held-out scores and "
        "latency")
    user_pool_arn: str = Field(
        default="", description="trust an existing Cognito user pool that the mobile app signs "
        "users in with instead of creating one")
    configure_api_gateway_logging_role: bool = Field(
        default=True,
        description="set API Gateway's account-wide CloudWatch role (needed once per account "
        "and region for access and execution logs; the role is retained when the stage is "
        "destroyed, because every API in the region shares the setting); `false` if your "
        "account already has one")
    slack_workspace_id: str = Field(
        default="", description="Slack workspace id, authorised once in the AWS Chatbot console "
        "(see below)")
    slack_channel_id: str = Field(default="", description="Slack channel for the alerts")
    alarm_email: str = Field(default="", description="an e-mail address that also gets alerts")
    deployment_preference: str = Field(
        default="Canary10Percent10Minutes",
        description="how CodeDeploy shifts traffic to a new version: any of CodeDeploy's "
        "predefined Lambda configurations (`Canary10Percent5Minutes`, "
        "`Linear10PercentEvery1Minute`, ...) or `AllAtOnce` for a stage nobody depends on; the "
        "golden check before any traffic runs either way (see \"Rolling out a new model\")")
    trace_sampling_rate: float = Field(
        default=0.05, ge=0, le=1,
        description="share of API requests X-Ray traces (a sampling rule on the stage, which "
        "the function follows); X-Ray's default rule would trace nearly nine in ten at this "
        "traffic")
    dashboard: bool = Field(
        default=True,
        description="the CloudWatch dashboard ($3.00 a month at list price); `false` for a "
        "small beta: every alarm stays, and the dashboard's queries stay saved in Logs "
        "Insights (see \"What it costs\")")

    @field_validator("deployment_preference")
    @classmethod
    def _is_predefined(cls, value: str) -> str:
        if value not in DEPLOYMENT_PREFERENCES:
            raise ValueError(f"deployment_preference must be one of {', '.join(DEPLOYMENT_PREFERENCES)}")
        return value

    @field_validator("user_pool_arn")
    @classmethod
    def _is_user_pool_arn(cls, value: str) -> str:
        if value and not re.fullmatch(r"arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/.+", value):
            raise ValueError("user_pool_arn must be a Cognito user pool ARN")
        return value

    @property
    def stack_id(self) -> str:
        # Chalice names its stage after the stack's construct id.
        return contract.stack_name(self.stage)

    @property
    def log_retention(self) -> logs.RetentionDays:
        return RETENTION[self.log_retention_days]

    @property
    def metrics_namespace(self) -> str:
        # Stages deployed side by side in one account must not mix their metrics.
        return contract.stage_namespace(self.stage)

    @classmethod
    def readme_table(cls) -> str:
        """The README's context table: one row per setting, its default and its meaning."""
        rows = ["| context | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            default = field.default
            shown = ("unset" if default is None else "empty" if default == "" else
                     f"`{str(default).lower()}`" if isinstance(default, bool) else f"`{default}`")
            rows.append(f"| `{name}` | {shown} | {field.description} |")
        return "\n".join(rows)

    @classmethod
    def from_context(cls, node: Node) -> StageConfig:
        # `-c key=value` arrives as a string; pydantic converts "1024" and "true" as needed.
        values: dict[str, Any] = {}
        for key in cls.model_fields:
            value = node.try_get_context(key)
            if value is not None and value != "":
                values[key] = value
        return cls.model_validate(values)
