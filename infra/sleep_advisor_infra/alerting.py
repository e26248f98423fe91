"""Where alarms go: an encrypted SNS topic, Slack through AWS Chatbot, optionally e-mail."""

from __future__ import annotations

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from chalicelib import contract
from sleep_advisor_infra.nag import acknowledge

# What the Slack channel may do and show: read alarms and metrics to render charts, nothing else.
CHATBOT_READ_ACTIONS = [
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
]


class Alerting(Construct):
    """Attributes: `topic`, `key`, `slack_channel` (None without Slack ids)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, slack_workspace_id: str,
        slack_channel_id: str, alarm_email: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self, "TopicKey",
            description=f"Encrypts Sleep Advisor {stage} alarm notifications",
            enable_key_rotation=True,
            # It only protects notifications in flight: once the topic is gone nothing encrypted
            # with it remains, so destroying the stage schedules its deletion (after the 7-day
            # waiting period KMS imposes) instead of leaving a key billed at $1 a month.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # CloudWatch publishes alarm state changes; without these it silently delivers nothing
        # to a topic encrypted with a customer-managed key.
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        ))
        self.topic = sns.Topic(
            self, "AlarmTopic",
            display_name=f"Sleep Advisor {stage} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[self.topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        ))
        if alarm_email:
            email = subscriptions.EmailSubscription(alarm_email)
            self.topic.add_subscription(email)
            acknowledge(
                self.topic.node.find_child(alarm_email), "Serverless::Serverless-SNSRedrivePolicy",
                "An e-mail subscription: SNS retries delivery itself, and the alarm's state stays "
                "visible in CloudWatch and Slack, so a dead-letter queue would only duplicate it.",
            )

        self.slack_channel: chatbot.SlackChannelConfiguration | None = None
        if slack_workspace_id and slack_channel_id:
            self.slack_channel = self._slack_channel(stage, slack_workspace_id, slack_channel_id)
        else:
            Annotations.of(self).add_warning_v2(
                f"{contract.SERVICE_NAME}:no-slack",
                "Slack alerts are off: pass -c slack_workspace_id=T... -c slack_channel_id=C... "
                "(after authorising the workspace in the AWS Chatbot console) to post alarms "
                "to Slack. Alarms still go to the SNS topic"
                + (" and e-mail." if alarm_email else "; -c alarm_email=... adds e-mail."),
            )

    def _slack_channel(
        self, stage: str, workspace_id: str, channel_id: str
    ) -> chatbot.SlackChannelConfiguration:
        read_only = iam.PolicyStatement(actions=CHATBOT_READ_ACTIONS, resources=["*"])
        # Without guardrails the channel role would be capped by AdministratorAccess.
        guardrail = iam.ManagedPolicy(
            self, "ChatbotGuardrail",
            description="Most a Slack user can do through AWS Chatbot: read alarms and metrics",
            statements=[read_only],
        )
        role = iam.Role(
            self, "ChatbotRole",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description="AWS Chatbot renders Sleep Advisor alarms with their metric charts",
        )
        role.add_to_policy(read_only)
        reason = (
            "CloudWatch's Describe/Get/List actions for alarms and metrics do not support "
            "resource-level permissions; the actions are read-only."
        )
        acknowledge(guardrail, "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason)
        acknowledge(role, "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason)
        return chatbot.SlackChannelConfiguration(
            self, "SlackChannel",
            slack_channel_configuration_name=contract.resource_name(stage, "alarms"),
            slack_workspace_id=workspace_id,
            slack_channel_id=channel_id,
            notification_topics=[self.topic],
            guardrail_policies=[guardrail],
            role=role,
            logging_level=chatbot.LoggingLevel.ERROR,
            user_role_required=False,
        )
