"""The local API Gateway's authorizers, dispatched on a route's ``AuthorizationType``.

:data:`AUTHORIZATION_TYPES` is the one table :class:`authlab.gateway.Gateway` consults
(each gateway copies it into ``gateway.authorization_types``). An entry is a function
``(gateway, request, route, authorizer) -> requestContext.authorizer`` (or ``None``)
that raises an :class:`~authlab.errors.AuthLabError` to refuse; the error's status
(:func:`authlab.errors.http_status`) is the answer: 401, 403, or 500. Types missing
from the table (``CUSTOM``, ``AWS_IAM`` until someone adds them) answer 500.

To add one::

    def authorize_custom(gateway, request, route, authorizer): ...
    AUTHORIZATION_TYPES["CUSTOM"] = authorize_custom      # every new Gateway
    gateway.authorization_types["CUSTOM"] = authorize_custom  # or just this one
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, ScopeError, TokenError
from .gateway_config import AuthorizerConfig, RouteConfig
from .gateway_events import GatewayRequest, stringify_claims

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = [
    "AUTHORIZATION_TYPES",
    "AuthorizeFunction",
    "authorize_jwt",
    "authorize_none",
    "token_scopes",
]

AuthorizeFunction = Callable[
    ["Gateway", GatewayRequest, RouteConfig, AuthorizerConfig | None], dict[str, Any] | None
]
"""``(gateway, request, route, authorizer) -> requestContext.authorizer`` (or ``None``).
Raise an :class:`~authlab.errors.AuthLabError` to refuse: its ``status`` is the answer."""


def authorize_none(
    gateway: Gateway,
    request: GatewayRequest,
    route: RouteConfig,
    authorizer: AuthorizerConfig | None,
) -> None:
    """``AuthorizationType: NONE``: every request passes, with no authorizer context."""
    return None


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The token's scopes: ``scope`` (space-separated) or ``scp`` (string or list)."""
    found: list[str] = []
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found += value.split()
        elif isinstance(value, list):
            found += [str(v) for v in value]
    return found


def authorize_jwt(
    gateway: Gateway,
    request: GatewayRequest,
    route: RouteConfig,
    authorizer: AuthorizerConfig | None,
) -> dict[str, Any]:
    """``AuthorizationType: JWT``: the HTTP API JWT authorizer.

    Token from the identity source (bare or after ``Bearer``); signature with the
    issuer's key by ``kid``; ``iss`` exact; ``aud``, or ``client_id`` when there is no
    ``aud``, in the configured audience; ``exp``, ``nbf``, ``iat``; then the revocation
    hook; then the route's scopes against ``scope``/``scp`` (403 if none matches).
    """
    from .verify import verify_token  # the course's one strict verifier

    if authorizer is None or authorizer.type != "JWT" or not authorizer.issuer:
        raise ConfigurationError(
            f"Route {route.route_key!r} is JWT but its authorizer is missing or not a JWT one.",
            hint="Create the authorizer with AuthorizerType='JWT' and a JwtConfiguration.",
        )
    source = authorizer.identity_source[0] if authorizer.identity_source else ""
    token = request.identity(source).strip()
    if token[:7].lower() == "bearer " or token.lower() == "bearer":
        token = token[7:].strip()
    if not token:
        raise TokenError(f"No token in {source}.", hint="Send 'Authorization: Bearer <token>'.")
    claims = verify_token(
        token,
        gateway.keys_for(authorizer.issuer),
        issuer=authorizer.issuer,
        audience=list(authorizer.audience),
        audience_or_client_id=True,
        clock=gateway.clock,
    )
    if gateway.is_revoked is not None and gateway.is_revoked(claims):
        raise TokenError("The token has been revoked.", hint="Sign in again for a new token.")
    scopes = None
    if route.scopes:
        scopes = token_scopes(claims)
        if not set(scopes) & set(route.scopes):
            error = ScopeError(
                f"Route {route.route_key!r} requires one of the scopes {list(route.scopes)}."
            )
            error.required_scopes = list(route.scopes)  # for the www-authenticate header
            raise error
    return {"jwt": {"claims": stringify_claims(claims), "scopes": scopes}}


AUTHORIZATION_TYPES: dict[str, AuthorizeFunction] = {"NONE": authorize_none, "JWT": authorize_jwt}
"""The default dispatch table on ``AuthorizationType``."""
