"""A loopback Lambda Runtime API, so the image's entry point runs without Docker or AWS.

`awslambdaric` (the runtime client AWS base images run as their entry point) polls
`GET /2018-06-01/runtime/invocation/next` and posts each result back; this server hands it
API Gateway proxy events and collects the answers. It speaks HTTP/1.1: the client keeps its
connection open and stalls on HTTP/1.0 responses.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.chalice_local import stop

RUNTIME_PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:eu-central-1:000000000000:function:sleep-advisor-test"


@dataclass
class Invocation:
    request_id: str
    event: dict[str, Any]
    trace_id: str
    done: threading.Event = field(default_factory=threading.Event)
    response: Any = None
    error: Any = None
    # A direct invoke's ClientContext, which Lambda hands the runtime as a header.
    client_context: dict[str, Any] | None = None


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, timeout_seconds: float = 10) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeHandler)
        # The function's timeout: each invocation's deadline is this far from its start.
        self.timeout_seconds = timeout_seconds
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.by_id: dict[str, Invocation] = {}
        self.init_error: Any = None
        self.init_failed = threading.Event()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != f"{RUNTIME_PREFIX}/invocation/next":
            self._reply(404, {"errorMessage": "unknown path"})
            return
        invocation = self.server.pending.get()
        deadline_ms = int((time.time() + self.server.timeout_seconds) * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        if invocation.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = json.dumps(invocation.client_context)
        self._reply(200, invocation.event, headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"null")
        parts = self.path.removeprefix(RUNTIME_PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self.server.init_error = payload
            self.server.init_failed.set()
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            invocation = self.server.by_id[parts[1]]
            if parts[2] == "response":
                invocation.response = payload
            else:
                invocation.error = payload
            invocation.done.set()
        else:
            self._reply(404, {"errorMessage": "unknown path"})
            return
        self._reply(202, {"status": "OK"})

    def _reply(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def new_trace_id(*, sampled: bool = True) -> str:
    epoch = f"{int(time.time()):08x}"
    return (f"Root=1-{epoch}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};"
            f"Sampled={int(sampled)}")


@dataclass(frozen=True)
class ImageLayout:
    """The container image's file system without Docker: what the Dockerfile puts where."""

    task_root: Path  # LAMBDA_TASK_ROOT: runtime dependencies, app.py, chalicelib/, model/
    runtime_client: Path  # awslambdaric, which the AWS base image provides
    handler: str  # the image's CMD
    environment: Mapping[str, str]  # the image's ENV
    commands: Path  # the base image's command set: the function's PATH
    # The interpreter alone, not this venv's wrapper.
    python: str = getattr(sys, "_base_executable", sys.executable)


def without_dev_shm(command: list[str]) -> list[str]:
    """`command` in a private mount namespace where /dev/shm is an empty read-only tmpfs.

    Lambda's execution environment has no usable /dev/shm: POSIX semaphores cannot be created,
    which is what joblib and multiprocessing probe at import. As root (this machine and CI) the
    function's process gets the same condition; elsewhere it runs unchanged.
    """
    unshare, mount, shell = shutil.which("unshare"), shutil.which("mount"), shutil.which("sh")
    if os.geteuid() != 0 or not (unshare and mount and shell):
        return command
    return [unshare, "--mount", "--propagation", "private", shell, "-c",
            f'{mount} -t tmpfs -o ro,size=4k tmpfs /dev/shm && exec "$@"', "lambda", *command]


def dev_shm_is_modelled() -> bool:
    """True where without_dev_shm really takes /dev/shm away."""
    return without_dev_shm(["true"]) != ["true"]


# Runs the runtime client as `python -m awslambdaric` does, with an audit hook that writes one
# line per Python source file compiled in the process: the import system compiles a module
# whose bytecode is missing or stale through the `compile` builtin, which raises that event.
COMPILED_MARKER = "compiled at start-up: "
_RECORD_COMPILES = f"""
import runpy, sys
def _record(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].endswith(".py"):
        sys.stderr.write({COMPILED_MARKER!r} + args[1] + "\\n")
sys.addaudithook(_record)
runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
"""


@dataclass
class LambdaFunction:
    """`python -m awslambdaric app.app` running against a loopback Runtime API."""

    api: RuntimeApi
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    @contextmanager
    def start(
        cls, image: ImageLayout, env: Mapping[str, str] | None = None,
        timeout_seconds: float = 10, record_compiles: bool = False,
    ) -> Iterator[LambdaFunction]:
        api = RuntimeApi(timeout_seconds)
        threading.Thread(target=api.serve_forever, daemon=True).start()
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"lambda-{api.server_address[1]}.log"
        lambda_env = {
            "PATH": str(image.commands),
            "LANG": "C.UTF-8",
            # The task root first, then the runtime client, as in the base image.
            "PYTHONPATH": f"{image.task_root}{os.pathsep}{image.runtime_client}",
            "LAMBDA_TASK_ROOT": str(image.task_root),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "sleep-advisor-test",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_REGION": "eu-central-1",
            "AWS_DEFAULT_REGION": "eu-central-1",
            # Lambda's task root is read-only: Python cannot cache what it compiles there.
            # Without this, one test's start would write bytecode that hides a missing .pyc
            # from the next.
            "PYTHONDONTWRITEBYTECODE": "1",
            **image.environment,
            **(env or {}),
        }
        # -S: no site-packages, so only what the image would contain is importable.
        command = ([image.python, "-S", "-c", _RECORD_COMPILES, image.handler] if record_compiles
                   else [image.python, "-S", "-m", "awslambdaric", image.handler])
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                without_dev_shm(command), cwd=image.task_root, env=lambda_env, stdout=log,
                stderr=subprocess.STDOUT,
            )
        function = cls(api=api, process=process, log_path=log_path)
        try:
            yield function
        finally:
            stop(process)
            api.shutdown()
            api.server_close()

    def invoke(self, event: dict[str, Any], timeout_seconds: float = 60,
               client_context: dict[str, Any] | None = None, *,
               sampled: bool = True) -> Invocation:
        """One invocation; `sampled` is X-Ray's decision in its trace header."""
        invocation = Invocation(str(uuid.uuid4()), event, new_trace_id(sampled=sampled),
                                client_context=client_context)
        self.api.by_id[invocation.request_id] = invocation
        self.api.pending.put(invocation)
        deadline = time.monotonic() + timeout_seconds
        while not invocation.done.wait(0.1):
            if self.api.init_failed.is_set():
                raise RuntimeError(f"init failed: {self.api.init_error}")
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no answer from the function: {self.output()}")
        return invocation

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def compiled_sources(self) -> list[str]:
        """Source files compiled so far (started with `record_compiles`)."""
        return [line.removeprefix(COMPILED_MARKER) for line in self.output().splitlines()
                if line.startswith(COMPILED_MARKER)]


def installed(task_root: Path, module: str) -> bool:
    """Whether the task root holds the top-level module `module` (a package or a file)."""
    return (task_root / module).is_dir() or (task_root / f"{module}.py").is_file()
