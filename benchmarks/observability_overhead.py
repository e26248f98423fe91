"""What logging, EMF metrics and X-Ray tracing add to a warm request.

Runs the real handler (`app.app`) with an API Gateway proxy event for POST /predict, with the
tracer enabled as in Lambda (segments go over UDP to a loopback socket), and the same handler
with the Powertools middleware removed and the recording steps replaced by no-ops. Blocks of
calls alternate between the two so that drift in machine speed hits both alike.

    python -m benchmarks.observability_overhead      (or `make bench`)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

from benchmarks.common import (
    FakeLambdaContext,
    chalice_environment,
    summary,
    time_calls,
    write_report,
)

CALLS = 3000
BLOCK = 100


def main() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    os.environ.update(chalice_environment())
    os.environ.update({
        "LAMBDA_TASK_ROOT": os.getcwd(),  # the tracer only switches itself on inside Lambda
        "AWS_LAMBDA_FUNCTION_NAME": FakeLambdaContext.function_name,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "_X_AMZN_TRACE_ID": "Root=1-6b072495-825dc369cc4045d989f564cf;Parent=53995c3f42cd8ad8;Sampled=1",
    })
    import app as service
    from chalicelib import observability
    from tests.conftest import SHORT_NIGHT
    from tests.lambda_runtime import api_gateway_event

    event = api_gateway_event(
        "POST", "/predict", json.dumps({"features": SHORT_NIGHT}),
        {"Content-Type": "application/json"},
    )
    context = FakeLambdaContext()

    def invoke() -> Any:
        response = service.app(event, context)
        assert response["statusCode"] == 200, response
        return response

    observed_middleware = list(service.app.middleware_handlers)
    recording = {name: getattr(observability, name) for name in
                 ("record_prediction", "record_rejection", "report_cold_start",
                  "publish_metrics", "traced_inference")}

    @contextlib.contextmanager
    def untraced(model_version: str) -> Iterator[dict[str, Any]]:
        yield {}

    bare_recording: dict[str, Any] = {
        "record_prediction": lambda *a, **k: None, "record_rejection": lambda *a, **k: None,
        "report_cold_start": lambda: None, "publish_metrics": lambda: None,
        "traced_inference": untraced,
    }

    def use(observed: bool) -> None:
        service.app.middleware_handlers[:] = observed_middleware if observed else []
        for name, function in (recording if observed else bare_recording).items():
            setattr(observability, name, function)

    sink = io.StringIO()
    timings: dict[bool, list[float]] = {True: [], False: []}
    with contextlib.redirect_stdout(sink):
        observability.logger.registered_handler.setStream(sink)  # type: ignore[attr-defined]
        for observed in (True, False):  # warm both paths
            use(observed)
            time_calls(invoke, 200)
        for _ in range(CALLS // BLOCK):
            for observed in (True, False):
                use(observed)
                timings[observed] += time_calls(invoke, BLOCK)
                sink.seek(0)
                sink.truncate()
        observability.logger.registered_handler.setStream(sys.stdout)  # type: ignore[attr-defined]
    use(True)
    daemon.close()

    with_obs, without = summary(timings[True]), summary(timings[False])
    rows = "\n".join(
        f"| {label} | {s['p50']:.3f} | {s['p90']:.3f} | {s['p99']:.3f} |"
        for label, s in (("with logs, metrics, traces", with_obs), ("without", without))
    )
    body = f"""
Real handler `app.app` with an API Gateway proxy event for `POST /predict` (one night), warm,
{CALLS} calls per variant in alternating blocks of {BLOCK}. "With" is the shipped handler:
Powertools Logger (one JSON line), Metrics (two EMF lines), Tracer enabled as in Lambda (three
subsegments per request sent over UDP to a loopback socket). "Without" removes the middleware
and the recording steps. Output goes to an in-memory buffer.

| variant | p50 ms | p90 ms | p99 ms |
|---|---|---|---|
{rows}

Added by observability, median: **{with_obs['p50'] - without['p50']:.3f} ms** per request.
"""
    path = write_report("observability-overhead", "Observability overhead per request", body)
    print(path.read_text())


if __name__ == "__main__":
    main()
