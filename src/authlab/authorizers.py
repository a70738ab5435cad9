"""Lambda authorizers as API Gateway runs them: events, IAM policies, responses, caching.

A Lambda authorizer is a function that receives an *event* describing the request and
answers either an IAM policy (``principalId``, ``policyDocument``, ``context``) or, for
HTTP APIs with payload 2.0 and simple responses, ``{"isAuthorized": bool, "context": {}}``.
API Gateway then decides:

* the function raised ``Exception("Unauthorized")`` (or an identity source is missing) → 401;
* the policy denies the request's method ARN, or allows nothing that covers it → 403;
* the function crashed or answered something malformed → 500;
* otherwise the request goes on, and ``context`` travels to the backend.

Results are cached for a TTL (default 300 s, at most 3600, 0 turns caching off), keyed on
the token (TOKEN authorizers) or the identity-source values (REQUEST authorizers). The
*policy* is cached, not the decision: it is evaluated again against every method ARN,
which is why a policy that allows only the first ``methodArn`` denies the next route.

The events themselves are built in :mod:`authlab.authorizer_events` and re-exported here.

Sources: AWS API Gateway developer guide, "Input to an API Gateway Lambda authorizer",
"Output from an API Gateway Lambda authorizer", "Control access to HTTP APIs with AWS
Lambda authorizers"; IAM user guide, "IAM JSON policy elements: Resource" (wildcards).
"""

from __future__ import annotations

import re
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from .authorizer_events import (
    MethodArn,
    http_event_v1,
    http_event_v2,
    identity_values,
    method_arn,
    parse_method_arn,
    request_event,
    token_event,
)
from .clock import SYSTEM_CLOCK, Clock
from .errors import (
    AuthLabError,
    AuthorizerError,
    AuthorizerUnauthorizedError,
    ConfigurationError,
    PolicyDeniedError,
)

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "POLICY_VERSION",
    "AuthorizerCache",
    "AuthorizerResult",
    "Decision",
    "MethodArn",
    "evaluate_policy",
    "http_event_v1",
    "http_event_v2",
    "identity_values",
    "method_arn",
    "parse_method_arn",
    "policy",
    "request_event",
    "resource_matches",
    "run_authorizer",
    "token_event",
    "validate_policy_response",
    "validate_simple_response",
]

DEFAULT_TTL = 300
"""Seconds an authorizer result is cached when the API does not say otherwise."""
MAX_TTL = 3600
"""The largest TTL API Gateway accepts."""
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


# --------------------------------------------------------------------------- cache


class AuthorizerCache:
    """Authorizer results kept for ``ttl`` seconds, measured on ``clock``.

    Keys are the token (TOKEN) or the tuple of identity-source values (REQUEST). ``hits``
    and ``misses`` count lookups; ``ttl=0`` turns caching off.
    """

    def __init__(self, ttl: int = DEFAULT_TTL, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
            raise ConfigurationError(f"The cache TTL must be 0..{MAX_TTL} seconds, not {ttl!r}.")
        self.ttl = ttl
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: dict[Any, tuple[float, AuthorizerResult]] = {}

    @property
    def enabled(self) -> bool:
        """False when ``ttl`` is 0."""
        return self.ttl > 0

    def get(self, key: Any) -> AuthorizerResult | None:
        """The cached result for ``key`` if it has not expired, else ``None``."""
        entry = self._entries.get(key) if self.enabled else None
        if entry is not None and self.clock.now() < entry[0]:
            self.hits += 1
            return entry[1]
        self._entries.pop(key, None)
        self.misses += 1
        return None

    def put(self, key: Any, result: AuthorizerResult) -> None:
        """Keep ``result`` under ``key`` until now + ttl (nothing happens when disabled)."""
        if self.enabled:
            self._entries[key] = (self.clock.now() + self.ttl, result)

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"AuthorizerCache(ttl={self.ttl}, entries={len(self)}, hits={self.hits}, misses={self.misses})"


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Decision:
    """What API Gateway does with one request: ``status`` 200 lets it through."""

    status: int
    result: AuthorizerResult | None = None
    error: AuthLabError | None = None
    from_cache: bool = False
    invoked: bool = False

    @property
    def allowed(self) -> bool:
        """True when the request goes on to the backend."""
        return self.status == 200

    @property
    def context(self) -> dict[str, Any]:
        """The authorizer's ``context``, passed to the backend (empty when there is none)."""
        return dict(self.result.context) if self.result else {}


def _fake_lambda_context(function: Callable[..., Any]) -> Any:
    name = getattr(function, "__name__", "authorizer")
    return types.SimpleNamespace(
        function_name=name,
        aws_request_id=str(uuid.uuid4()),
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_limit_in_mb=128,
        get_remaining_time_in_millis=lambda: 3000,
    )


def run_authorizer(
    function: Callable[[dict[str, Any], Any], Any],
    event: dict[str, Any],
    *,
    arn: str,
    simple: bool = False,
    cache: AuthorizerCache | None = None,
    cache_key: Any = None,
) -> Decision:
    """Call ``function(event, context)`` as API Gateway would, and decide the request.

    With ``cache`` and a ``cache_key`` a cached result is reused without calling the
    function, and evaluated again against ``arn``. 401 when the function raises
    ``Exception("Unauthorized")``; 500 when it raises anything else or answers a malformed
    response (neither is cached); 403 on Deny or when nothing allows ``arn``.
    """
    result = cache.get(cache_key) if cache is not None and cache_key is not None else None
    from_cache = result is not None
    if result is None:
        try:
            response = function(event, _fake_lambda_context(function))
        except Exception as exc:  # noqa: BLE001 - any failure of the authorizer is judged here
            if str(exc) == "Unauthorized":
                error: AuthLabError = AuthorizerUnauthorizedError(
                    "The authorizer raised Unauthorized."
                )
                return Decision(401, error=error, invoked=True)
            error = AuthorizerError(f"The authorizer raised {type(exc).__name__}: {exc}")
            return Decision(500, error=error, invoked=True)
        try:
            result = (validate_simple_response if simple else validate_policy_response)(response)
        except AuthorizerError as exc:
            return Decision(500, error=exc, invoked=True)
        if cache is not None and cache_key is not None:
            cache.put(cache_key, result)
    if result.effect(arn) == "Allow":
        return Decision(200, result, from_cache=from_cache, invoked=not from_cache)
    error = PolicyDeniedError(
        "The authorizer's answer denies this request."
        if result.effect(arn) == "Deny"
        else "No Allow statement in the authorizer's policy covers this method ARN."
    )
    return Decision(403, result, error, from_cache=from_cache, invoked=not from_cache)
