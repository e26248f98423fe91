"""The hourly drift check: the function's aggregate lines against the model's training baseline.

A function from the service's own image (chalicelib/drift_check.py, so the baseline is the
shipped model's), run by an EventBridge schedule at 05 past every hour (its metric), and when
the drift alarm goes to ALARM (its message to on-call). It may read only the
service function's log group (FilterLogEvents), write only its own log group (where its one
metric, DriftScore, is an Embedded Metric Format line: no CloudWatch permission) and publish
only to the alerts topic. The alarms on its metric and on its own failures are Monitoring's.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from chalicelib import contract
from chalicelib.drift_check import LOG_GROUP_VARIABLE, WINDOW_HOURS
from sleep_advisor_infra.function import FunctionImage, own_logs_and_role
from sleep_advisor_infra.nag import acknowledge
from sleep_advisor_infra.rollout import may_publish_to

DRIFT_CHECK_COMMAND = "chalicelib.drift_check.handler"
# After the hour, so the hour's last aggregate lines have been ingested.
SCHEDULE_MINUTE = "5"


class DriftCheck(Construct):
    """Attributes: `function`, `log_group`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, function_image: FunctionImage,
        metrics_namespace: str, topic: sns.ITopic, topic_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group, role = own_logs_and_role(
            self, "Check", log_retention,
            "Drift check: read the function's log, write its own, tell the alerts topic")
        service_log = function_image.log_group
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadOnlyTheServiceLog",
            actions=["logs:FilterLogEvents"],
            # The log group's Arn attribute ends in ":*", the form CloudWatch Logs authorises
            # log-group actions against.
            resources=[service_log.log_group_arn],
        ))
        # The function's own image: the baseline is the shipped model's.
        self.function = function_image.with_command(
            self, "Function", command=DRIFT_CHECK_COMMAND,
            # Unnamed (CloudFormation names it), so that a change that replaces it can deploy;
            # the stack's DriftCheckName output says which it is.
            description=f"Hourly: the last {WINDOW_HOURS} h of the service's night aggregates "
                        "against the model's training baseline",
            memory_size=512,
            timeout=Duration.minutes(2),
            environment={
                LOG_GROUP_VARIABLE: service_log.log_group_name,
                contract.ALERTS_TOPIC_VARIABLE: topic.topic_arn,
                contract.STAGE_VARIABLE: stage,
                contract.METRICS_NAMESPACE_VARIABLE: metrics_namespace,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            role=role,
            log_group=self.log_group,
        )
        may_publish_to(self.function, role, topic, topic_key, "PublishTheDriftMessage")
        # An hourly run that fails is not retried, nor one that waited too long: the next hour's
        # reads the same lines, and a run hours late would stamp its datapoint hours late.
        # Its errors raise the drift-check alarm.
        self.function.configure_async_invoke(retry_attempts=0,
                                             max_event_age=Duration.minutes(15))
        acknowledge(
            self.function.node.find_child("EventInvokeConfig"),
            "Serverless::Serverless-LambdaAsyncFailureDestination",
            "A failed run is counted in the function's Errors, which the drift-check-failed "
            "alarm reads; its event holds only the scheduled time, which the next run covers.",
        )
        acknowledge(
            self.function, "Serverless::Serverless-LambdaDLQ",
            f"Each run reads the last {WINDOW_HOURS} h again: a lost run is made good by the "
            "next one, an hour later, and a failing one raises the drift-check alarm.",
        )
        rule = events.Rule(
            self, "Schedule",
            description="Every hour: the drift check",
            schedule=events.Schedule.cron(minute=SCHEDULE_MINUTE),
            targets=[self._target()],
        )
        acknowledge(
            rule, "Serverless::Serverless-EventBusDLQ",
            "A missed hourly event is made good by the next one, which reads the same lines.",
        )

    def _target(self) -> targets.LambdaFunction:
        # EventBridge's own retries cover handing the event to Lambda only; with Lambda's
        # 15 minutes, a run starts at most 20 minutes late or not at all.
        return targets.LambdaFunction(self.function, retry_attempts=2,
                                      max_event_age=Duration.minutes(5))

    def explain(self, alarm: cloudwatch.IAlarm) -> None:
        """Run the check when `alarm` (the drift alarm) goes to ALARM: its message to on-call,
        naming the features, then comes with the alarm's own, once per transition."""
        rule = events.Rule(
            self, "AlarmExplained",
            description="The drift alarm went to ALARM: the drift check names the features",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"], detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn], detail={"state": {"value": ["ALARM"]}}),
            targets=[self._target()],
        )
        acknowledge(
            rule, "Serverless::Serverless-EventBusDLQ",
            "CloudWatch guarantees alarm state changes to EventBridge; should the message "
            "still not arrive, the alarm's own notification has reached on-call.",
        )
