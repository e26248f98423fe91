"""Smoke-test a deployed stage: what only a real deployment can show, in under a minute.

    make smoke STAGE=prod SLEEP_ADVISOR_ID_TOKEN=<Cognito ID token>

Reads the stage's API URL from its CloudFormation outputs (or --api-url), then checks that
/health answers, that /predict answers a valid request with a token, that a request the
gateway's model refuses gets a JSON error in the service's shape, and that /predict without a
token is refused. Last, it prints the command that fires a test alarm into Slack. Every request
is billed (a handful of requests: fractions of a cent).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import contract

TIMEOUT_SECONDS = 30  # above the function's 10 s timeout, so a cold start is not a failure


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


class SmokeFailure(AssertionError):
    pass


def call(url: str, method: str = "GET", document: Any = None,
         headers: dict[str, str] | None = None) -> Answer:
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status, raw, response_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, response_headers = error.code, error.read(), error.headers
    try:
        body = json.loads(raw)
    except ValueError:
        raise SmokeFailure(f"{method} {url} answered {status} with a body that is not JSON: "
                           f"{raw[:200]!r}") from None
    return Answer(status, {k.lower(): v for k, v in response_headers.items()}, body)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def typical_request(model_card: dict[str, Any]) -> dict[str, Any]:
    """One night at the middle of every feature's range (a category's first value), from the
    served model's card."""
    night = {}
    for feature in model_card["features"]:
        if feature.get("categories"):
            night[feature["name"]] = feature["categories"][0]
            continue
        middle = (feature["minimum"] + feature["maximum"]) / 2
        night[feature["name"]] = round(middle) if feature["type"] == "integer" else middle
    return {"features": night}


def stack_api_url(stage: str, cloudformation: Any = None) -> str:
    """The stage's API URL from its stack's outputs (DescribeStacks)."""
    if cloudformation is None:
        import boto3

        cloudformation = boto3.client("cloudformation")
    stack_name = contract.stack_name(stage)
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "ApiUrl" not in outputs:
        raise SmokeFailure(f"stack {stack_name} has no ApiUrl output: is it deployed?")
    return str(outputs["ApiUrl"])


def checks(api: str, token: str, authorizer: bool) -> list[tuple[str, Callable[[], str]]]:
    auth = {"Authorization": token}
    card: dict[str, Any] = {}

    def health() -> str:
        answer = call(f"{api}health")
        expect(answer.status == 200 and answer.body.get("model_loaded") is True,
               f"/health answered {answer.status}: {answer.body}")
        return f"model {answer.body['model']['name']} {answer.body['model']['version']}"

    def model() -> str:
        answer = call(f"{api}model", headers=auth)
        expect(answer.status == 200, f"/model answered {answer.status}: {answer.body}")
        card.update(answer.body)
        return f"{len(card['features'])} features, {len(card['classes'])} classes"

    def predict() -> str:
        answer = call(f"{api}predict", "POST", typical_request(card), auth)
        expect(answer.status == 200, f"/predict answered {answer.status}: {answer.body}")
        [prediction] = answer.body["predictions"]
        total = sum(prediction["probabilities"].values())
        expect(abs(total - 1) < 1e-6, f"probabilities sum to {total}")
        return f"advice {prediction['advice_id']} ({prediction['probability']:.2f})"

    def refused() -> str:
        # A string where a number belongs: the gateway's model refuses it ("type" is enforced).
        document = typical_request(card)
        first = next(iter(document["features"]))
        document["features"][first] = "seven"
        answer = call(f"{api}predict", "POST", document, auth)
        expect(answer.status == 400, f"a string feature answered {answer.status}: {answer.body}")
        expect(answer.body.get("Code") == "InvalidRequest" and isinstance(answer.body.get(
            "Message"), str), f"the error is not in the service's shape: {answer.body}")
        by = "the function" if "Errors" in answer.body else "API Gateway"
        return f"400 InvalidRequest from {by}: {answer.body['Message']}"

    def unauthorized() -> str:
        answer = call(f"{api}predict", "POST", typical_request(card))
        expect(answer.status == 401 and answer.body.get("Code") == "UnauthorizedError",
               f"/predict without a token answered {answer.status}: {answer.body}")
        return "401 UnauthorizedError"

    plan = [("GET /health", health), ("GET /model", model), ("POST /predict", predict),
            ("POST /predict, string feature", refused)]
    if authorizer:
        plan.append(("POST /predict, no token", unauthorized))
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--api-url", help="the stage's base URL (default: the stack's ApiUrl output)")
    parser.add_argument("--token", default=os.environ.get("SLEEP_ADVISOR_ID_TOKEN", ""),
                        help="a Cognito ID token (default: $SLEEP_ADVISOR_ID_TOKEN)")
    parser.add_argument("--no-authorizer", action="store_true",
                        help="the API has no authorizer (chalice local): skip the 401 check")
    args = parser.parse_args(argv)
    if not args.token and not args.no_authorizer:
        print("A Cognito ID token is needed: see README, 'Calling the deployed API'; pass "
              "--token or set SLEEP_ADVISOR_ID_TOKEN.", file=sys.stderr)
        return 2
    api = args.api_url or stack_api_url(args.stage)
    api = api if api.endswith("/") else api + "/"

    failures = 0
    for name, check in checks(api, args.token, authorizer=not args.no_authorizer):
        try:
            print(f"ok    {name}: {check()}")
        except (SmokeFailure, OSError, KeyError, ValueError) as error:
            failures += 1
            print(f"FAIL  {name}: {error}")
    print(f"\n{failures} of the checks failed." if failures else "\nAll checks passed.")
    print("To see an alarm reach Slack (it returns to OK at its next evaluation):\n"
          f"  aws cloudwatch set-alarm-state --alarm-name {contract.resource_name(args.stage, 'throttles')} "
          '--state-value ALARM --state-reason "Testing the Slack alert path"')
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
