"""What API Gateway (REST APIs) does with our template, modelled from its documentation.

Two behaviours the function never sees, so only a model can test them offline:
- gateway responses: "A GatewayResponse mapping template isn't processed by the Velocity
  Template Language (VTL) engine" — it supports "only simple variable substitution"
  (developer guide, x-amazon-apigateway-gateway-responses.responseTemplates). `$util...` and
  `#if` stay literal; `$context.error.messageString` is "the quoted value of
  $context.error.message"; every other variable is substituted as its raw text.
- request validation: models are JSON Schema draft 4, and the "Amazon API Gateway important
  notes for REST APIs" list keywords it does not support or enforce: `oneOf`, `anyOf`,
  `discriminator`, `exclusiveMinimum`; `minItems`/`maxItems` are "not included in simple
  request validation"; older versions of the list also named `additionalProperties` for
  models. Two validators bracket the truth: `strictest` enforces every draft-4 keyword (if
  the gateway did so, would it ever refuse a request the function accepts?), `enforced_only`
  only the keywords no version of the notes excludes (what the gateway refuses for certain).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft4Validator, validators

# API Gateway ends an integration (the function) after this long: Amazon API Gateway quotas.
API_GATEWAY_INTEGRATION_TIMEOUT_S = 29

# Keywords of the model that API Gateway's notes give no reason to doubt.
ENFORCED_KEYWORDS = frozenset({
    "$ref", "type", "properties", "required", "items", "minimum", "maximum", "multipleOf",
    "enum", "minLength", "maxLength", "pattern",
})
# Keywords the notes exclude or have excluded; the function must enforce these itself.
UNCERTAIN_KEYWORDS = frozenset({
    "oneOf", "anyOf", "additionalProperties", "minItems", "maxItems", "exclusiveMinimum",
    "minProperties", "maxProperties", "discriminator",
})

strictest = Draft4Validator
enforced_only = validators.create(
    meta_schema=Draft4Validator.META_SCHEMA,
    validators={k: v for k, v in Draft4Validator.VALIDATORS.items() if k in ENFORCED_KEYWORDS},
    type_checker=Draft4Validator.TYPE_CHECKER,
    format_checker=None,
)

# A variable reference as API Gateway's substitution sees it.
_VARIABLE = re.compile(r"\$(context|stageVariables)\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
QUOTED_VARIABLES = frozenset({"context.error.messageString"})
# Hostile text for every substituted variable: quotes, backslashes, control characters,
# non-ASCII, and things that look like templates or markup.
HOSTILE = 'He said "no" \\ then\nleft\ttabs, ünïcödé ☃, </script>, $util.x, ${y}, #if'


def render_gateway_response(template: str, variables: Mapping[str, str]) -> str:
    """The body API Gateway sends for a gateway response: variables substituted, nothing else.

    `variables` maps names such as "context.error.message" to their raw values; a quoted
    variable (messageString) is rendered as the quoted JSON string of its base value.
    """

    def substitute(match: re.Match[str]) -> str:
        name = f"{match.group(1)}.{match.group(2)}"
        if name in QUOTED_VARIABLES:
            return json.dumps(variables[name.removesuffix("String")])
        if name not in variables:
            raise KeyError(f"the template uses {name}, which the model does not know")
        return variables[name]

    return _VARIABLE.sub(substitute, template)


def hostile_context() -> dict[str, str]:
    """Every $context variable a gateway response template may use, each set to hostile text."""
    names = [
        "context.error.message", "context.error.responseType", "context.error.validationErrorString",
        "context.requestId", "context.extendedRequestId", "context.resourcePath",
        "context.httpMethod", "context.stage", "context.apiId", "context.identity.sourceIp",
        "context.authorizer.error",
    ]
    return dict.fromkeys(names, HOSTILE)


def gateway_refusal(schema: dict[str, Any], document: Any) -> str:
    """'refused' (certainly at the gateway), 'maybe' (only if it enforces a doubted keyword)
    or 'passes' (the function alone can refuse it)."""
    if list(enforced_only(schema).iter_errors(document)):
        return "refused"
    if list(strictest(schema).iter_errors(document)):
        return "maybe"
    return "passes"
