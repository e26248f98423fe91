"""The image's entry point as Lambda runs it: awslambdaric against a loopback Runtime API.

The task root holds exactly what the Dockerfile installs and copies (see container_image.py);
X-Ray segments arrive over UDP on loopback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber
from sleep_advisor_infra.drift import DRIFT_CHECK_COMMAND
from sleep_advisor_infra.rollout import HOOK_COMMAND

from chalicelib import contract, pre_traffic_hook
from chalicelib.contract import MODEL_LOADED_LOG
from chalicelib.drift_check import LOG_GROUP_VARIABLE
from chalicelib.golden import read_golden
from chalicelib.metadata import METADATA_FILENAME, ONNX_RUNTIME, SCIKIT_LEARN, ModelMetadata
from chalicelib.proxy_event import api_gateway_event
from harness import REPO_ROOT
from harness.container_image import (
    ImageBuild,
    context_with_model,
    rebuild_image,
    without_service_bytecode,
)
from harness.emf import emf_blobs, emitted_metrics
from harness.lambda_runtime import ImageLayout, LambdaFunction, dev_shm_is_modelled, installed
from harness.logs_insights import json_lines
from harness.samples import JSON, MODEL, SAMPLE_ADVICE, SAMPLE_INSTANCE, chalice_environment
from tests.models import bedroom_train, components_train, xgboost_train


class XRayDaemon:
    """A UDP socket on loopback where the X-Ray SDK sends its segment documents."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.5)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def received(self) -> list[dict[str, Any]]:
        documents = []
        try:
            while True:
                datagram, _ = self.socket.recvfrom(65535)
                header, body = datagram.decode().split("\n", 1)
                assert json.loads(header) == {"format": "json", "version": 1}
                documents.append(json.loads(body))
        except TimeoutError:
            return documents


@pytest.fixture
def xray_daemon() -> Iterator[XRayDaemon]:
    daemon = XRayDaemon()
    yield daemon
    daemon.socket.close()


def predict_event(document: Any) -> dict[str, Any]:
    return api_gateway_event("POST", "/predict", json.dumps(document), JSON)


def trace_root(trace_header: str) -> str:
    return trace_header.split(";")[0].removeprefix("Root=")


def test_traces_have_load_handler_and_inference_subsegments(
    image_layout: ImageLayout, xray_daemon: XRayDaemon
) -> None:
    env = {**chalice_environment(), "AWS_XRAY_DAEMON_ADDRESS": xray_daemon.address}
    with LambdaFunction.start(image_layout, env) as function:
        cold = function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
        warm = function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
        documents = xray_daemon.received()

    assert cold.response["statusCode"] == 200 and warm.response["statusCode"] == 200
    by_trace: dict[str, dict[str, dict[str, Any]]] = {}
    for document in documents:
        by_trace.setdefault(document["trace_id"], {})[document["name"]] = document
    cold_trace = by_trace[trace_root(cold.trace_id)]
    warm_trace = by_trace[trace_root(warm.trace_id)]

    assert set(cold_trace) == {"## model_load", "## inference"}
    assert set(warm_trace) == {"## inference"}
    inference, load = cold_trace["## inference"], cold_trace["## model_load"]
    assert inference["annotations"] == {
        "model_version": MODEL.version, "advice": SAMPLE_ADVICE, "cold_start": True}
    assert warm_trace["## inference"]["annotations"]["cold_start"] is False
    # Both hang under the segment Lambda opens for the invocation (its Parent in the header).
    assert inference["parent_id"] == load["parent_id"] == cold.trace_id.split("Parent=")[1][:16]
    assert load["annotations"] == {"model_version": MODEL.version}
    assert load["end_time"] <= inference["start_time"]
    # Responses are not captured: they would copy every answer into X-Ray.
    assert all("metadata" not in d or "sleep_advisor" in d["metadata"] for d in documents)


def test_a_request_x_ray_does_not_sample_sends_no_subsegment(
    image_layout: ImageLayout, xray_daemon: XRayDaemon
) -> None:
    env = {**chalice_environment(), "AWS_XRAY_DAEMON_ADDRESS": xray_daemon.address}
    with LambdaFunction.start(image_layout, env) as function:
        unsampled = function.invoke(predict_event({"features": SAMPLE_INSTANCE}), sampled=False)
        sampled = function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
        documents = xray_daemon.received()

    assert unsampled.response["statusCode"] == sampled.response["statusCode"] == 200
    traces = {document["trace_id"] for document in documents}
    assert trace_root(unsampled.trace_id) not in traces
    assert trace_root(sampled.trace_id) in traces


def test_unreachable_daemon_does_not_fail_requests(image_layout: ImageLayout) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    closed_address = f"127.0.0.1:{probe.getsockname()[1]}"
    probe.close()  # nothing listens there any more

    env = {**chalice_environment(), "AWS_XRAY_DAEMON_ADDRESS": closed_address}
    with LambdaFunction.start(image_layout, env) as function:
        answers = [function.invoke(predict_event({"features": SAMPLE_INSTANCE})) for _ in range(3)]

    assert [a.response["statusCode"] for a in answers] == [200, 200, 200]
    assert all(a.error is None for a in answers)


def test_model_load_logged_once_and_one_metric_per_prediction(image_layout: ImageLayout) -> None:
    # A container of version 7, as Lambda starts one for an invocation through the alias.
    environment = {**chalice_environment(), "AWS_LAMBDA_FUNCTION_VERSION": "7"}
    with LambdaFunction.start(image_layout, environment) as function:
        function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
        function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
        output = function.output()

    [load] = [line for line in json_lines(output) if line.get("message") == "model loaded"]
    assert 0 < load["model_load_ms"] < 10_000 and load["model_version"] == MODEL.version
    predictions = [line for line in json_lines(output) if line.get("message") == "prediction"]
    assert [line["cold_start"] for line in predictions] == [True, False]
    # The one paid metric, the one the alarms read; cold starts come from Lambda's reports.
    metrics = emitted_metrics(emf_blobs(output))
    assert [m.name for m in metrics] == ["PredictionProbability"] * 4  # 2 requests × 2 sets
    # Lambda names the version a container runs; the rollout alarm reads it.
    assert {dict(m.dimensions).get("FunctionVersion") for m in metrics} == {None, "7"}


def test_bad_request_through_the_runtime_is_a_400(image_layout: ImageLayout) -> None:
    with LambdaFunction.start(image_layout, chalice_environment()) as function:
        answer = function.invoke(predict_event({"features": {**SAMPLE_INSTANCE, "not_a_feature": 2}}))

    assert answer.response["statusCode"] == 400
    body = json.loads(answer.response["body"])
    assert body["Errors"][0] == {
        "field": "features.not_a_feature", "message": "Extra inputs are not permitted",
        "type": "extra_forbidden",
    }


def _break_artifact(model_dir: Path, fault: str) -> Path:
    """Break the artifact the image serves (the compiled graph, or the pickle); its path."""
    metadata_path = model_dir / METADATA_FILENAME
    metadata = ModelMetadata.read(model_dir)
    compiled = metadata.serving.compiled
    artifact = model_dir / metadata.served_artifact
    if fault == "missing":
        artifact.unlink()
    elif fault == "truncated":
        whole = artifact.read_bytes()
        artifact.write_bytes(whole[: len(whole) // 2])  # half of any model
    elif fault == "tampered":
        content = bytearray(artifact.read_bytes())
        content[100] ^= 0x01
        artifact.write_bytes(bytes(content))
    elif fault == "other-runtime":
        # The metadata naming the runtime the image does not hold: the function must say so,
        # not serve through whatever it finds.
        document = json.loads(metadata_path.read_text())
        if compiled is not None:
            document["serving"] = {"runtime": "scikit-learn", "compared_requests": 0,
                                   "reason": "edited"}
            artifact = model_dir / metadata.artifact
        else:
            document["sklearn_version"] = "1.5.2"
        metadata_path.write_text(json.dumps(document))
    return artifact


@pytest.mark.parametrize(("fault", "problem"), [
    ("missing", "file is missing"),
    ("truncated", "sha256"),
    ("tampered", "sha256"),
    ("other-runtime", "scikit-learn is not installed" if MODEL.serving.compiled is not None
     else "trained with scikit-learn 1.5.2"),
])
def test_broken_model_fails_initialisation_and_never_answers(
    image_layout: ImageLayout, model_copy: Path, fault: str, problem: str
) -> None:
    artifact = _break_artifact(model_copy, fault)
    env = {**chalice_environment(), "SLEEP_ADVISOR_MODEL_DIR": str(model_copy)}

    with LambdaFunction.start(image_layout, env) as function:
        assert function.api.init_failed.wait(60)
        with pytest.raises(RuntimeError, match="init failed"):
            function.invoke(api_gateway_event("GET", "/health"), timeout_seconds=10)
        output = function.output()

    error = function.api.init_error
    assert error["errorType"] == "ModelLoadError"
    assert str(artifact if fault != "other-runtime" else model_copy) in error["errorMessage"]
    assert problem in error["errorMessage"]
    [line] = [json.loads(x) for x in output.splitlines() if "Model failed to load" in x]
    assert line["level"] == "ERROR" and "ModelLoadError" in line["exception"]


def test_harness_takes_dev_shm_away_as_lambda_does(scikit_learn_image: ImageLayout) -> None:
    # The model must reproduce Lambda's condition: with joblib's probe left on, it warns (in an
    # image that holds joblib: one whose model scikit-learn serves).
    assert dev_shm_is_modelled()
    env = {**chalice_environment(), "JOBLIB_MULTIPROCESSING": "1"}
    with LambdaFunction.start(scikit_learn_image, env) as function:
        function.invoke(predict_event({"features": UNCOMPILABLE_INSTANCE}))
        output = function.output()

    assert "joblib will operate in serial mode" in output


def test_every_line_the_function_writes_is_json(image_layout: ImageLayout) -> None:
    # The dashboard's Logs Insights queries read JSON lines; a stray warning at every
    # cold start would be an unparsable line in every log stream.
    with LambdaFunction.start(image_layout, chalice_environment()) as function:
        function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
        function.invoke(api_gateway_event("POST", "/predict", "{", JSON))
        output = function.output()

    lines = [line for line in output.splitlines() if line.strip()]
    not_json = [line for line in lines if not _is_json_object(line)]
    assert lines and not_json == []


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_body_flagged_base64_that_is_not_is_a_400_through_the_runtime(
    image_layout: ImageLayout,
) -> None:
    event = api_gateway_event("POST", "/predict", "%%% not base64 %%%", JSON)
    event["isBase64Encoded"] = True
    with LambdaFunction.start(image_layout, chalice_environment()) as function:
        answer = function.invoke(event)

    assert answer.error is None
    assert answer.response["statusCode"] == 400
    assert json.loads(answer.response["body"])["Errors"][0]["type"] == "base64_invalid"


@pytest.fixture(scope="module")
def uncompilable_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DataFrame pipeline whose compiled graph answers wrongly (bedroom_train's boosted
    variant): save_model keeps scikit-learn for it."""
    model_dir = tmp_path_factory.mktemp("uncompilable-model")
    metadata = bedroom_train.train(model_dir, uncompilable=True)
    assert metadata.serving.runtime == SCIKIT_LEARN and metadata.input == "dataframe"
    return model_dir


UNCOMPILABLE_INSTANCE = {"room_temperature_celsius": 24.5, "noise_decibels": 35.0,
                         "light_lux": 12.0, "screens_in_bedroom": 1}


def image_with_model(image_build: ImageBuild, image_layout: ImageLayout, model_dir: Path,
                     workdir: Path) -> ImageLayout:
    """`model_dir` in model/, built as `cdk deploy` would build it after the bundled model's
    image: the runtime layer from Docker's cache, the model's own runtime layer and the rest
    again."""
    context = context_with_model(workdir / "context", model_dir)
    build = rebuild_image(image_build, REPO_ROOT, workdir / "build", context)
    return dataclasses.replace(image_layout, task_root=build.host_path("/var/task"))


@pytest.fixture(scope="module")
def scikit_learn_image(tmp_path_factory: pytest.TempPathFactory, image_build: ImageBuild,
                       image_layout: ImageLayout, uncompilable_model_dir: Path) -> ImageLayout:
    return image_with_model(image_build, image_layout, uncompilable_model_dir,
                            tmp_path_factory.mktemp("scikit-learn-image"))


# What each runtime's image holds of the model libraries, and what it must not.
IMAGE_LIBRARIES = {
    ONNX_RUNTIME: ({"onnxruntime"}, {"sklearn", "scipy", "joblib", "pandas", "threadpoolctl"}),
    SCIKIT_LEARN: ({"sklearn", "scipy", "joblib", "pandas"}, {"onnxruntime"}),
}


@pytest.mark.parametrize("served_by", [ONNX_RUNTIME, SCIKIT_LEARN])
def test_a_dataframe_model_is_served_by_its_runtime_alone_and_answers_as_recorded(
    tmp_path_factory: pytest.TempPathFactory, second_model_dir: Path, image_build: ImageBuild,
    image_layout: ImageLayout, served_by: str, request: pytest.FixtureRequest,
) -> None:
    # The second model converts exactly, so its image holds ONNX Runtime alone; the boosted
    # variant does not, so its image holds scikit-learn and pandas (it takes a DataFrame).
    if served_by == ONNX_RUNTIME:
        model_dir = second_model_dir
        layout = image_with_model(image_build, image_layout, model_dir,
                                  tmp_path_factory.mktemp("compiled-image"))
    else:
        model_dir = request.getfixturevalue("uncompilable_model_dir")
        layout = request.getfixturevalue("scikit_learn_image")
    metadata = ModelMetadata.read(model_dir)
    golden = read_golden(model_dir, metadata)

    with LambdaFunction.start(layout, chalice_environment()) as function:
        answers = [function.invoke(predict_event(example.request)) for example in golden.examples]
        output = function.output()

    assert metadata.input == "dataframe" and metadata.serving.runtime == served_by
    held, absent = IMAGE_LIBRARIES[served_by]
    assert {name for name in held | absent if installed(layout.task_root, name)} == held
    [loaded] = [line for line in json_lines(output) if line.get("message") == MODEL_LOADED_LOG]
    assert loaded["runtime"] == served_by
    for answer, example in zip(answers, golden.examples, strict=True):
        assert answer.response["statusCode"] == 200, answer.response
        [prediction] = json.loads(answer.response["body"])["predictions"]
        assert prediction["advice_id"] == example.answer.advice_id
        assert prediction["probabilities"] == pytest.approx(example.answer.probabilities,
                                                            abs=golden.tolerance)


@pytest.mark.parametrize("trained", ["xgboost", "components"])
def test_a_model_with_its_own_library_or_code_answers_in_its_image(
    tmp_path_factory: pytest.TempPathFactory, image_build: ImageBuild, image_layout: ImageLayout,
    trained: str,
) -> None:
    # XGBoost, through the project's label wrapper: installed from model-libraries.lock because
    # the metadata names it. A FunctionTransformer on model/components/ code: shipped with the
    # model. Neither is in the bundled model's image.
    model_dir = tmp_path_factory.mktemp(f"{trained}-model")
    {"xgboost": xgboost_train, "components": components_train}[trained].train(model_dir)
    layout = image_with_model(image_build, image_layout, model_dir,
                              tmp_path_factory.mktemp(f"{trained}-image"))
    metadata = ModelMetadata.read(model_dir)
    golden = read_golden(model_dir, metadata)

    with LambdaFunction.start(layout, chalice_environment()) as function:
        answers = [function.invoke(predict_event(example.request)) for example in golden.examples]

    assert installed(layout.task_root, "xgboost") == (trained == "xgboost")
    assert installed(image_layout.task_root, "xgboost") is False
    assert (layout.task_root / "model" / "components" / "sleep_features.py").is_file()
    for answer, example in zip(answers, golden.examples, strict=True):
        assert answer.response["statusCode"] == 200, answer.response
        [prediction] = json.loads(answer.response["body"])["predictions"]
        assert prediction["advice_id"] == example.answer.advice_id
        assert prediction["probabilities"] == pytest.approx(example.answer.probabilities,
                                                            abs=golden.tolerance)


def test_the_pre_traffic_hook_runs_from_the_same_image_under_the_runtime_client(
    image_layout: ImageLayout,
) -> None:
    # The hook is the image with another command. Here AWS is a closed loopback port: the hook
    # loads, reads the golden answers, fails to read its deployment, and still tries to report
    # the failure to CodeDeploy, which is the error it ends with.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    hook = dataclasses.replace(image_layout, handler=HOOK_COMMAND)
    environment = {
        pre_traffic_hook.NEW_VERSION_VARIABLE: "arn:aws:lambda:eu-central-1:123456789012:function:f:7",
        pre_traffic_hook.TOPIC_VARIABLE: "arn:aws:sns:eu-central-1:123456789012:alerts",
        pre_traffic_hook.STAGE_VARIABLE: "dev",
        "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }

    # The hook's own timeout (infra/sleep_advisor_infra/rollout.py): six minutes.
    with LambdaFunction.start(hook, environment, timeout_seconds=360) as function:
        answer = function.invoke({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h-1"})
        output = function.output()

    assert answer.error["errorType"] == "EndpointConnectionError", answer.error
    assert endpoint in answer.error["errorMessage"]
    [check] = [json.loads(line) for line in output.splitlines()
               if line.startswith("{") and '"pre-traffic check"' in line]
    assert check["status"] == "Failed"
    assert check["reason"].startswith("the check itself failed: EndpointConnectionError")


def test_a_hook_that_cannot_start_is_reported_failed_at_once_by_its_destination(
    image_layout: ImageLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An image whose hook cannot even be imported: no code of ours runs to report. Lambda (no
    # retry) hands the on-failure destination its invocation record, and the reporter fails
    # the deployment at once instead of after CodeDeploy's one-hour hook timeout.
    task = tmp_path / "task"
    task.mkdir()
    for entry in image_layout.task_root.iterdir():
        if entry.name == "chalicelib":  # without bytecode, which Python would prefer
            shutil.copytree(entry, task / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (task / entry.name).symlink_to(entry)
    (task / "chalicelib" / "proxy_event.py").write_text('raise ImportError("not in this image")\n')
    hook = dataclasses.replace(image_layout, task_root=task, handler=HOOK_COMMAND)
    event = {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h-1"}

    with LambdaFunction.start(hook, {}) as function:
        assert function.api.init_failed.wait(60)
    error = function.api.init_error
    assert error["errorType"] == "Runtime.ImportModuleError", error

    # The invocation record Lambda sends a destination ("Capturing records of Lambda
    # asynchronous invocations", AWS Lambda developer guide).
    record = {
        "version": "1.0", "timestamp": "2026-12-02T03:00:00.000Z",
        "requestContext": {"requestId": "r-1", "condition": "RetriesExhausted",
                           "functionArn": "arn:aws:lambda:eu-central-1:123456789012:function:"
                                          "sleep-advisor-dev-pre-traffic:$LATEST",
                           "approximateInvokeCount": 1},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "responsePayload": error,
    }
    monkeypatch.setenv(pre_traffic_hook.TOPIC_VARIABLE, "arn:aws:sns:eu-central-1:123456789012:a")
    monkeypatch.setenv(pre_traffic_hook.STAGE_VARIABLE, "dev")
    session = botocore.session.get_session()
    clients = {name: session.create_client(name, region_name="eu-central-1",
                                           aws_access_key_id="t", aws_secret_access_key="t")
               for name in ("codedeploy", "sns")}
    with Stubber(clients["codedeploy"]) as codedeploy, Stubber(clients["sns"]) as sns:
        sns.add_response("publish", {"MessageId": "m-1"}, expected_params={
            "TopicArn": "arn:aws:sns:eu-central-1:123456789012:a", "Message": ANY})
        codedeploy.add_response(
            "put_lifecycle_event_hook_execution_status", {"lifecycleEventHookExecutionId": "h-1"},
            expected_params={"deploymentId": "d-1", "lifecycleEventHookExecutionId": "h-1",
                             "status": "Failed"})
        result = hook_failure_reporter().handler(record, None, codedeploy=clients["codedeploy"],
                                                 sns=clients["sns"])
        codedeploy.assert_no_pending_responses()
        sns.assert_no_pending_responses()

    assert result["status"] == "Failed"
    assert "RetriesExhausted" in result["reason"] and "Runtime.ImportModuleError" in result["reason"]


def hook_failure_reporter() -> Any:
    """The reporter's module, as Lambda's Python runtime loads it from its zip."""
    source = REPO_ROOT / "infra" / "sleep_advisor_infra" / "hook_failure" / "index.py"
    spec = importlib.util.spec_from_file_location("hook_failure_index", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.TOPIC_VARIABLE, module.STAGE_VARIABLE) == (
        pre_traffic_hook.TOPIC_VARIABLE, pre_traffic_hook.STAGE_VARIABLE)
    return module


def test_the_image_compiles_nothing_at_start_up(image_layout: ImageLayout, tmp_path: Path) -> None:
    # Lambda's task root is read-only: a module without bytecode in the image is compiled at
    # every cold start. The same start on the task root without the service's bytecode shows
    # the recorder sees exactly that.
    without = without_service_bytecode(image_layout, tmp_path / "task")
    compiled = {}
    for name, layout in (("image", image_layout), ("without", without)):
        with LambdaFunction.start(layout, chalice_environment(), record_compiles=True) as function:
            answer = function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
            assert answer.response["statusCode"] == 200, function.output()
            compiled[name] = sorted(Path(source).relative_to(layout.task_root).as_posix()
                                    for source in function.compiled_sources())

    assert compiled["image"] == []
    assert "app.py" in compiled["without"]
    assert "chalicelib/model_package.py" in compiled["without"]
    assert all(s == "app.py" or s.startswith("chalicelib/") for s in compiled["without"])


def test_the_golden_check_is_answered_but_counted_nowhere_under_the_runtime_client(
    image_layout: ImageLayout,
) -> None:
    # As the hook invokes the new version: its ClientContext reaches the function through the
    # runtime client's header, the answer is /predict's, and no metric or prediction line is
    # written for it (a user's same request, next, is counted).
    golden = {"custom": contract.GOLDEN_CHECK_CONTEXT}
    with LambdaFunction.start(image_layout, chalice_environment()) as function:
        checked = function.invoke(predict_event({"features": SAMPLE_INSTANCE}),
                                  client_context=golden)
        check_output = function.output()
        answered = function.invoke(predict_event({"features": SAMPLE_INSTANCE}))
        output = function.output()

    assert checked.response["statusCode"] == answered.response["statusCode"] == 200
    assert json.loads(checked.response["body"])["predictions"] == json.loads(
        answered.response["body"])["predictions"]
    messages = [line.get("message") for line in json_lines(check_output)]
    assert contract.GOLDEN_CHECK_LOG in messages and contract.PREDICTION_LOG not in messages
    assert emitted_metrics(emf_blobs(check_output)) == []
    assert [line.get("message") for line in json_lines(output)].count(contract.PREDICTION_LOG) == 1
    assert len(emitted_metrics(emf_blobs(output))) == 2  # the user's, in two dimension sets


def test_the_drift_check_runs_from_the_same_image_under_the_runtime_client(
    image_layout: ImageLayout,
) -> None:
    # The check is the image with another command. AWS is moto's server on loopback: a log
    # group holding the service's aggregate lines of the last hours (moto ignores JSON filter
    # patterns and returns every event: the check's own reading must hold), and the alerts
    # topic with a queue subscribed, to read what on-call would get.
    from moto.server import ThreadedMotoServer

    from benchmarks.drift_week import alarm_event, scheduled_event
    from tests.api.test_drift_check import training_like

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {"region_name": "eu-central-1", "endpoint_url": endpoint,
                       "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        session = botocore.session.get_session()
        logs, sns, sqs = (session.create_client(name, **credentials)
                          for name in ("logs", "sns", "sqs"))
        log_group = "/aws/lambda/sleep-advisor-dev-APIHandler"
        logs.create_log_group(logGroupName=log_group)
        logs.create_log_stream(logGroupName=log_group, logStreamName="2026/12/02/[3]abc")
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        hour_ms = 3_600_000
        now_ms = int(now.timestamp() * 1000)
        moved = MODEL.features[0].name
        logs.put_log_events(logGroupName=log_group, logStreamName="2026/12/02/[3]abc", logEvents=[
            *({"timestamp": now_ms - h * hour_ms, "message": training_like(500)}
              for h in range(8, 2, -1)),
            # Drifted for the last two hours: the alarm's 2 of 3, and the check's message.
            {"timestamp": now_ms - 2 * hour_ms + 1, "message": training_like(1500, moved=moved)},
            {"timestamp": now_ms - hour_ms + 1, "message": training_like(1500, moved=moved)},
            {"timestamp": now_ms - 1000, "message": json.dumps({"message": "prediction"})},
        ])
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="on-call")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        check = dataclasses.replace(image_layout, handler=DRIFT_CHECK_COMMAND)
        environment = {
            LOG_GROUP_VARIABLE: log_group, contract.ALERTS_TOPIC_VARIABLE: topic,
            contract.STAGE_VARIABLE: "dev",
            contract.METRICS_NAMESPACE_VARIABLE: "SleepAdvisor/dev",
            "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        }
        # EventBridge's scheduled event (its time is the scheduled minute, give or take
        # seconds), then the drift alarm's state change a minute later.
        scheduled = {**scheduled_event(now + dt.timedelta(seconds=4)), "version": "0",
                     "id": "e-1", "account": "123456789012", "region": "eu-central-1",
                     "resources": []}
        alarmed = alarm_event(now + dt.timedelta(minutes=1))

        with LambdaFunction.start(check, environment, timeout_seconds=120) as function:
            answer = function.invoke(scheduled)
            output = function.output()
            explained = function.invoke(alarmed)
        received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    finally:
        server.stop()

    assert answer.error is None and explained.error is None, (answer.error, explained.error)
    assert answer.response["band"] == "significant" and answer.response["largest"] == moved
    assert "notified" not in answer.response and explained.response["notified"] is True
    [score] = [m for m in emitted_metrics(emf_blobs(output)) if m.name == contract.DRIFT_SCORE]
    assert score.namespace == "SleepAdvisor/dev"
    assert list(score.values) == [pytest.approx(answer.response["largest_distance"], abs=1e-4)]
    [line] = [line for line in json_lines(output) if line.get("message") == "drift check"]
    assert line["distances"][moved] == answer.response["largest_distance"]
    [message] = [json.loads(m["Body"]) for m in received]
    assert message["source"] == "custom" and moved in message["content"]["description"]
