"""Helpers for tests that drive real processes."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask a server process to end; kill it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ChaliceLocal:
    """A `chalice local` process; its combined output is kept in `log_path`."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    @contextmanager
    def start(
        cls, project_dir: Path, env: Mapping[str, str] | None = None, startup_seconds: float = 60
    ) -> Iterator[ChaliceLocal]:
        port = free_loopback_port()
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"chalice-local-{port}.log"
        chalice_cli = Path(sys.executable).parent / "chalice"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(chalice_cli), "local", "--host", "127.0.0.1", "--port", str(port),
                 "--no-autoreload"],
                cwd=project_dir,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(port=port, process=process, log_path=log_path)
        try:
            server._wait_until_serving(startup_seconds)
            yield server
        finally:
            stop(process)

    def _wait_until_serving(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chalice local exited: {self.output()}")
            try:
                if self.request("GET", "/health").status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"chalice local did not serve within {timeout_seconds}s: {self.output()}")

    def request(
        self, method: str, path: str, body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return HttpAnswer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")
