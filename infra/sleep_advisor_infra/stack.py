"""The one Sleep Advisor stack: wires the constructs together, nothing else."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from chalicelib.config import setting_variable
from chalicelib.contract import BUNDLED_MODEL_DIR
from chalicelib.metadata import ModelMetadata
from chalicelib.model_package import ModelLoadError, load_model_package
from chalicelib.saving import committed_version_conflict
from chalicelib.schemas import batch_limits_problem
from sleep_advisor_infra.account import ApiGatewayLoggingRole
from sleep_advisor_infra.alerting import Alerting
from sleep_advisor_infra.api_stage import ApiStage
from sleep_advisor_infra.chalice_app import LIVE_ALIAS, ChaliceApp
from sleep_advisor_infra.config import REPO_ROOT, StageConfig
from sleep_advisor_infra.drift import DriftCheck
from sleep_advisor_infra.function import FunctionImage
from sleep_advisor_infra.monitoring import Monitoring
from sleep_advisor_infra.rollout import Rollout
from sleep_advisor_infra.users import AppUsers


@functools.cache
def shipped_model(model_dir: Path, config: StageConfig | None = None) -> ModelMetadata:
    """The metadata of the model in `model_dir`, once it has loaded as the function loads it
    and a full batch of its nights fits the stage's body limit."""
    config = config or StageConfig()
    try:
        metadata = load_model_package(model_dir).advisor.metadata
    except ModelLoadError as error:
        raise SystemExit(f"{model_dir} cannot be deployed: {error}") from None
    conflict = committed_version_conflict(model_dir, metadata)
    if conflict is not None:
        raise SystemExit(f"{model_dir} cannot be deployed: {conflict}")
    limits = batch_limits_problem(metadata, config.max_batch_instances, config.max_body_bytes)
    if limits is not None:
        raise SystemExit(f"{model_dir} cannot be deployed with these settings: {limits} "
                         "(cdk deploy -c name=value)")
    return metadata


def _warn_if_another_model_is_configured(stack: Stack, model_dir: Path,
                                         model: ModelMetadata) -> None:
    # The variable moves `chalice local` and the tests to another model; the image always
    # ships model/. Say so rather than let a deploy silently ship a different model.
    variable = setting_variable("model_dir")
    configured = os.environ.get(variable)
    if configured and Path(configured).resolve() != model_dir.resolve():
        Annotations.of(stack).add_warning_v2(
            "sleep-advisor:model-dir",
            f"{variable}={configured} is not deployed: the image ships {model_dir.name}/ "
            f"({model.name} {model.version}). Copy the model into model/ to deploy it.",
        )


# Enough of the version's fingerprint to tell one rollout's alarms from the last one's.
ROLLOUT_ALARM_FINGERPRINT_DIGITS = 10


class SleepAdvisorStack(Stack):
    """`model_dir` is the model the stage serves: model/, which the Dockerfile copies into the
    image (the tests describe another model under test with it); `image_context` the image's
    build context, the repository (the tests build one with another model in it)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig,
                 model_dir: Path = BUNDLED_MODEL_DIR, image_context: Path = REPO_ROOT,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Its features shape the gateway's request model, its name, version and classes the
        # dashboard and alarms. It is loaded and asked its golden questions here, so a model
        # that could not serve fails `cdk synth` and `cdk deploy` before an image is built.
        model = shipped_model(model_dir, config)
        _warn_if_another_model_is_configured(self, model_dir, model)

        users = AppUsers(self, "Users", user_pool_arn=config.user_pool_arn)
        function = FunctionImage(self, "Function", log_retention=config.log_retention,
                                 context=image_context)
        app = ChaliceApp(self, "PredictionApi", config=config, role=function.role)
        function.configure(app)
        api = ApiStage(self, "ApiStage", rest_api=app.rest_api, config=config,
                       user_pool=users.user_pool, model=model)
        if config.configure_api_gateway_logging_role:
            ApiGatewayLoggingRole(self, "ApiGatewayLogging", before=app.rest_api)
        alerting = Alerting(
            self, "Alerting", stage=config.stage, slack_workspace_id=config.slack_workspace_id,
            slack_channel_id=config.slack_channel_id, alarm_email=config.alarm_email,
        )
        drift_check = DriftCheck(
            self, "DriftCheck", stage=config.stage, function_image=function,
            metrics_namespace=config.metrics_namespace, topic=alerting.topic,
            topic_key=alerting.key, log_retention=config.log_retention,
        )
        monitoring = Monitoring(
            self, "Monitoring", stage=config.stage, function_name=app.function_name,
            function_log_group=function.log_group, api_name=api.api_name,
            api_stage_name=api.stage_name, metrics_namespace=config.metrics_namespace,
            model=model, topic=alerting.topic, dashboard=config.dashboard,
            version_fingerprint=app.version_fingerprint(ROLLOUT_ALARM_FINGERPRINT_DIGITS),
            drift_check_name=drift_check.function.function_name,
            drift_log_group=drift_check.log_group,
        )
        drift_check.explain(monitoring.alarms["input-drift"])
        rollout = Rollout(
            self, "Rollout", stage=config.stage, app=app, function_image=function, model=model,
            alarms=dict(monitoring.rollout_alarms), topic=alerting.topic, topic_key=alerting.key,
            preference=config.deployment_preference, log_retention=config.log_retention,
        )
        if monitoring.dashboard is not None:
            CfnOutput(self, "DashboardName", value=monitoring.dashboard.dashboard_name)

        CfnOutput(self, "ApiUrl", value=api.url, description="Base URL of the API stage")
        CfnOutput(self, "FunctionName", value=app.function_name)
        CfnOutput(self, "LiveAlias", value=LIVE_ALIAS,
                  description="The alias API Gateway invokes; each deploy shifts it to a new version")
        CfnOutput(self, "PreTrafficHookName", value=rollout.hook.function_name)
        CfnOutput(self, "DriftCheckName", value=drift_check.function.function_name,
                  description="Runs hourly; invoke it to check drift now")
        CfnOutput(self, "AlarmTopicArn", value=alerting.topic.topic_arn)
        CfnOutput(self, "UserPoolId", value=users.user_pool.user_pool_id)
        if users.client_id is not None:
            CfnOutput(self, "UserPoolClientId", value=users.client_id,
                      description="App client id the mobile app signs users in with")
