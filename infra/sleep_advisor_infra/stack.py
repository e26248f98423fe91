"""The one Sleep Advisor stack: wires the constructs together, nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from sleep_advisor_infra.alerting import Alerting
from sleep_advisor_infra.config import StageConfig
from sleep_advisor_infra.monitoring import Monitoring
from sleep_advisor_infra.prediction_api import PredictionApi
from sleep_advisor_infra.users import AppUsers


class SleepAdvisorStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        users = AppUsers(self, "Users", user_pool_arn=config.user_pool_arn)
        api = PredictionApi(self, "PredictionApi", config=config, user_pool=users.user_pool)
        alerting = Alerting(
            self, "Alerting", stage=config.stage, slack_workspace_id=config.slack_workspace_id,
            slack_channel_id=config.slack_channel_id, alarm_email=config.alarm_email,
        )
        monitoring = Monitoring(self, "Monitoring", api=api, topic=alerting.topic, stage=config.stage)
        self.api, self.alerting, self.monitoring = api, alerting, monitoring

        CfnOutput(self, "ApiUrl", value=api.url, description="Base URL of the API stage")
        CfnOutput(self, "FunctionName", value=api.function_name)
        CfnOutput(self, "AlarmTopicArn", value=alerting.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=monitoring.dashboard.dashboard_name)
        CfnOutput(self, "UserPoolId", value=users.user_pool.user_pool_id)
        if users.client_id is not None:
            CfnOutput(self, "UserPoolClientId", value=users.client_id,
                      description="App client id the mobile app signs users in with")
