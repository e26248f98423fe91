"""The one stand-in for Lambda's context object: the attributes Powertools and Chalice read.

Standard library only: the cold-start benchmark loads this file by path into an interpreter
that sees nothing but the image's task root.
"""

from __future__ import annotations

import uuid


class LambdaContext:
    function_name = "sleep-advisor-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:eu-central-1:000000000000:function:sleep-advisor-test"
    log_group_name = "/aws/lambda/sleep-advisor-test"
    log_stream_name = "test"

    def __init__(self, remaining_ms: int = 10_000) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms
