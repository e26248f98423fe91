"""A log group answering FilterLogEvents as CloudWatch Logs documents it, for the drift check.

What the CloudWatch Logs API reference says of FilterLogEvents, and this models:
- startTime: "Events with a timestamp before this time are not returned"; endTime: "Events with
  a timestamp later than this time are not returned" (both bounds inclusive);
- a page holds at most `limit` events (default 10,000) and 1 MB; "If the results include a
  token, there are more log events available"; "This operation can return empty results while
  there are more log events available through the token" (every other page here is empty);
- events are sorted by timestamp;
- a JSON filter pattern `{ $.key = "value" && ... }` matches the events that are JSON objects
  whose top-level `key` equals `value` (the only form the drift check uses; any other pattern
  is refused rather than half-modelled). Filter pattern syntax: the CloudWatch Logs User Guide,
  "Filter pattern syntax for metric filters, subscription filters, filter log events".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_CONDITION = re.compile(r'^\$\.(?P<key>[A-Za-z_][A-Za-z0-9_]*) = "(?P<value>[^"]*)"$')
DEFAULT_LIMIT = 10_000
MAX_PAGE_BYTES = 1 << 20


def parse_json_pattern(pattern: str) -> dict[str, str]:
    """The key = value conditions of a pattern `{ $.a = "x" && $.b = "y" }`."""
    body = pattern.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError(f"not a JSON filter pattern: {pattern!r}")
    conditions = {}
    for clause in body[1:-1].split("&&"):
        match = _CONDITION.match(clause.strip())
        if match is None:
            raise ValueError(f"unsupported condition {clause.strip()!r} in {pattern!r}")
        conditions[match["key"]] = match["value"]
    return conditions


@dataclass
class FakeLogGroup:
    """One log group's events, as (timestamp ms, message); `page_size` is the most events a page
    returns (below the API's 10,000, to make paging happen in tests)."""

    name: str
    page_size: int = DEFAULT_LIMIT
    events: list[tuple[int, str]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def put(self, timestamp_ms: int, message: str) -> None:
        self.events.append((timestamp_ms, message))

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if request.get("logGroupName") != self.name:
            raise LookupError(f"ResourceNotFoundException: log group {request.get('logGroupName')}")
        start, end = request.get("startTime", 0), request.get("endTime", 2**63)
        conditions = parse_json_pattern(request["filterPattern"]) if request.get(
            "filterPattern") else {}
        matching = [(t, m) for t, m in sorted(self.events, key=lambda e: e[0])
                    if start <= t <= end and _matches(m, conditions)]
        token = request.get("nextToken")
        position, empty_first = (0, True) if token is None else _read_token(token)
        if empty_first and position < len(matching) and position > 0:
            # The documented empty page, before the rest of the events.
            return {"events": [], "nextToken": _token(position, empty_first=False)}
        limit = min(int(request.get("limit", DEFAULT_LIMIT)), self.page_size)
        page: list[dict[str, Any]] = []
        size = 0
        for timestamp, message in matching[position:position + limit]:
            size += len(message.encode())
            if page and size > MAX_PAGE_BYTES:
                break
            page.append({"timestamp": timestamp, "message": message,
                         "logStreamName": "2026/12/02/[$LATEST]0", "ingestionTime": timestamp})
        following = position + len(page)
        response: dict[str, Any] = {"events": page, "searchedLogStreams": []}
        if following < len(matching):
            response["nextToken"] = _token(following, empty_first=True)
        return response


def _matches(message: str, conditions: dict[str, str]) -> bool:
    if not conditions:
        return True
    try:
        line = json.loads(message)
    except ValueError:
        return False
    return isinstance(line, dict) and all(
        isinstance(line.get(k), str) and line[k] == v for k, v in conditions.items())


def _token(position: int, *, empty_first: bool) -> str:
    return f"{position}:{int(empty_first)}"


def _read_token(token: str) -> tuple[int, bool]:
    position, empty_first = token.split(":")
    return int(position), empty_first == "1"


@dataclass
class FakeTopic:
    """SNS Publish, recorded."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, **request: Any) -> dict[str, str]:
        self.messages.append(request)
        return {"MessageId": str(len(self.messages))}
