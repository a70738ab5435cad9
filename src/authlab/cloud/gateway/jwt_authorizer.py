"""The HTTP API JWT authorizer (``AuthorizationType: JWT``) as the local gateway runs it.

:func:`authorize_jwt` does what API Gateway does before a JWT-protected route reaches
its integration (AWS developer guide, "Controlling access to HTTP APIs with JWT
authorizers"): take the token from the identity source, check its signature with the
issuer's key named by ``kid``, then ``iss``, ``aud`` (or ``client_id``), ``exp``,
``nbf`` and ``iat``, then the route's scopes. It raises an
:class:`~authlab.errors.AuthLabError` to refuse; the error's status
(:func:`authlab.errors.http_status`) is the answer: 401, 403 or 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError, ScopeError, TokenError
from ...tokens.verify import verify_token
from .config import AuthorizerConfig, RouteConfig
from .events import GatewayRequest, stringify_claims
from .protocol import GatewayContext

__all__ = ["authorize_jwt", "token_scopes"]


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
    gateway: GatewayContext,
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
