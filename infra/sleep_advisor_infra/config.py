"""Deployment settings, read from CDK context in this one place and validated.

Every value has a default in cdk.json; override any with `-c name=value` on the command line.
Nothing account-specific lives in code: account and region come from the CDK CLI's
credentials, Slack ids and e-mail addresses from context.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from aws_cdk import aws_logs as logs
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib import contract

# The Chalice app, the Dockerfile and the model sit at the repository root.
REPO_ROOT = contract.PROJECT_ROOT

CONTEXT_KEYS = (
    "stage", "memory_size_mb", "timeout_seconds", "reserved_concurrency",
    "throttle_rate_per_second", "throttle_burst", "log_retention_days", "user_pool_arn",
    "configure_api_gateway_logging_role", "slack_workspace_id", "slack_channel_id",
    "alarm_email", "max_batch_instances", "deployment_preference", "trace_sampling_rate",
    "dashboard",
)
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


class StageConfig(BaseModel):
    """One deployment stage of the service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")
    # Chosen in docs/benchmarks.md: CPU is proportional to memory, and users wait on cold
    # starts at every peak; the size is the largest step that still buys 100 ms of a cold
    # start per extra cent a month.
    memory_size_mb: int = Field(ge=128, le=10240)
    # Below API Gateway's 29 s integration timeout and equal to the 10 s objective: an answer
    # later than that has already failed the user, so the client may as well retry sooner.
    timeout_seconds: int = Field(ge=3, le=25)
    reserved_concurrency: int | None = Field(default=None, ge=1)
    throttle_rate_per_second: float = Field(gt=0)
    throttle_burst: int = Field(ge=1)
    # Long enough to investigate an incident; short because logs may hold personal data.
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365]
    # An existing Cognito user pool that the mobile app signs users in with; empty = the
    # stack creates one.
    user_pool_arn: str = ""
    # API Gateway writes execution and access logs through one role per account and region;
    # set to false when the account already has it configured.
    configure_api_gateway_logging_role: bool = True
    slack_workspace_id: str = ""
    slack_channel_id: str = ""
    alarm_email: str = ""
    # The largest batch one request may carry: given to the function (as its setting) and to
    # API Gateway's request model alike, so the two cannot disagree.
    max_batch_instances: int = Field(default=contract.MAX_BATCH_INSTANCES, ge=1, le=100)
    # How CodeDeploy shifts traffic to a new version: a canary by default (10 % of requests
    # for 10 minutes, long enough for the rollout alarms' windows); AllAtOnce for a stage
    # nobody depends on. The golden check before any traffic runs either way.
    deployment_preference: str = "Canary10Percent10Minutes"
    # The share of API requests X-Ray traces (a sampling rule on the API stage, which the
    # function follows). X-Ray's default rule, one request a second and 5 % of the rest,
    # traces about nine requests in ten at this traffic; one in twenty leaves on-call dozens
    # of traces an hour at each peak for a twentieth of the price.
    trace_sampling_rate: float = Field(default=0.05, ge=0, le=1)
    # The CloudWatch dashboard ($3.00 a month at list price). A small beta may go without:
    # the same Logs Insights queries stay saved in the account, and every alarm stays.
    dashboard: bool = True

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
    def from_context(cls, node: Node) -> StageConfig:
        # `-c key=value` arrives as a string; pydantic converts "1024" and "true" as needed.
        values: dict[str, Any] = {}
        for key in CONTEXT_KEYS:
            value = node.try_get_context(key)
            if value is not None and value != "":
                values[key] = value
        return cls.model_validate(values)
