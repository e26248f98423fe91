"""The REST API (v1) proxy event API Gateway sends the function for a Chalice-generated route.

The one builder: the pre-traffic hook asks a new version its golden questions with it, and the
tests and benchmarks drive the handler and the runtime client with it. Chalice routes by
`requestContext.resourcePath`, so that is the field that must match a route.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from chalicelib import contract


def api_gateway_event(
    method: str, resource_path: str, body: str | None = None,
    headers: Mapping[str, str] | None = None, request_id: str | None = None,
    user_agent: str = "SleepAdvisorApp/1.0",
) -> dict[str, Any]:
    """The event for `method resource_path` with `body`, as API Gateway sends it."""
    headers = dict(headers or {})
    stage = contract.API_STAGE_NAME
    return {
        "resource": resource_path,
        "path": resource_path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": resource_path,
            "httpMethod": method,
            "extendedRequestId": "Xyz=",
            "requestTime": "25/Nov/2026:08:00:00 +0000",
            "path": f"/{stage}{resource_path}",
            "accountId": "000000000000",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "example",
            "requestTimeEpoch": 1795600800000,
            "requestId": request_id or str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.10", "userAgent": user_agent},
            "domainName": "example.execute-api.eu-central-1.amazonaws.com",
            "apiId": "example",
        },
        "body": body,
        "isBase64Encoded": False,
    }
