"""The one stand-in for Lambda's context object: the attributes Powertools and Chalice read.

Standard library only: the cold-start benchmark loads this file by path into an interpreter
that sees nothing but the image's task root.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any


class LambdaContext:
    function_name = "sleep-advisor-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:eu-central-1:000000000000:function:sleep-advisor-test"
    log_group_name = "/aws/lambda/sleep-advisor-test"
    log_stream_name = "test"

    def __init__(self, remaining_ms: int = 10_000,
                 client_context: dict[str, Any] | None = None) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._remaining_ms = remaining_ms
        # As the Python runtime gives a direct invoke's ClientContext: `.custom`, `.env`, ...
        self.client_context = None if client_context is None else SimpleNamespace(
            custom=client_context.get("custom"), env=client_context.get("env"),
            client=client_context.get("client"))

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms
