"""IAM policies as a Lambda authorizer answers them, and the checks API Gateway makes on an answer.

A Lambda authorizer answers either an IAM policy (``principalId``, ``policyDocument``,
``context``) or, for HTTP APIs with payload 2.0 and simple responses,
``{"isAuthorized": bool, "context": {}}``. :func:`validate_policy_response` and
:func:`validate_simple_response` refuse a malformed answer (API Gateway answers 500);
:func:`evaluate_policy` says what a valid policy does to one method ARN: an explicit Deny
always wins, then any Allow that covers the ARN, else an implicit deny (403).

Sources: AWS API Gateway developer guide, "Output from an API Gateway Lambda authorizer";
IAM user guide, "IAM JSON policy elements: Resource" (wildcards) and "Policy evaluation logic".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from ...errors import AuthorizerError

__all__ = [
    "POLICY_VERSION",
    "AuthorizerResult",
    "Effect",
    "evaluate_policy",
    "policy",
    "resource_matches",
    "validate_policy_response",
    "validate_simple_response",
]

POLICY_VERSION = "2012-10-17"
"""The IAM policy language version an authorizer's policy document declares."""

Effect = Literal["Allow", "Deny", "ImplicitDeny"]

# --------------------------------------------------------------------------- policies


def policy(
    principal_id: str,
    effect: Literal["Allow", "Deny"],
    resources: str | Iterable[str],
    context: Mapping[str, str | int | float | bool] | None = None,
) -> dict[str, Any]:
    """An authorizer response with one statement: ``effect`` ``execute-api:Invoke`` on ``resources``."""
    resource_list = [resources] if isinstance(resources, str) else list(resources)
    response: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": POLICY_VERSION,
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource_list}
            ],
        },
    }
    if context:
        response["context"] = dict(context)
    return response


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    # IAM: "*" matches any run of characters and "?" any single one, within an ARN segment;
    # a "*" that ends a segment may also match across the colons after it.
    out: list[str] = []
    for i, char in enumerate(pattern):
        if char == "*":
            ends_segment = i + 1 == len(pattern) or pattern[i + 1] == ":"
            out.append(".*" if ends_segment else "[^:]*")
        elif char == "?":
            out.append("[^:]")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def resource_matches(pattern: str, arn: str) -> bool:
    """Whether the policy ``Resource`` pattern covers ``arn``, with IAM's ``*`` and ``?``.

    Matching is case-sensitive and must cover the whole ARN: ``.../GET/pets`` does not
    cover ``.../GET/pets/1``, but ``.../GET/pets/*`` does (``*`` crosses ``/``).
    """
    return _glob(pattern).fullmatch(arn) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluate_policy(document: Mapping[str, Any], arn: str) -> Effect:
    """``"Deny"`` if a Deny statement covers ``arn`` (an explicit Deny always wins),
    else ``"Allow"`` if an Allow statement covers it, else ``"ImplicitDeny"``.

    ``document`` is a ``policyDocument`` already checked by :func:`validate_policy_response`.
    """
    allowed = False
    for statement in _as_list(document["Statement"]):
        actions = _as_list(statement["Action"])
        if not any(resource_matches(a, "execute-api:Invoke") for a in actions):
            continue
        if not any(resource_matches(r, arn) for r in _as_list(statement["Resource"])):
            continue
        if statement["Effect"] == "Deny":
            return "Deny"
        allowed = True
    return "Allow" if allowed else "ImplicitDeny"


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class AuthorizerResult:
    """A validated authorizer response: an IAM policy, or a simple ``isAuthorized``."""

    principal_id: str | None = None
    policy_document: Mapping[str, Any] | None = None
    context: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    is_authorized: bool | None = None
    usage_identifier_key: str | None = None

    def effect(self, arn: str) -> Effect:
        """What this result says about ``arn`` (a simple response ignores the ARN)."""
        if self.policy_document is None:
            return "Allow" if self.is_authorized else "Deny"
        return evaluate_policy(self.policy_document, arn)


def _bad(message: str) -> AuthorizerError:
    return AuthorizerError(f"Malformed authorizer response: {message}")


def _as_dict(response: Any) -> Any:
    asdict = getattr(response, "asdict", None)  # aws-lambda-powertools response objects
    return asdict() if callable(asdict) else response


def _check_context(response: Mapping[str, Any]) -> dict[str, Any]:
    context = response.get("context")
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise _bad("context must be an object of key-value pairs.")
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise _bad(
                f"context[{key!r}] is a {type(value).__name__}; only strings, numbers and "
                "booleans are allowed (serialise objects to a JSON string)."
            )
    return dict(context)


def validate_policy_response(response: Any) -> AuthorizerResult:
    """Check an IAM-policy response as API Gateway does; raise :class:`AuthorizerError` (500)."""
    response = _as_dict(response)
    if not isinstance(response, dict):
        raise _bad(f"expected an object, got {type(response).__name__}.")
    principal = response.get("principalId")
    if not isinstance(principal, str) or not principal:
        raise _bad("principalId must be a non-empty string.")
    document = response.get("policyDocument")
    if not isinstance(document, dict):
        raise _bad("policyDocument is missing or not an object.")
    if document.get("Version") != POLICY_VERSION:
        raise _bad(f"policyDocument.Version must be {POLICY_VERSION!r}.")
    statements = document.get("Statement")
    if not statements or not isinstance(statements, list | dict):
        raise _bad("policyDocument.Statement must be a non-empty list of statements.")
    for statement in _as_list(statements):
        if not isinstance(statement, dict):
            raise _bad("each statement must be an object.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise _bad("each statement's Effect must be 'Allow' or 'Deny'.")
        if "Condition" in statement:
            raise _bad("this local gateway does not model policy Conditions.")
        for key in ("Action", "Resource"):
            value = statement.get(key)
            items = _as_list(value)
            if not value or not all(isinstance(v, str) and v for v in items):
                raise _bad(f"each statement needs {key} as a string or a list of strings.")
    key = response.get("usageIdentifierKey")
    if key is not None and not isinstance(key, str):
        raise _bad("usageIdentifierKey must be a string.")
    return AuthorizerResult(principal, document, _check_context(response), None, key)


def validate_simple_response(response: Any) -> AuthorizerResult:
    """Check an HTTP API simple response ``{"isAuthorized": bool, "context": {...}}``."""
    response = _as_dict(response)
    if not isinstance(response, dict) or not isinstance(response.get("isAuthorized"), bool):
        raise _bad("a simple response is an object with a boolean isAuthorized.")
    return AuthorizerResult(
        context=_check_context(response), is_authorized=response["isAuthorized"]
    )
