"""An HTTP API's configuration, read back from API Gateway (moto) with boto3, and routing.

:func:`load_api` turns ``get_api``, ``get_routes``, ``get_integrations`` and
``get_authorizer`` answers into small immutable records that the local gateway
(:mod:`authlab.cloud.gateway`) enforces. moto stores all of it faithfully but enforces
none of it; it also lacks ``get_authorizers``, so authorizers are read one by one
from the routes that name them.

:meth:`ApiConfig.find_route` picks the route for a request as HTTP APIs do (AWS
developer guide, "Working with routes for HTTP APIs"): the most specific path wins
(literal segments over ``{param}``, ``{param}`` over greedy ``{proxy+}``), a route
with the request's method over ``ANY``, and ``$default`` catches the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigurationError

__all__ = [
    "ApiConfig",
    "AuthorizerConfig",
    "IntegrationConfig",
    "RouteConfig",
    "load_api",
    "reset_api",
]


@dataclass(frozen=True)
class AuthorizerConfig:
    """An authorizer: ``type`` is ``JWT`` or ``REQUEST`` (a Lambda authorizer).

    ``raw`` keeps boto3's whole answer (``AuthorizerUri``, ``EnableSimpleResponses``,
    ``AuthorizerResultTtlInSeconds``...) for authorizer types added later.
    """

    authorizer_id: str
    name: str
    type: str
    identity_source: tuple[str, ...] = ()
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_boto(cls, item: dict[str, Any]) -> AuthorizerConfig:
        """From a ``get_authorizer`` answer."""
        jwt_config = item.get("JwtConfiguration") or {}
        return cls(
            authorizer_id=item["AuthorizerId"],
            name=item.get("Name", ""),
            type=item.get("AuthorizerType", ""),
            identity_source=tuple(item.get("IdentitySource") or ()),
            issuer=jwt_config.get("Issuer"),
            audience=tuple(jwt_config.get("Audience") or ()),
            raw={k: v for k, v in item.items() if k != "ResponseMetadata"},
        )


@dataclass(frozen=True)
class IntegrationConfig:
    """An integration: for ``AWS_PROXY``, ``uri`` is the Lambda function's ARN."""

    integration_id: str
    type: str
    uri: str
    payload_format_version: str = "2.0"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_boto(cls, item: dict[str, Any]) -> IntegrationConfig:
        """From a ``get_integrations`` item."""
        return cls(
            integration_id=item["IntegrationId"],
            type=item.get("IntegrationType", ""),
            uri=item.get("IntegrationUri", ""),
            payload_format_version=item.get("PayloadFormatVersion", "2.0"),
            raw=dict(item),
        )


@dataclass(frozen=True)
class RouteConfig:
    """A route: ``route_key`` is ``"GET /notes/{id}"``, ``"ANY /{proxy+}"`` or ``"$default"``."""

    route_id: str
    route_key: str
    authorization_type: str = "NONE"
    authorizer_id: str | None = None
    scopes: tuple[str, ...] = ()
    integration_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_boto(cls, item: dict[str, Any]) -> RouteConfig:
        """From a ``get_routes`` item."""
        target = item.get("Target") or ""
        return cls(
            route_id=item["RouteId"],
            route_key=item["RouteKey"],
            authorization_type=(item.get("AuthorizationType") or "NONE").upper(),
            authorizer_id=item.get("AuthorizerId"),
            scopes=tuple(item.get("AuthorizationScopes") or ()),
            integration_id=target.removeprefix("integrations/") if target else None,
            raw=dict(item),
        )

    @property
    def method(self) -> str:
        """``GET``, ``ANY``..., or ``*`` for ``$default``."""
        return "*" if self.route_key == "$default" else self.route_key.split(" ", 1)[0].upper()

    @property
    def path(self) -> str:
        """The path template (``/notes/{id}``), or ``*`` for ``$default``."""
        return "*" if self.route_key == "$default" else self.route_key.split(" ", 1)[1]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route serves ``method path``, else ``None``."""
        if self.route_key == "$default":
            return {}
        if self.method not in ("ANY", method.upper()):
            return None
        template = [s for s in self.path.split("/") if s]
        actual = [s for s in path.split("/") if s]
        params: dict[str, str] = {}
        for i, part in enumerate(template):
            if part.startswith("{") and part.endswith("+}"):
                rest = actual[i:]
                if not rest or i != len(template) - 1:
                    return None
                params[part[1:-2]] = "/".join(rest)
                return params
            if i >= len(actual):
                return None
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = actual[i]
            elif part != actual[i]:
                return None
        return params if len(actual) == len(template) else None

    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key: higher is more specific (``$default`` lowest)."""
        if self.route_key == "$default":
            return (0, 0, 0, 0)
        parts = [s for s in self.path.split("/") if s]
        greedy = any(p.endswith("+}") for p in parts)
        literal = sum(not p.startswith("{") for p in parts)
        return (1, 0 if greedy else 1, literal, 0 if self.method == "ANY" else 1)


@dataclass
class ApiConfig:
    """An HTTP API as read from API Gateway: its routes, integrations and authorizers."""

    api_id: str
    name: str
    protocol_type: str
    routes: list[RouteConfig] = field(default_factory=list)
    integrations: dict[str, IntegrationConfig] = field(default_factory=dict)
    authorizers: dict[str, AuthorizerConfig] = field(default_factory=dict)

    def find_route(self, method: str, path: str) -> tuple[RouteConfig, dict[str, str]] | None:
        """The most specific route serving ``method path`` and its path parameters."""
        best: tuple[RouteConfig, dict[str, str]] | None = None
        for route in self.routes:
            params = route.match(method, path)
            if params is not None and (best is None or route.specificity() > best[0].specificity()):
                best = (route, params)
        return best


def _all_items(call: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get("Items", []))
        token = page.get("NextToken")
        if not token:
            return items


def reset_api(apigw: Any, api_id: str) -> int:
    """Delete every route of the HTTP API ``api_id`` and the authorizers they use; keep its
    integrations.

    A notebook cell that creates routes can then be run twice and end with the same API,
    instead of a second set of routes beside the first. Authorizers that no route uses are
    left alone: moto does not implement ``GetAuthorizers`` to list them, and the gateway
    never reads an authorizer that no route names. Returns how many were deleted.
    """
    routes = _all_items(apigw.get_routes, ApiId=api_id)
    used = sorted({r["AuthorizerId"] for r in routes if r.get("AuthorizerId")})
    for route in routes:
        apigw.delete_route(ApiId=api_id, RouteId=route["RouteId"])
    for authorizer_id in used:
        apigw.delete_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
    return len(routes) + len(used)


def load_api(apigw: Any, api_id: str) -> ApiConfig:
    """Read the HTTP API ``api_id`` from an ``apigatewayv2`` boto3 client."""
    try:
        api = apigw.get_api(ApiId=api_id)
    except apigw.exceptions.NotFoundException as exc:
        raise ConfigurationError(
            f"No HTTP API {api_id!r} in API Gateway.",
            hint="Pass the ApiId returned by create_api, on the same (moto) server.",
        ) from exc
    if api.get("ProtocolType") != "HTTP":
        raise ConfigurationError(
            f"API {api_id!r} is a {api.get('ProtocolType')} API; the local gateway serves HTTP APIs."
        )
    routes = [RouteConfig.from_boto(item) for item in _all_items(apigw.get_routes, ApiId=api_id)]
    integrations = {
        item["IntegrationId"]: IntegrationConfig.from_boto(item)
        for item in _all_items(apigw.get_integrations, ApiId=api_id)
    }
    authorizers = {}
    for authorizer_id in sorted({r.authorizer_id for r in routes if r.authorizer_id}):
        item = apigw.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)
        authorizers[authorizer_id] = AuthorizerConfig.from_boto(item)
    return ApiConfig(
        api_id=api_id,
        name=api.get("Name", ""),
        protocol_type=api["ProtocolType"],
        routes=routes,
        integrations=integrations,
        authorizers=authorizers,
    )
