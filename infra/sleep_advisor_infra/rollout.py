"""Safe rollouts: every deploy publishes a version behind the `live` alias and CodeDeploy shifts
traffic to it, after a golden check and under the new version's own alarms.

Chalice has no versions, aliases or traffic shifting; the SAM template its CDK integration
generates does (AutoPublishAlias, DeploymentPreference). SAM turns these properties into a
Lambda::Version, a Lambda::Alias whose UpdatePolicy hands the update to CodeDeploy, and a
CodeDeploy application and deployment group. Names that exist only after the SAM transform
(`APIHandler.Version`, `APIHandler.Alias`, the deployment group) are written as SAM's own
references, which it resolves in every resource of the template.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from chalicelib import contract
from chalicelib.metadata import ModelMetadata
from chalicelib.pre_traffic_hook import NEW_VERSION_VARIABLE, STAGE_VARIABLE, TOPIC_VARIABLE
from sleep_advisor_infra.chalice_app import FUNCTION_ID, LIVE_ALIAS, VERSION_REF, ChaliceApp
from sleep_advisor_infra.function import FunctionImage, own_logs_and_role
from sleep_advisor_infra.nag import acknowledge

# The alias's own logical id, as SAM names it: SAM resolves `APIHandler.Alias` in most places
# but not inside an API's DefinitionBody, where API Gateway's integration URI lives.
ALIAS_ID = f"{FUNCTION_ID}Alias{LIVE_ALIAS}"
DEPLOYMENT_APPLICATION = "ServerlessDeploymentApplication"
DEPLOYMENT_GROUP = f"{FUNCTION_ID}DeploymentGroup"
HOOK_COMMAND = "chalicelib.pre_traffic_hook.handler"
HOOK_FAILURE_SOURCE = Path(__file__).resolve().parent / "hook_failure"


def deployment_group_arn() -> str:
    """The deployment group SAM generates for the function (a SAM reference until transform)."""
    return Fn.sub("arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:"
                  f"deploymentgroup:${{{DEPLOYMENT_APPLICATION}}}/${{{DEPLOYMENT_GROUP}}}")


class Rollout(Construct):
    """`alarms` are the ones CodeDeploy watches while it shifts traffic (Monitoring's rollout
    alarms). Attributes: `hook`, `deployment_role`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, app: ChaliceApp,
        function_image: FunctionImage, model: ModelMetadata, alarms: dict[str, cloudwatch.IAlarm],
        topic: sns.ITopic, topic_key: kms.IKey, preference: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self._function_name = app.function_name
        self.alarms = alarms
        self.hook = self._hook(function_image, topic, topic_key, log_retention)
        self.deployment_role = self._deployment_role()
        app.set_function_property("AutoPublishAlias", LIVE_ALIAS)
        # A new version exactly when a version-locked property or the image changes: never an
        # old configuration behind the alias, and never a version of an unchanged function
        # (Lambda refuses to publish one: "A version for this Lambda function exists"), which
        # AutoPublishAliasAllProperties asks for when only reserved concurrency or a tag changed.
        app.set_function_property("AutoPublishCodeSha256", app.version_fingerprint())
        # SAM retains old versions by default, so a version a rolled-back deploy published stays
        # in Lambda; retrying the same commit would then ask Lambda to publish it again, which
        # it refuses. Deleted, CloudFormation removes it with the rollback (and old versions
        # once a rollout succeeds: rolling back after that means deploying the older commit).
        app.set_function_property("VersionDeletionPolicy", "Delete")
        app.set_function_property("DeploymentPreference", {
            "Type": preference,
            "Role": self.deployment_role.role_arn,
            "Alarms": [alarm.alarm_name for alarm in self.alarms.values()],
            "Hooks": {"PreTraffic": self.hook.function_name},
        })
        app.route_to(ALIAS_ID)
        # The SNS target also lets EventBridge use the topic's key (CDK adds that statement).
        self._notify_state_changes(model, topic)

    # The golden check before any traffic --------------------------------------------------

    def _hook(self, function_image: FunctionImage, topic: sns.ITopic, topic_key: kms.IKey,
              log_retention: logs.RetentionDays) -> lambda_.DockerImageFunction:
        log_group, role = own_logs_and_role(
            self, "Hook", log_retention,
            "Pre-traffic hook: invoke this function's versions, report to CodeDeploy")
        # The function's own image: the golden answers expected are the new model's.
        hook = function_image.with_command(
            self, "PreTrafficHook", command=HOOK_COMMAND,
            # Named, so the deployment role can name it without depending on it (that would
            # be a cycle: hook policy -> deployment group -> deployment role -> hook).
            function_name=contract.resource_name(self._stage, "pre-traffic"),
            description="CodeDeploy pre-traffic hook: the new version must give the model's "
                        "golden answers through /predict",
            memory_size=256,
            # Ten golden questions at up to API Gateway's 29 s each, plus the report.
            timeout=Duration.minutes(6),
            environment={
                NEW_VERSION_VARIABLE: Fn.ref(VERSION_REF),
                TOPIC_VARIABLE: topic.topic_arn,
                STAGE_VARIABLE: self._stage,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            role=role,
            log_group=log_group,
        )
        hook.add_to_role_policy(iam.PolicyStatement(
            sid="InvokeOnlyThisFunctionsVersions",
            actions=["lambda:InvokeFunction"],
            resources=[Fn.sub("${" + FUNCTION_ID + ".Arn}:*")],
        ))
        hook.add_to_role_policy(iam.PolicyStatement(
            sid="ReadAndReportOnlyThisDeploymentGroup",
            # GetDeployment: the deployment names the version it shifts traffic to.
            actions=["codedeploy:GetDeployment",
                     "codedeploy:PutLifecycleEventHookExecutionStatus"],
            resources=[deployment_group_arn()],
        ))
        # CodeDeploy invokes the hook asynchronously and waits up to an hour for its report. A
        # hook that cannot report (its image fails to start, it runs out of memory or time)
        # is reported Failed by a small zip function at once, with no retry of the hook.
        reporter = self._failure_reporter(topic, topic_key, log_retention)
        hook.configure_async_invoke(
            on_failure=destinations.LambdaDestination(reporter), retry_attempts=0,
            max_event_age=Duration.minutes(15))
        acknowledge(
            role, "AwsSolutions::AwsSolutions-IAM5[Resource::<"
            f"{Stack.of(self).get_logical_id(reporter.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "Lambda invokes a failure destination with the hook's role; CDK's grant covers the "
            "reporter function and its versions, one function of this stack.",
        )
        may_publish_to(hook, role, topic, topic_key)
        acknowledge(
            role, f"AwsSolutions::AwsSolutions-IAM5[Resource::<{FUNCTION_ID}.Arn>:*]",
            "Every version of this one function: the version to check is published in the "
            "same deployment, so its number is not known when the policy is written.",
        )
        acknowledge(
            hook, "Serverless::Serverless-LambdaDLQ",
            "CodeDeploy waits for the hook's report and fails the deployment without one; a "
            "dead-letter queue would hold an event nobody can replay into that deployment.",
        )
        return hook

    def _failure_reporter(self, topic: sns.ITopic, topic_key: kms.IKey,
                          log_retention: logs.RetentionDays) -> lambda_.Function:
        log_group, role = own_logs_and_role(
            self, "HookFailure", log_retention,
            "Pre-traffic hook's failure destination: report Failed to CodeDeploy")
        reporter = lambda_.Function(
            self, "HookFailureReporter",
            description="Reports Failed to CodeDeploy when the pre-traffic hook ends unreported",
            runtime=lambda_.Runtime.PYTHON_3_14, handler="index.handler",
            code=lambda_.Code.from_asset(str(HOOK_FAILURE_SOURCE)),
            memory_size=256, timeout=Duration.seconds(30),
            environment={TOPIC_VARIABLE: topic.topic_arn, STAGE_VARIABLE: self._stage},
            role=role, log_group=log_group, logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )
        reporter.add_to_role_policy(iam.PolicyStatement(
            sid="ReportOnlyThisDeploymentGroup",
            actions=["codedeploy:PutLifecycleEventHookExecutionStatus"],
            resources=[deployment_group_arn()],
        ))
        may_publish_to(reporter, role, topic, topic_key)
        acknowledge(
            reporter, "Serverless::Serverless-LambdaDLQ",
            "It is itself the hook's failure destination; if it fails too, CodeDeploy's own "
            "one-hour hook timeout still fails the deployment.",
        )
        return reporter

    def _deployment_role(self) -> iam.Role:
        """CodeDeploy's role: shift this alias, read the rollout alarms, invoke the hook.

        SAM's default role carries AWSCodeDeployRoleForLambda, which may invoke only functions
        named CodeDeployHook_* (serverless-application-model issues 219 and 250) and reads
        every alarm and alias in the account; this one names its hook and its alias.
        """
        hook_arn = Fn.sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:"
                          "function:" + contract.resource_name(self._stage, "pre-traffic"))
        role = iam.Role(
            self, "DeploymentRole",
            assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
            description="CodeDeploy: shift the live alias, read the rollout alarms, run the hook",
        )
        role.add_to_policy(iam.PolicyStatement(
            sid="ShiftTheLiveAlias",
            actions=["lambda:GetAlias", "lambda:UpdateAlias",
                     "lambda:GetProvisionedConcurrencyConfig"],
            # Lambda's permission table lists the alias actions under the function resource:
            # the unqualified ARN as well as the alias's.
            resources=[Fn.get_att(FUNCTION_ID, "Arn").to_string(),
                       Fn.sub("${" + FUNCTION_ID + ".Arn}:" + LIVE_ALIAS)],
        ))
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadTheRolloutAlarms", actions=["cloudwatch:DescribeAlarms"],
            # A pattern, not this deploy's alarm ARNs: each version has alarms of its own, and
            # nothing orders this policy's update before CodeDeploy starts reading them (a
            # deployment that cannot read its alarms stops).
            resources=[Fn.sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:"
                              f"alarm:{contract.resource_name(self._stage, 'rollout-')}*")],
        ))
        acknowledge(
            role, "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:"
            f"<AWS::Region>:<AWS::AccountId>:alarm:{contract.resource_name(self._stage, 'rollout-')}*]",
            "This stage's rollout alarms, whose names end in each version's fingerprint: a "
            "pattern keeps CodeDeploy able to read the new ones however CloudFormation orders "
            "the update.",
        )
        role.add_to_policy(iam.PolicyStatement(
            sid="RunThePreTrafficHook", actions=["lambda:InvokeFunction"], resources=[hook_arn],
        ))
        return role

    # On-call sees every rollout -----------------------------------------------------------

    def _notify_state_changes(self, model: ModelMetadata, topic: sns.ITopic) -> None:
        """CodeDeploy's state changes for this deployment group, as Slack messages.

        EventBridge reshapes each event into an Amazon Q Developer (Chatbot) custom notification
        naming the stage and the model version; messages of one deployment share a thread,
        where the hook's failure report and any rollout alarm also land.
        """
        state = events.EventField.from_path("$.detail.state")
        deployment = events.EventField.from_path("$.detail.deploymentId")
        what = f"{contract.SERVICE_NAME} {self._stage}: rollout of model {model.name} {model.version}"
        rule = events.Rule(
            self, "DeploymentStateChanges",
            description=f"{what}: every state change to Slack",
            event_pattern=events.EventPattern(
                source=["aws.codedeploy"],
                detail_type=["CodeDeploy Deployment State-change Notification"],
                detail={"application": [Fn.ref(DEPLOYMENT_APPLICATION)],
                        "deploymentGroup": [Fn.ref(DEPLOYMENT_GROUP)]},
            ),
        )
        acknowledge(
            rule, "Serverless::Serverless-EventBusDLQ",
            "EventBridge retries delivery to the topic for 24 hours; a state change that still "
            "fails to arrive is in CodeDeploy's deployment history, and a rollback's cause "
            "also reaches Slack through the rollout alarm or the hook's own report.",
        )
        rule.add_target(targets.SnsTopic(topic, message=events.RuleTargetInput.from_object({
            "version": "1.0",
            "source": "custom",
            "id": deployment,
            "content": {
                "textType": "client-markdown",
                "title": f"{what}: {state}",
                "description": (
                    f"CodeDeploy deployment {deployment} is {state}. START: the golden check "
                    "runs, then traffic shifts to the new version. SUCCESS: all traffic is on "
                    "it. FAILURE or STOP: traffic is back on the previous version; a failed "
                    "golden check posts its report with this deployment's thread id, and "
                    "CodeDeploy's deployment history names the rollout alarm that stopped it."),
            },
            "metadata": {"threadId": deployment, "eventType": state},
        })))


def may_publish_to(function: lambda_.Function, role: iam.Role, topic: sns.ITopic,
                   topic_key: kms.IKey, sid: str = "PublishTheFailureReport") -> None:
    """Publish to the alerts topic, written out rather than topic.grant_publish, whose key grant
    uses a wildcard action: what SNS needs of a publisher to an encrypted topic, no more."""
    function.add_to_role_policy(iam.PolicyStatement(
        sid=sid, actions=["sns:Publish"], resources=[topic.topic_arn],
    ))
    function.add_to_role_policy(iam.PolicyStatement(
        sid="EncryptForTheAlertsTopic", actions=["kms:GenerateDataKey", "kms:Decrypt"],
        resources=[topic_key.key_arn],
    ))
    acknowledge(
        role, "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
        "permissions (Lambda adds them for active tracing).",
    )
