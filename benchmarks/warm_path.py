"""Warm-path latency: the real handler against the bare model call and the original design.

Variants, one night and a batch of 100, timed in alternating blocks so that drift in machine
speed hits all alike:
- `predict_proba`: the scikit-learn estimator alone on the same rows (the old floor);
- `compiled graph alone`: the ONNX Runtime session alone on the same rows, when the model is
  served compiled;
- `handler`: `app.app` with an API Gateway proxy event, as shipped (the runtime the model's
  metadata names): validation, Powertools
  logging, the EMF metric, X-Ray tracing enabled as in Lambda, for a request X-Ray does not
  sample (the stack's sampling rule traces one in twenty: the typical request);
- `handler, traced`: the same for a request X-Ray samples (segments go over UDP to loopback);
- `handler, no observability`: the same without the Powertools middleware and recording;
- `handler, scikit-learn`: as shipped, but the model served by scikit-learn;
- `handler, no drift tally`: as shipped, but without counting the nights for the drift check
  (what the tally costs a request is the difference from `handler`);
- `drift tally alone`: `NightTally.add` for the request's nights, by itself;
- `original design`: the handler without observability plus what the original did on every
  request, a synchronous CloudWatch PutMetricData call, here against a moto server on loopback
  (which flatters it: no TLS, no network, no AWS).

Prints a JSON document; `python -m benchmarks.run` turns it into docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
from collections.abc import Callable
from typing import Any

from benchmarks.common import summary, time_calls
from harness.lambda_context import LambdaContext
from harness.samples import chalice_environment

CALLS = 2000
BLOCK = 100
TRACE_HEADER = "Root=1-6b072495-825dc369cc4045d989f564cf;Parent=53995c3f42cd8ad8;Sampled={}"


def main() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    os.environ.update(chalice_environment())
    os.environ.update({
        "LAMBDA_TASK_ROOT": os.getcwd(),  # the tracer only switches itself on inside Lambda
        "AWS_LAMBDA_FUNCTION_NAME": LambdaContext.function_name,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "_X_AMZN_TRACE_ID": TRACE_HEADER.format(0),
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
    })
    import boto3
    import numpy as np
    from chalice.app import Chalice
    from moto.server import ThreadedMotoServer

    import app as service
    from chalicelib.drift import NightTally
    from chalicelib.metadata import ONNX_RUNTIME, SCIKIT_LEARN
    from chalicelib.model_package import load_model_package
    from chalicelib.proxy_event import api_gateway_event
    from harness.samples import INSTANCES_BY_ADVICE, SAMPLE_INSTANCE

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    cloudwatch = boto3.client("cloudwatch", endpoint_url=f"http://{host}:{port}")

    context = LambdaContext()

    def unobserved_app(name: str, after_advice: Callable[[Any], None]) -> Chalice:
        # The route's work through the service's public calls, with no Powertools middleware,
        # metric, log line or trace: what observability costs is the difference.
        bare = Chalice(app_name=name, configure_logs=False)

        @bare.route("/predict", methods=["POST"], content_types=["application/json"])
        def predict() -> dict[str, Any]:
            request = bare.current_request
            assert request is not None
            advice = service.advisor.advise(service.request_schema.parse(request.raw_body))
            after_advice(advice)
            return {"model": service.model_ref, "predictions": [vars(a) for a in advice]}

        return bare

    def put_metric_data(advice: Any) -> None:
        cloudwatch.put_metric_data(Namespace="SleepAdvisorOriginal", MetricData=[
            {"MetricName": "PredictionProbability", "Value": a.probability, "Unit": "None"}
            for a in advice])

    apps: dict[str, Chalice] = {
        "handler": service.app,
        "handler, traced": service.app,
        "handler, no observability": unobserved_app("unobserved", lambda advice: None),
        "original design (PutMetricData)": unobserved_app("original", put_metric_data),
    }

    apps["handler, no drift tally"] = service.app
    apps["handler, scikit-learn"] = service.app
    tally = service.tally
    shipped = service.advisor
    scikit_learn = load_model_package(service.settings.model_dir, runtime=SCIKIT_LEARN).advisor

    def use(variant: str) -> None:
        # The route reads the module-level advisor at each request.
        vars(service)["advisor"] = scikit_learn if variant == "handler, scikit-learn" else shipped
        # Lambda sets the invocation's trace header in the environment; X-Ray reads it per call.
        os.environ["_X_AMZN_TRACE_ID"] = TRACE_HEADER.format(int(variant == "handler, traced"))
        # The app reads its module-level tally at each request; None counts nothing.
        vars(service)["tally"] = None if variant == "handler, no drift tally" else tally

    every_class = list(INSTANCES_BY_ADVICE.values())
    batch = [every_class[i % len(every_class)] for i in range(100)]
    feature_names = list(SAMPLE_INSTANCE)
    results: dict[str, dict[str, dict[str, float]]] = {}
    sink = io.StringIO()
    for size, document in (("1 night", {"features": SAMPLE_INSTANCE}), ("100 nights", {"instances": batch})):
        event = api_gateway_event("POST", "/predict", json.dumps(document),
                                  {"Content-Type": "application/json"})
        rows = np.asarray([[night[n] for n in feature_names]
                           for night in (batch if size == "100 nights" else [SAMPLE_INSTANCE])],
                          dtype=np.float64)
        estimator: Any = scikit_learn.predictor.estimator  # type: ignore[attr-defined]

        def bare(rows: Any = rows, estimator: Any = estimator) -> Any:
            return estimator.predict_proba(rows)

        def graph_alone(rows: Any = rows) -> Any:
            return shipped.predictor.predict_proba(rows)

        def handler_of(app: Chalice, event: dict[str, Any] = event) -> Callable[[], Any]:
            def handler() -> Any:
                response = app(event, context)
                if response["statusCode"] != 200:
                    raise RuntimeError(f"the benchmark request was not answered: {response}")
                return response
            return handler

        nights = rows.tolist()
        advice_ids = [a.advice_id for a in service.advisor.advise(nights)]
        # Its own tally: it writes no line (no clock ever reaches its interval).
        alone = NightTally(service.package.baseline, clock=lambda: 0.0)

        def tally_alone(nights: Any = nights, advice_ids: Any = advice_ids,
                        alone: NightTally = alone) -> Any:
            return alone.add(nights, advice_ids)

        variants: dict[str, Callable[[], Any]] = {"predict_proba": bare,
                                                  "drift tally alone": tally_alone}
        if shipped.runtime == ONNX_RUNTIME:
            variants["compiled graph alone"] = graph_alone
        timings: dict[str, list[float]] = {name: [] for name in variants}
        for variant, app in apps.items():
            variants[variant] = handler_of(app)
            timings[variant] = []
        with contextlib.redirect_stdout(sink):
            for variant, call in variants.items():  # warm every path
                use(variant if variant in apps else "handler")
                time_calls(call, 100)
            for _ in range(CALLS // BLOCK):
                for variant, call in variants.items():
                    use(variant if variant in apps else "handler")
                    timings[variant] += time_calls(call, BLOCK)
                    sink.seek(0)
                    sink.truncate()
        results[size] = {variant: summary(values) for variant, values in timings.items()}
    moto.stop()
    daemon.close()
    vars(service)["advisor"] = shipped
    print(json.dumps({"calls": CALLS, "block": BLOCK, "runtime": shipped.runtime,
                      "results": results}))


if __name__ == "__main__":
    main()
