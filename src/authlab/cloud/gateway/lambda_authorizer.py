"""Lambda (``CUSTOM``) authorizers on the local gateway's HTTP API routes.

A route with ``AuthorizationType: CUSTOM`` names an authorizer of type ``REQUEST``
whose ``AuthorizerUri`` points at a Lambda function. :func:`authorize_custom` does what
API Gateway does for it (AWS developer guide, "Control access to HTTP APIs with AWS
Lambda authorizers"):

1. read the identity sources; if one is missing or empty, 401 without calling anything;
2. look the result up in the authorizer's cache (key: the identity-source values; TTL
   ``AuthorizerResultTtlInSeconds``, 0 = off);
3. otherwise build the event (payload ``1.0``: the REST-like event with ``methodArn``;
   ``2.0``: ``routeArn``, ``identitySource`` list), call the Python function registered
   under the Lambda's name (``gateway.register("my-authorizer", fn)``), count the call
   in ``gateway.invocations``, and validate its answer: an IAM policy, or with
   ``EnableSimpleResponses`` ``{"isAuthorized": bool, "context": {...}}``;
4. 401 if it raised ``Exception("Unauthorized")``; 500 if it raised anything else or
   answered something malformed; 403 on Deny or when no Allow covers the route ARN;
5. otherwise the backend gets ``context`` as ``requestContext.authorizer.lambda``.
"""

from __future__ import annotations

import weakref
from typing import Any

from ...errors import AuthorizerUnauthorizedError, ConfigurationError
from .authorizer_events import http_event_v1, http_event_v2, identity_values, method_arn
from .config import AuthorizerConfig, RouteConfig
from .events import GatewayRequest
from .lambda_runtime import DEFAULT_TTL, AuthorizerCache, run_authorizer
from .protocol import GatewayContext

__all__ = ["authorize_custom", "cache_for", "route_arn"]

_caches: weakref.WeakKeyDictionary[Any, dict[str, AuthorizerCache]] = weakref.WeakKeyDictionary()


def _ttl(raw: dict[str, Any]) -> int:
    value = raw.get("AuthorizerResultTtlInSeconds")
    return DEFAULT_TTL if value is None or value == "" else int(value)


def cache_for(gateway: GatewayContext, authorizer: AuthorizerConfig) -> AuthorizerCache:
    """The result cache of ``authorizer`` on ``gateway`` (created on first use, on its clock)."""
    caches = _caches.setdefault(gateway, {})
    cache = caches.get(authorizer.authorizer_id)
    if cache is None or cache.ttl != _ttl(authorizer.raw) or cache.clock is not gateway.clock:
        cache = AuthorizerCache(_ttl(authorizer.raw), clock=gateway.clock)
        caches[authorizer.authorizer_id] = cache
    return cache


def route_arn(gateway: GatewayContext, request: GatewayRequest) -> str:
    """``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<VERB>/<path>`` for ``request``."""
    return method_arn(
        region=gateway.region,
        account_id=gateway.account_id,
        api_id=gateway.api_id,
        stage=gateway.stage,
        method=request.http.method,
        path=request.path,
    )


def _headers(request: GatewayRequest) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.http.headers:
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def authorize_custom(
    gateway: GatewayContext,
    request: GatewayRequest,
    route: RouteConfig,
    authorizer: AuthorizerConfig | None,
) -> dict[str, Any]:
    """``AuthorizationType: CUSTOM``: run the route's Lambda authorizer (see the module)."""
    if authorizer is None or authorizer.type != "REQUEST":
        raise ConfigurationError(
            f"Route {route.route_key!r} is CUSTOM but its authorizer is missing or not REQUEST.",
            hint="Create the authorizer with AuthorizerType='REQUEST' and an AuthorizerUri.",
        )
    raw = authorizer.raw
    version = raw.get("AuthorizerPayloadFormatVersion")
    simple = bool(raw.get("EnableSimpleResponses"))
    if version not in ("1.0", "2.0"):
        raise ConfigurationError(
            f"Authorizer {authorizer.name!r} needs AuthorizerPayloadFormatVersion '1.0' or '2.0'."
        )
    if simple and version != "2.0":
        raise ConfigurationError("EnableSimpleResponses needs payload format version 2.0.")
    uri = raw.get("AuthorizerUri") or ""
    name, function = gateway.handler_for(uri)

    headers = _headers(request)
    query = request.query()
    values: list[str] | None = []
    if authorizer.identity_source:
        values = identity_values(authorizer.identity_source, headers=headers, query=query)
        if values is None:
            raise AuthorizerUnauthorizedError(
                f"An identity source ({', '.join(authorizer.identity_source)}) is missing."
            )
    arn = route_arn(gateway, request)
    cookies = [c.strip() for c in (headers.pop("cookie", "") or "").split(";") if c.strip()]
    if version == "2.0":
        event = http_event_v2(
            arn,
            route_key=route.route_key,
            identity_source=values or [],
            headers=headers,
            query=query,
            cookies=cookies,
            path_parameters=request.path_parameters,
            raw_path=request.path,
            source_ip=request.http.client_ip,
            clock=gateway.clock,
        )
        event["rawQueryString"] = request.http.query
    else:
        event = http_event_v1(
            arn,
            values or [],
            headers=headers,
            query=query,
            path=request.path,
            resource=route.path,
            path_parameters=request.path_parameters,
            source_ip=request.http.client_ip,
        )
    cache = cache_for(gateway, authorizer)
    key = (tuple(values),) if values else None  # no identity source: nothing to key on

    def counted(event: dict[str, Any], context: Any) -> Any:
        gateway.invocations[name] += 1  # an authorizer call is a Lambda invocation too
        return function(event, context)

    decision = run_authorizer(counted, event, arn=arn, simple=simple, cache=cache, cache_key=key)
    if not decision.allowed:
        assert decision.error is not None
        raise decision.error
    return {"lambda": decision.context}
