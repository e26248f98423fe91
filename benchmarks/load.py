"""A bounded load run against a server on loopback: every request sent is answered.

Used by tests/integration/test_load.py (which asserts the accounting) and by `make bench` (which records
the latency distribution). Only loopback addresses are accepted.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import summary

JSON = {"Content-Type": "application/json"}


@dataclass
class LoadResult:
    sent: int = 0
    answered: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def latency(self) -> dict[str, float]:
        return summary(self.latencies_ms)


def request_mix(night: dict[str, Any]) -> list[tuple[bytes, int]]:
    """What a mobile client sends: mostly single nights, some week batches, a few bad bodies."""
    week = json.dumps({"instances": [night] * 7}).encode()
    single = json.dumps({"features": night}).encode()
    bad = json.dumps({"features": {**night, next(iter(night)): "seven"}}).encode()
    return [(single, 200)] * 7 + [(week, 200), (week, 200), (bad, 400)]


def run_load(port: int, night: dict[str, Any], clients: int = 8, total: int = 4000,
             host: str = "127.0.0.1") -> LoadResult:
    if not host.startswith("127."):
        raise ValueError("load runs only against loopback")
    mix = request_mix(night)
    result = LoadResult()
    lock = threading.Lock()
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]

    def client(count: int, offset: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        for i in range(count):
            body, expected = mix[(offset + i) % len(mix)]
            with lock:
                result.sent += 1
            started = time.perf_counter()
            try:
                connection.request("POST", "/predict", body=body, headers=JSON)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                with lock:
                    result.unexpected.append(f"no answer: {error!r}")
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                result.answered += 1
                result.by_status[response.status] += 1
                result.latencies_ms.append(elapsed)
                if response.status != expected:
                    result.unexpected.append(f"{response.status} for a request expecting {expected}")
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(count, index))
               for index, count in enumerate(per_client)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    result.seconds = time.perf_counter() - started
    return result
