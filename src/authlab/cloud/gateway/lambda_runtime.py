"""Running a Lambda authorizer as API Gateway does: call it, validate its answer, cache, decide.

API Gateway decides from the authorizer's answer:

* the function raised ``Exception("Unauthorized")`` (or an identity source is missing) → 401;
* the policy denies the request's method ARN, or allows nothing that covers it → 403;
* the function crashed or answered something malformed → 500;
* otherwise the request goes on, and ``context`` travels to the backend.

Results are cached for a TTL (default 300 s, at most 3600, 0 turns caching off), keyed on
the token (TOKEN authorizers) or the identity-source values (REQUEST authorizers). The
*policy* is cached, not the decision: it is evaluated again against every method ARN,
which is why a policy that allows only the first ``methodArn`` denies the next route.

The events are built in :mod:`authlab.cloud.gateway.authorizer_events`, the policies read
in :mod:`authlab.cloud.gateway.policies`.

Sources: AWS API Gateway developer guide, "Input to an API Gateway Lambda authorizer",
"Output from an API Gateway Lambda authorizer", "Control access to HTTP APIs with AWS
Lambda authorizers".
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import (
    AuthLabError,
    AuthorizerError,
    AuthorizerUnauthorizedError,
    ConfigurationError,
    PolicyDeniedError,
)
from .policies import AuthorizerResult, validate_policy_response, validate_simple_response

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "AuthorizerCache",
    "Decision",
    "run_authorizer",
]

DEFAULT_TTL = 300
"""Seconds an authorizer result is cached when the API does not say otherwise."""
MAX_TTL = 3600
"""The largest TTL API Gateway accepts."""

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
