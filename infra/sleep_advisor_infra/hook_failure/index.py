"""The pre-traffic hook's on-failure destination: reports Failed to CodeDeploy for a hook
invocation that ended without reporting (its image failed to start, it ran out of memory or
time, or its own report failed), so that the deployment fails in minutes instead of waiting
for CodeDeploy's one-hour lifecycle hook timeout.

A zip function on Lambda's Python runtime, with the runtime's boto3 and nothing of the image:
it must work when the image does not. Lambda calls it with an invocation record, whose
`requestPayload` is CodeDeploy's event to the hook.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

TOPIC_VARIABLE = "SLEEP_ADVISOR_ALERTS_TOPIC"
STAGE_VARIABLE = "SLEEP_ADVISOR_STAGE"


def reason_of(record: dict[str, Any]) -> str:
    condition = record.get("requestContext", {}).get("condition", "a failed invocation")
    response = record.get("responsePayload")
    if isinstance(response, dict):
        detail = f"{response.get('errorType', 'error')}: {response.get('errorMessage', '')}"
    else:
        detail = "no answer"
    return f"the pre-traffic hook ended without reporting ({condition}): {detail}"[:1000]


def handler(record: dict[str, Any], context: Any, *, codedeploy: Any = None,
            sns: Any = None) -> dict[str, str]:
    event = record["requestPayload"]
    deployment_id = str(event["DeploymentId"])
    reason = reason_of(record)
    print(json.dumps({"message": "pre-traffic hook failed", "deployment_id": deployment_id,
                      "reason": reason}))
    codedeploy = codedeploy or boto3.client("codedeploy")
    try:
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id,
            lifecycleEventHookExecutionId=str(event["LifecycleEventHookExecutionId"]),
            status="Failed")
    except Exception as error:
        # The hook reported after all (its failure came later): the verdict stands, and
        # on-call has heard from the hook already.
        if getattr(error, "response", {}).get("Error", {}).get("Code") != (
                "LifecycleEventAlreadyCompletedException"):
            raise
        return {"status": "already reported", "reason": reason}
    sns = sns or boto3.client("sns")
    try:
        sns.publish(TopicArn=os.environ[TOPIC_VARIABLE], Message=json.dumps({
            "version": "1.0", "source": "custom", "id": f"{deployment_id}-pre-traffic",
            "content": {
                "textType": "client-markdown",
                "title": (f":x: sleep-advisor {os.environ[STAGE_VARIABLE]}: the golden check "
                          f"could not run; deployment {deployment_id} rolls back"),
                "description": reason,
                "nextSteps": ["No user was served by the new version: it got no traffic.",
                              "Read the pre-traffic hook's log group, then redeploy."],
            },
            "metadata": {"threadId": deployment_id, "summary": reason[:200],
                         "eventType": "PreTrafficCheckFailed"},
        }))
    except Exception as error:  # the rollback matters more than the message about it
        print(json.dumps({"message": "could not publish to the alerts topic",
                          "error": repr(error)}))
    return {"status": "Failed", "reason": reason}
