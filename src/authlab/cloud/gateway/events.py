"""What the local API Gateway hands to a Lambda handler, and how it reads the answer.

Payload format 2.0 (AWS developer guide, "Working with AWS Lambda proxy integrations
for HTTP APIs"): :func:`build_event` makes the event, with
``requestContext.authorizer.jwt.claims`` as strings the way API Gateway sends them
(:func:`stringify_claims`); :func:`response_from_result` turns the handler's return
value into the HTTP response, including the shortcut where a handler returns plain
JSON with no ``statusCode``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ...errors import ConfigurationError
from ..localhttp import HttpRequest, HttpResponse
from .config import RouteConfig
from .protocol import GatewayContext

__all__ = [
    "GatewayRequest",
    "LambdaContext",
    "build_event",
    "function_name",
    "response_from_result",
    "stringify_claims",
    "www_authenticate",
]

_FUNCTION = re.compile(r":function:([A-Za-z0-9_-]+)")


def function_name(uri: str) -> str:
    """The Lambda function's name in an ARN or an authorizer URI, or ``""``."""
    found = _FUNCTION.search(uri or "")
    return found.group(1) if found else ""


@dataclass
class GatewayRequest:
    """A request once routed: the HTTP request, the route, its path parameters."""

    http: HttpRequest
    path: str
    route: RouteConfig
    path_parameters: dict[str, str]
    gateway: GatewayContext
    request_id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    time_epoch_ms: int = field(
        default_factory=lambda: int(time.time() * 1000)
    )  # gateway: its clock

    def header(self, name: str) -> str | None:
        """A request header, any case."""
        return self.http.header(name)

    def query(self) -> dict[str, list[str]]:
        """Query parameters, each name with all its values."""
        found: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.http.query, keep_blank_values=True):
            found.setdefault(key, []).append(value)
        return found

    def identity(self, source: str) -> str:
        """The value an identity source selects (``$request.header.X``,
        ``$request.querystring.x``), or ``""`` when it is absent."""
        if source.startswith("$request.header."):
            return self.header(source.removeprefix("$request.header.")) or ""
        if source.startswith("$request.querystring."):
            values = self.query().get(source.removeprefix("$request.querystring."), [])
            return ",".join(values)
        raise ConfigurationError(
            f"Identity source {source!r} is not supported by the local gateway.",
            hint="Use $request.header.Authorization (or another header, or a query parameter).",
        )


@dataclass
class LambdaContext:
    """The handler's second argument, like Lambda's context object."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: secrets.token_hex(16))
    memory_limit_in_mb: int = 128

    @classmethod
    def for_function(cls, name: str, gateway: GatewayContext, uri: str) -> LambdaContext:
        """A context for function ``name`` (its ARN taken from ``uri`` when it is one)."""
        arn = (
            uri
            if uri.startswith("arn:aws:lambda:")
            else (f"arn:aws:lambda:{gateway.region}:{gateway.account_id}:function:{name}")
        )
        return cls(function_name=name, invoked_function_arn=arn)

    def get_remaining_time_in_millis(self) -> int:
        """Lambda's method; the local handler has no time limit, so a constant."""
        return 30_000


def _aws_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(_aws_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_aws_string(v)}" for k, v in sorted(value.items())) + "]"
    return "" if value is None else str(value)


def stringify_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway passes them on: every value a string
    (``["admin", "editors"]`` becomes ``"[admin editors]"``, ``1700000000`` ``"1700000000"``)."""
    return {name: _aws_string(value) for name, value in claims.items()}


def build_event(request: GatewayRequest, authorizer: dict[str, Any] | None) -> dict[str, Any]:
    """The payload-2.0 event for ``request``; ``authorizer`` becomes
    ``requestContext.authorizer`` (absent for ``NONE`` routes)."""
    http = request.http
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in http.headers:
        if name.lower() == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    host = headers.get("host", "127.0.0.1")
    gateway = request.gateway
    context: dict[str, Any] = {
        "accountId": gateway.account_id,
        "apiId": gateway.api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": http.method,
            "path": http.path,
            "protocol": "HTTP/1.1",
            "sourceIp": http.client_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": request.route.route_key,
        "stage": gateway.stage,
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.time_epoch_ms / 1000)),
        "timeEpoch": request.time_epoch_ms,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": request.route.route_key,
        "rawPath": http.path,
        "rawQueryString": http.query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query = request.query()
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if request.path_parameters:
        event["pathParameters"] = dict(request.path_parameters)
    if http.body:
        try:
            event["body"] = http.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(http.body).decode()
            event["isBase64Encoded"] = True
    return event


def response_from_result(result: Any) -> HttpResponse:
    """The HTTP response for a payload-2.0 handler's return value.

    A dict with ``statusCode`` gives that status, ``headers``, ``cookies`` and ``body``
    (base64-decoded when ``isBase64Encoded``). Anything else is sent as JSON with
    status 200, as API Gateway does when the function returns no ``statusCode``.
    """
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        if result.get("cookies"):
            headers["set-cookie"] = "; ".join(
                result["cookies"]
            )  # one header: a local simplification
        body = result.get("body")
        if body is None:
            data = b""
        elif result.get("isBase64Encoded"):
            data = base64.b64decode(body)
        else:
            data = str(body).encode()
        headers.setdefault("content-type", "application/json")
        return HttpResponse(int(result["statusCode"]), headers, data)
    return HttpResponse(200, {"content-type": "application/json"}, json.dumps(result).encode())


_DESCRIPTIONS = {
    "expired": "the token has expired",
    "wrong_audience": "the token does not have a valid audience",
    "wrong_issuer": "the token does not have a valid issuer",
    "bad_signature": "the token has an invalid signature",
    "malformed": "the token is not a valid JWT",
    "alg_not_allowed": "the token's signing algorithm is not allowed",
    "unknown_kid": "the token's kid is not in the issuer's keys",
    "not_yet_valid": "the token is not valid yet",
    "issued_in_future": "the token was issued in the future",
    "insufficient_scope": "the token does not have a required scope",
}


def www_authenticate(error: BaseException) -> str:
    """The ``www-authenticate`` header for a refused token, in API Gateway's format:
    ``Bearer scope="" error="invalid_token" error_description="..."``
    (``insufficient_scope`` with the route's scopes for a 403, as in RFC 6750 §3.1)."""
    code = getattr(error, "code", "")
    description = _DESCRIPTIONS.get(code) or getattr(error, "message", str(error))
    if code == "missing_claim":
        description = f"the token has no {getattr(error, 'claim', '')} claim"
    description = re.sub(r'[^ -~]|["\\]', "", description)[:200]
    if code == "insufficient_scope":
        scopes = getattr(error, "required_scopes", ())
        return (
            f'Bearer scope="{" ".join(scopes)}" error="insufficient_scope" '
            f'error_description="{description}"'
        )
    return f'Bearer scope="" error="invalid_token" error_description="{description}"'
