"""One dashboard and the alarms for a stage, from what the function and Lambda really write.

Every alarm reads a metric: AWS's own, or the one custom metric the function writes
(PredictionProbability, by chalicelib.contract). A series that only the dashboard draws (class
mix, inference time, model load, memory, initialisation, cold starts, rejections) is a Logs
Insights query over the JSON log lines already in the function's log group: the function's own
and Lambda's `platform.report` lines. A custom metric or metric filter costs $0.30 a month each;
a query costs only the log bytes it scans when someone opens the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from chalicelib import contract
from chalicelib.drift import ANSWERS, MODERATE_SHIFT, SIGNIFICANT_SHIFT
from chalicelib.drift_check import ALARM_DATAPOINTS, ALARM_PERIODS
from chalicelib.metadata import ModelMetadata
from sleep_advisor_infra.chalice_app import LIVE_ALIAS, VERSION_REF

OBJECTIVE_MS = contract.LATENCY_OBJECTIVE_MS
LATENCY_ALARM_MS = 8_000  # "approaching" the objective
# Tuned by replaying simulated weeks through CloudWatch's rules (benchmarks/alarm_replay.py;
# docs/monitoring.md, "Alarm replay", has the figures before and after).
#
# The service's alarms judge one-minute periods, M of the last N: CloudWatch evaluates every
# minute, so one-minute periods are the same blocks at every evaluation, and "M of N" holds
# an alarm in ALARM until the fault has been gone for N minutes (one page and one OK per
# fault, where a single five-minute period would flicker with each minute's new boundaries).
ONE_MINUTE = Duration.minutes(1)
# Failures: a minute with at least 2 % of its invocations failed, twice in an hour. At a beta
# peak (26 requests a minute) one failure is 4 %; two minutes with failures within an hour are
# what a fault does, and what the background (about one failed invocation a week: a platform
# fault, a container that dies) almost never does: the replay's variant that pages on one
# failure pages at night for that background. The hour keeps a fault that fails a request
# every quarter of an hour (a bad version at night) in one ALARM instead of several.
ERROR_RATE_PERCENT = 2
API_5XX_PERCENT = 2
FAILED_MINUTES, FAILURE_WINDOW_MINUTES = 2, 60
# Latency: a minute whose p99 reaches the alarm line, twice in 30 minutes (one slow cold
# start is not a trend).
SLOW_MINUTES, SLOW_WINDOW_MINUTES = 2, 30
# Throttles: any, and OK after 15 minutes without.
THROTTLE_WINDOW_MINUTES = 15
# Confidence: a minute with at least MIN_ANSWERS answers whose average is below the line,
# three times in an hour. A quiet night has such a minute only when a week of nights comes
# in one request; the hour gives the alarm enough of them, and minutes with fewer answers
# have no datapoint (one user's uncertain nights are not the model's health).
MIN_ANSWERS = 3
UNSURE_MINUTES, UNSURE_WINDOW_MINUTES = 3, 60
# The silence a quiet beta hour does not have: the quietest minute sees under half a request,
# and the replay's 15- and 20-minute variants page for nothing in quiet hours
# (docs/monitoring.md has their figures).
SILENT_PERIOD = Duration.minutes(30)
FIVE_MINUTES = Duration.minutes(5)
# The rollout alarms' windows: short enough to fire, and to be acted on, within a 10-minute
# canary (CloudWatch evaluates a 1-minute alarm about a minute after the minute ends).
ROLLOUT_ERRORS_PERIOD = Duration.minutes(1)
# The rollout's confidence: two judged minutes below the line within its ten.
ROLLOUT_UNSURE_MINUTES, ROLLOUT_UNSURE_WINDOW_MINUTES = 2, 10
# The rollout alarms' logical ids from when the Rollout construct created them.
ROLLOUT_ALARM_IDS = {
    "rollout-errors": "RolloutAlarmrollouterrorsE7F79F22",
    "rollout-low-probability": "RolloutAlarmrolloutlowprobability0EBACB76",
}
GREATER_OR_EQUAL = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
LESS = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
# Lambda's report after each invocation, in the function's log group with the JSON log format;
# only a cold start's report has initDurationMs.
PLATFORM_REPORT = 'type = "platform.report"'
COLD_START_REPORT = f"{PLATFORM_REPORT} and ispresent(record.metrics.initDurationMs)"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: what it reads, when it fires, and the runbook line on-call reads in Slack."""

    metric: cloudwatch.IMetric
    threshold: float
    comparison: cloudwatch.ComparisonOperator
    evaluation_periods: int
    treat_missing_data: cloudwatch.TreatMissingData
    description: str
    datapoints_to_alarm: int | None = None


def alarms_from(scope: Construct, stage: str, specs: dict[str, AlarmSpec], *,
                topic: sns.ITopic | None, name_suffix: str = "") -> dict[str, cloudwatch.Alarm]:
    """One alarm per spec, named sleep-advisor-<stage>-<short name>[-<suffix>], notifying
    `topic` on ALARM and on OK (on-call sees recoveries too), or nobody without one."""
    alarms = {}
    for short_name, spec in specs.items():
        alarm = cloudwatch.Alarm(
            scope, f"Alarm-{short_name}",
            alarm_name=contract.resource_name(stage, short_name) + name_suffix,
            alarm_description=spec.description,
            metric=spec.metric,
            threshold=spec.threshold,
            comparison_operator=spec.comparison,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=spec.treat_missing_data,
        )
        if topic is not None:
            alarm.add_alarm_action(actions.SnsAction(topic))
            alarm.add_ok_action(actions.SnsAction(topic))
        alarms[short_name] = alarm
    return alarms


@dataclass(frozen=True)
class LogQuery:
    """A Logs Insights query over the function's log group, as the dashboard draws it."""

    filter: str
    stats: str
    width: int = 8
    view: cloudwatch.LogQueryVisualizationType = cloudwatch.LogQueryVisualizationType.LINE
    # Another log group than the function's (the drift check's).
    log_group: logs.ILogGroup | None = None

    @property
    def lines(self) -> list[str]:
        return [f"filter {self.filter}", f"stats {self.stats}"]


class Monitoring(Construct):
    """Every alarm and widget of a stage; `version_fingerprint` names the version being deployed
    (ChaliceApp.version_fingerprint). Attributes: `dashboard` (None when the stage goes
    without), `alarms` (the service's, by short name), `rollout_alarms` (the ones CodeDeploy
    watches during a rollout, for Rollout), `log_queries` (by title, each also saved in the
    account: free, and there without the dashboard).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, function_name: str,
        function_log_group: logs.ILogGroup, api_name: str, api_stage_name: str,
        metrics_namespace: str, model: ModelMetadata, topic: sns.ITopic,
        version_fingerprint: str, drift_check_name: str, drift_log_group: logs.ILogGroup,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self._function_name = function_name
        self._function_log_group = function_log_group
        self._api_name, self._api_stage_name = api_name, api_stage_name
        self._namespace = metrics_namespace
        self._model = model
        self._drift_check_name, self._drift_log_group = drift_check_name, drift_log_group
        # What users reach: the alias API Gateway invokes, whichever version it points to.
        self._alias_dimensions = {"FunctionName": function_name,
                                  "Resource": f"{function_name}:{LIVE_ALIAS}"}
        self._probability_dimensions = {contract.SERVICE_DIMENSION: contract.SERVICE_NAME,
                                        contract.MODEL_VERSION_DIMENSION: model.version}
        # The model's own threshold, or the default for its number of classes (metadata.py).
        self.low_probability = model.low_probability_threshold
        self.alarms = self._alarms(topic)
        self.rollout_alarms = self._rollout_alarms(version_fingerprint)
        self.log_queries = self._log_queries()
        for title, query in self.log_queries.items():
            logs.QueryDefinition(
                self, f"Query-{title}",
                query_definition_name=f"{contract.resource_name(stage)}/{title}",
                query_string=logs.QueryString(
                    filter_statements=[query.filter], stats_statements=[query.stats]),
                log_groups=[query.log_group or function_log_group],
            )
        self.dashboard = self._dashboard() if dashboard else None

    @property
    def _classes_title(self) -> str:
        return f"Answers per class: {self._model.name}"

    @property
    def _drift_title(self) -> str:
        return f"Drift per feature (PSI against training): {self._model.name}"

    # Metrics -------------------------------------------------------------------------------

    def lambda_metric(self, name: str, statistic: str, label: str | None = None,
                      period: Duration = FIVE_MINUTES) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/Lambda", metric_name=name, statistic=statistic, period=period,
            dimensions_map=self._alias_dimensions, label=label,
        )

    def api_metric(self, name: str, statistic: str, label: str | None = None,
                   period: Duration = FIVE_MINUTES) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway", metric_name=name, statistic=statistic, period=period,
            dimensions_map={"ApiName": self._api_name, "Stage": self._api_stage_name},
            label=label,
        )

    def prediction_probability(self, statistic: str, label: str | None = None,
                               period: Duration = FIVE_MINUTES,
                               function_version: str | None = None) -> cloudwatch.Metric:
        """The one custom metric, as the function writes it for this model's answers (and, in
        its second dimension set, by the Lambda version that answered)."""
        dimensions = dict(self._probability_dimensions)
        if function_version is not None:
            dimensions[contract.FUNCTION_VERSION_DIMENSION] = function_version
        return cloudwatch.Metric(
            namespace=self._namespace, metric_name=contract.PREDICTION_PROBABILITY,
            statistic=statistic, period=period, label=label, dimensions_map=dimensions)

    def confident_enough(self, function_version: str | None = None) -> cloudwatch.MathExpression:
        """The answers' average probability per minute, and no datapoint with fewer than
        MIN_ANSWERS answers: one user's week of uncertain nights is not a model that lost
        its confidence."""
        return cloudwatch.MathExpression(
            expression=f"IF(answers >= {MIN_ANSWERS}, probability)",
            using_metrics={
                "answers": self.prediction_probability(
                    "SampleCount", period=ONE_MINUTE, function_version=function_version),
                "probability": self.prediction_probability(
                    "Average", period=ONE_MINUTE, function_version=function_version)},
            label=f"Average probability (from {MIN_ANSWERS} answers)", period=ONE_MINUTE)

    def drift_score(self, label: str | None = None) -> cloudwatch.Metric:
        """The drift check's metric: the largest PSI of any feature or of the answer mix."""
        return cloudwatch.Metric(
            namespace=self._namespace, metric_name=contract.DRIFT_SCORE, statistic="Maximum",
            period=Duration.hours(1), dimensions_map=self._probability_dimensions, label=label)

    def query_widget(self, title: str) -> cloudwatch.LogQueryWidget:
        query = self.log_queries[title]
        return cloudwatch.LogQueryWidget(
            title=title, width=query.width, height=6, view=query.view,
            log_group_names=[(query.log_group or self._function_log_group).log_group_name],
            query_lines=query.lines,
        )

    # Alarms --------------------------------------------------------------------------------

    def _alarms(self, topic: sns.ITopic) -> dict[str, cloudwatch.Alarm]:
        invocations = self.lambda_metric("Invocations", "Sum", period=ONE_MINUTE)
        errors = self.lambda_metric("Errors", "Sum", period=ONE_MINUTE)
        throttles = self.lambda_metric("Throttles", "Sum", period=ONE_MINUTE)
        # While a deploy shifts traffic, the version being deployed serves part of it and its
        # failures are the rollout alarms' (CodeDeploy rolls it back and says so): counted here
        # too, one bad canary would page twice. Once it serves everything it is the live version,
        # and all failures count again. A version that fails only in the canary's last minute,
        # after CodeDeploy last read its alarms (Lambda's metrics can arrive minutes late), is
        # counted by neither; one that keeps failing is counted from the full shift on.
        deployed = {**self._alias_dimensions,
                    "ExecutedVersion": Fn.get_att(VERSION_REF, "Version").to_string()}
        deployed_invocations, deployed_errors = (
            cloudwatch.Metric(namespace="AWS/Lambda", metric_name=name, statistic="Sum",
                              period=ONE_MINUTE, dimensions_map=deployed)
            for name in ("Invocations", "Errors"))
        error_rate = cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * IF(deployed_invocations < invocations, "
            "errors - deployed_errors, errors) / invocations, 0)",
            using_metrics={"invocations": invocations, "errors": errors,
                           "deployed_invocations": deployed_invocations,
                           "deployed_errors": deployed_errors},
            label="Function error rate (%), the version being rolled out aside",
            period=ONE_MINUTE,
        )
        at_least, below = GREATER_OR_EQUAL, LESS
        quiet_is_fine = cloudwatch.TreatMissingData.NOT_BREACHING
        specs = {
            "function-errors": AlarmSpec(
                error_rate, ERROR_RATE_PERCENT, at_least,
                evaluation_periods=FAILURE_WINDOW_MINUTES, datapoints_to_alarm=FAILED_MINUTES,
                treat_missing_data=quiet_is_fine,
                description=f"Invocations failed in Lambda (crash, timeout or failed "
                f"initialisation): at least {ERROR_RATE_PERCENT}% of a minute's, in "
                f"{FAILED_MINUTES} minutes of the last {FAILURE_WINDOW_MINUTES}. Check first: "
                "the function's log group for 'Model failed to load' or ERROR lines, then the "
                "last deploy (image, model artifact)."),
            "latency-p99": AlarmSpec(
                self.api_metric("Latency", "p99", period=ONE_MINUTE), LATENCY_ALARM_MS, at_least,
                evaluation_periods=SLOW_WINDOW_MINUTES, datapoints_to_alarm=SLOW_MINUTES,
                treat_missing_data=quiet_is_fine,
                description=f"p99 API latency reached {LATENCY_ALARM_MS} ms, close to the "
                f"{OBJECTIVE_MS} ms objective, in {SLOW_MINUTES} minutes of the last "
                f"{SLOW_WINDOW_MINUTES}. "
                "Check first: the dashboard's init duration and cold starts (a burst of new "
                "containers), then X-Ray traces filtered by annotation.model_version."),
            "throttles": AlarmSpec(
                throttles, 1, at_least,
                evaluation_periods=THROTTLE_WINDOW_MINUTES, datapoints_to_alarm=1,
                treat_missing_data=quiet_is_fine,
                description="Lambda throttled invocations: users got errors because concurrency "
                "ran out. Check first: concurrent executions on the dashboard against the "
                "reserved concurrency and the account's limit; raise them or the API throttling."),
            "api-5xx": AlarmSpec(
                # Lambda's failures answer 502 and its throttles 500: those have their own
                # alarms, and counted here too they would page twice for one fault.
                cloudwatch.MathExpression(
                    expression="IF(requests > 0, "
                    "100 * (server_errors - errors - throttles) / requests, 0)",
                    using_metrics={
                        "requests": self.api_metric("Count", "Sum", period=ONE_MINUTE),
                        "server_errors": self.api_metric("5XXError", "Sum", period=ONE_MINUTE),
                        "errors": errors, "throttles": throttles},
                    label="5xx not from Lambda's errors or throttles (%)", period=ONE_MINUTE),
                API_5XX_PERCENT, at_least, evaluation_periods=FAILURE_WINDOW_MINUTES,
                datapoints_to_alarm=FAILED_MINUTES, treat_missing_data=quiet_is_fine,
                description=f"API requests answered 5xx beyond Lambda's own errors and "
                f"throttles: at least {API_5XX_PERCENT}% of a minute's, in {FAILED_MINUTES} "
                f"minutes of the last {FAILURE_WINDOW_MINUTES}. Check first: the function's "
                "ERROR log lines (an exception the app did not handle answers a generic 500), "
                "then API Gateway's access log."),
            "low-probability": AlarmSpec(
                self.confident_enough(),
                self.low_probability, below, evaluation_periods=UNSURE_WINDOW_MINUTES,
                datapoints_to_alarm=UNSURE_MINUTES,
                # A minute with too few answers has no datapoint and says nothing either way:
                # with none in its range the alarm keeps its state (no predictions at all is
                # the silence alarm's).
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
                description=f"Model {self._model.name} {self._model.version}: the average "
                f"probability of its answers fell below {self.low_probability} in "
                f"{UNSURE_MINUTES} minutes of the last hour (minutes with at least "
                f"{MIN_ANSWERS} answers): "
                "it is unsure about what users send, a sign of drift or of a client sending "
                f"other units. Check first: '{self._classes_title}' for a shifted mix, then "
                "rejected requests and the app release notes."),
            "input-drift": AlarmSpec(
                # The check writes no datapoint below the moderate band or without enough
                # nights: neither is drift, and each hour without one is read as 0. (Missing
                # data alone would not do: while older datapoints are in its evaluation range,
                # CloudWatch judges by the most recent one it has, so the alarm would stay in
                # ALARM for hours after the drift ended.)
                cloudwatch.MathExpression(
                    expression="FILL(drift, 0)", using_metrics={"drift": self.drift_score()},
                    label="Largest PSI, 0 in hours without a datapoint",
                    period=Duration.hours(1)),
                SIGNIFICANT_SHIFT, at_least, evaluation_periods=ALARM_PERIODS,
                datapoints_to_alarm=ALARM_DATAPOINTS, treat_missing_data=quiet_is_fine,
                description=f"Model {self._model.name} {self._model.version}: the nights users "
                f"send moved away from its training data (PSI at least {SIGNIFICANT_SHIFT} for a "
                f"feature or the answer mix in {ALARM_DATAPOINTS} of the last {ALARM_PERIODS} "
                "hours). The drift check's message in this channel names the features and "
                "their shares. Check first: a client release (units or "
                "defaults: one feature in its lowest or highest bin), then a new user group "
                "(several features and the class mix together), then whether to retrain "
                "(`make drift-report` on an export of recent requests)."),
            "drift-check-failed": AlarmSpec(
                cloudwatch.Metric(namespace="AWS/Lambda", metric_name="Errors", statistic="Sum",
                                  period=Duration.hours(1),
                                  dimensions_map={"FunctionName": self._drift_check_name}),
                1, at_least, evaluation_periods=3, datapoints_to_alarm=2,
                treat_missing_data=quiet_is_fine,
                description="The hourly drift check failed in 2 of the last 3 hours: input "
                "drift is not being watched. Check first: the check's log group for its ERROR "
                "line (a missing permission, the service's log group renamed), then its last "
                "deploy."),
            "no-traffic": AlarmSpec(
                # API Gateway publishes no Count datapoint for a period without requests. FILL
                # makes that silence a 0 the alarm judges at once: left missing, CloudWatch
                # would judge by the older real datapoints still in its evaluation range.
                cloudwatch.MathExpression(
                    expression="FILL(requests, 0)",
                    using_metrics={"requests": self.api_metric("Count", "Sum",
                                                               period=SILENT_PERIOD)},
                    label="API requests, 0 without any", period=SILENT_PERIOD),
                1, below, evaluation_periods=1,
                # Nothing at all in the range (a new stage) is silence too.
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
                description=f"No API request for {SILENT_PERIOD.to_minutes()} minutes, which "
                "even the quietest night does not have. Check first: /health from outside, the "
                "app's API URL and Cognito sign-in, then API Gateway's access log for 4xx from "
                "every client."),
        }
        return alarms_from(self, self._stage, specs, topic=topic)

    def _rollout_alarms(self, version_fingerprint: str) -> dict[str, cloudwatch.Alarm]:
        """The alarms CodeDeploy watches while it shifts traffic to a new version (Rollout hands
        them to the deployment preference): that version's errors and its answers' confidence.

        They judge the version being deployed and nothing else (its ExecutedVersion for errors,
        its FunctionVersion for the answers). They notify nobody: CodeDeploy's own FAILURE
        reaches Slack, and between rollouts they watch the live version, which the service's
        alarms already cover, so they can never page. And a deploy can never start with them in
        ALARM: each version gets alarms of its own (the name ends in the version's fingerprint),
        which CloudFormation creates new (INSUFFICIENT_DATA) rather than updating an old one,
        which PutMetricAlarm would leave in its state.
        """
        version = Fn.get_att(VERSION_REF, "Version").to_string()
        new_version_errors = cloudwatch.Metric(
            namespace="AWS/Lambda", metric_name="Errors", statistic="Sum",
            period=ROLLOUT_ERRORS_PERIOD,
            # Lambda's dimensions for an invocation through an alias, per executed version.
            dimensions_map={**self._alias_dimensions, "ExecutedVersion": version},
        )
        new_version_probability = self.confident_enough(function_version=version)
        model = self._model
        # No traffic to the new version yet is not a failure.
        quiet_is_fine = cloudwatch.TreatMissingData.NOT_BREACHING
        specs = {
            "rollout-errors": AlarmSpec(
                new_version_errors, 1, GREATER_OR_EQUAL, evaluation_periods=1,
                treat_missing_data=quiet_is_fine,
                description="The version being rolled out failed a request (an unhandled error, "
                "a timeout or a crash) in the last minute; CodeDeploy rolls it back and says so "
                "in Slack. Check first: the function's ERROR log lines with that version's "
                "function_request_id, then `make check-model` and the tests on the commit you "
                "deployed."),
            "rollout-low-probability": AlarmSpec(
                new_version_probability, model.low_probability_threshold, LESS,
                evaluation_periods=ROLLOUT_UNSURE_WINDOW_MINUTES,
                datapoints_to_alarm=ROLLOUT_UNSURE_MINUTES, treat_missing_data=quiet_is_fine,
                description=f"Model {model.name} {model.version}: the average probability of "
                "the answers of the version being rolled out fell below "
                f"{model.low_probability_threshold} in {ROLLOUT_UNSURE_MINUTES} minutes of the "
                f"last {ROLLOUT_UNSURE_WINDOW_MINUTES} (minutes with at least {MIN_ANSWERS} "
                "answers); CodeDeploy rolls it back and "
                "says so in Slack. Check first: its held-out metrics in metadata.json against "
                "the previous model's, then the class mix."),
        }
        alarms = alarms_from(self, self._stage, specs, topic=None,
                             name_suffix=f"-{version_fingerprint}")
        # Created by the Rollout construct before: their logical ids stay (a new name on the
        # same logical id is a replacement CloudFormation makes new-then-delete).
        for short_name, alarm in alarms.items():
            child = alarm.node.default_child
            assert isinstance(child, cloudwatch.CfnAlarm)
            child.override_logical_id(ROLLOUT_ALARM_IDS[short_name])
        return alarms

    # Dashboard -----------------------------------------------------------------------------

    def _log_queries(self) -> dict[str, LogQuery]:
        prediction = f'message = "{contract.PREDICTION_LOG}"'
        class_counts = ", ".join(f"sum(advice_counts.{c.id}) as {c.id}" for c in self._model.classes)
        return {
            # Lambda's report carries the configured size beside the peak: the limit line.
            "Maximum memory used (MB)": LogQuery(
                PLATFORM_REPORT,
                "max(record.metrics.maxMemoryUsedMB) as max_used_mb,"
                " max(record.metrics.memorySizeMB) as configured_mb by bin(5m)",
            ),
            f"Initialisation (cold-start) duration (ms), objective {OBJECTIVE_MS:,}": LogQuery(
                f'({COLD_START_REPORT}) or message = "{contract.MODEL_LOADED_LOG}"',
                "max(record.metrics.initDurationMs) as init_max_ms,"
                " avg(record.metrics.initDurationMs) as init_avg_ms,"
                " avg(model_load_ms) as model_load_avg_ms by bin(1h)",
            ),
            "Cold starts": LogQuery(COLD_START_REPORT, "count(*) as cold_starts by bin(1h)"),
            "Inference latency (ms)": LogQuery(
                prediction,
                "pct(inference_ms, 50) as p50, pct(inference_ms, 99) as p99 by bin(5m)",
            ),
            "Requests rejected by the function": LogQuery(
                f'message = "{contract.REJECTION_LOG}"', "count(*) as rejected by bin(5m)",
            ),
            self._classes_title: LogQuery(
                prediction, f"{class_counts} by bin(1h)",
                width=24, view=cloudwatch.LogQueryVisualizationType.STACKEDAREA,
            ),
            self._drift_title: LogQuery(
                f'message = "{contract.DRIFT_CHECK_LOG}" and ispresent(largest_distance)',
                ", ".join(f"max(distances.{name}) as {name}" for name in (
                    *self._model.feature_names, ANSWERS)) + " by bin(1h)",
                width=16, log_group=self._drift_log_group,
            ),
        }

    def _dashboard(self) -> cloudwatch.Dashboard:
        objective = cloudwatch.HorizontalAnnotation(
            value=OBJECTIVE_MS, label="10 s objective (NFR-5)",
            color=cloudwatch.Color.RED,
        )
        (memory, initialisation, cold_starts, inference, rejected, class_mix,
         drift_per_feature) = self.log_queries
        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=contract.resource_name(self._stage),
            default_interval=Duration.days(1),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Invocations and errors", width=8,
                left=[self.lambda_metric("Invocations", "Sum", "Invocations"),
                      self.lambda_metric("Errors", "Sum", "Errors")],
            ),
            cloudwatch.GraphWidget(
                title=f"Prediction probability: {self._model.name} {self._model.version}", width=8,
                left=[self.prediction_probability("Average", "Average"),
                      self.prediction_probability("p10", "p10")],
                left_annotations=[cloudwatch.HorizontalAnnotation(
                    value=self.low_probability, label="alarm below",
                    color=cloudwatch.Color.ORANGE)],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
            ),
            self.query_widget(memory),
        )
        dashboard.add_widgets(
            self.query_widget(initialisation),
            cloudwatch.GraphWidget(
                title="Function duration p50 / p90 / p99 (ms)", width=8,
                left=[self.lambda_metric("Duration", p, p) for p in ("p50", "p90", "p99")],
                left_annotations=[objective],
            ),
            cloudwatch.GraphWidget(
                title="API requests, 4xx, 5xx", width=8,
                left=[self.api_metric("Count", "Sum", "Requests"),
                      self.api_metric("4XXError", "Sum", "4xx"),
                      self.api_metric("5XXError", "Sum", "5xx")],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API latency (ms)", width=8,
                left=[self.api_metric("Latency", p, f"Latency {p}") for p in ("p50", "p90", "p99")]
                + [self.api_metric("IntegrationLatency", "p99", "Integration p99")],
                left_annotations=[objective],
            ),
            cloudwatch.GraphWidget(
                title="Throttles and concurrent executions", width=8,
                left=[self.lambda_metric("Throttles", "Sum", "Throttles")],
                right=[self.lambda_metric("ConcurrentExecutions", "Maximum", "Concurrent executions")],
            ),
            self.query_widget(cold_starts),
        )
        dashboard.add_widgets(
            self.query_widget(inference),
            self.query_widget(rejected),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", width=8,
                alarms=[*self.alarms.values(), *self.rollout_alarms.values()],
            ),
        )
        dashboard.add_widgets(self.query_widget(class_mix))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"Input drift: {self._model.name} {self._model.version}", width=8,
                # Every hour's distances are in the per-feature chart beside it.
                left=[self.drift_score("Largest PSI (written from 0.1 up)")],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=MODERATE_SHIFT, label="moderate",
                                                    color=cloudwatch.Color.ORANGE),
                    cloudwatch.HorizontalAnnotation(value=SIGNIFICANT_SHIFT,
                                                    label="significant: alarm",
                                                    color=cloudwatch.Color.RED)],
                left_y_axis=cloudwatch.YAxisProps(min=0),
            ),
            self.query_widget(drift_per_feature),
        )
        dashboard.add_widgets(self._rollout_widget())
        return dashboard

    def _rollout_widget(self) -> cloudwatch.GraphWidget:
        """The canary: the version being deployed against all alias traffic."""
        def alias_metric(name: str, label: str, version: bool) -> cloudwatch.Metric:
            dimensions = dict(self._alias_dimensions)
            if version:
                dimensions["ExecutedVersion"] = Fn.get_att(VERSION_REF, "Version").to_string()
            return cloudwatch.Metric(namespace="AWS/Lambda", metric_name=name, statistic="Sum",
                                     period=ROLLOUT_ERRORS_PERIOD, dimensions_map=dimensions,
                                     label=label)

        return cloudwatch.GraphWidget(
            title="Rollout: the version being deployed (per minute)", width=24,
            left=[alias_metric("Invocations", "All requests (live alias)", version=False),
                  alias_metric("Invocations", "Requests to the deployed version", version=True),
                  alias_metric("Errors", "Errors of the deployed version", version=True)],
        )
