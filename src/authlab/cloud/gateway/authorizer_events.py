"""The events API Gateway sends to a Lambda authorizer, built from a request.

REST API ``TOKEN`` and ``REQUEST`` events, HTTP API payload ``1.0`` and ``2.0`` events,
the method ARN ``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<VERB>/<path>`` and
the identity-source values a gateway reads before calling an authorizer. Shapes as in
the AWS API Gateway developer guide, "Input to an API Gateway Lambda authorizer" and
"Control access to HTTP APIs with AWS Lambda authorizers"; aws-lambda-powertools'
``APIGatewayAuthorizerTokenEvent``, ``APIGatewayAuthorizerRequestEvent`` and
``APIGatewayAuthorizerEventV2`` read them. :mod:`authlab.cloud.gateway` re-exports them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import ConfigurationError

__all__ = [
    "MethodArn",
    "http_event_v1",
    "http_event_v2",
    "identity_values",
    "method_arn",
    "parse_method_arn",
    "request_event",
    "token_event",
]


# --------------------------------------------------------------------------- ARNs


@dataclass(frozen=True)
class MethodArn:
    """The parts of ``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<VERB>/<path>``."""

    region: str
    account_id: str
    api_id: str
    stage: str
    method: str
    resource: str  # the path without its leading "/"
    partition: str = "aws"

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:execute-api:{self.region}:{self.account_id}:"
            f"{self.api_id}/{self.stage}/{self.method}/{self.resource}"
        )


def method_arn(
    *, region: str, account_id: str, api_id: str, stage: str, method: str, path: str
) -> str:
    """The method ARN API Gateway puts in an authorizer event for ``method path``."""
    return str(MethodArn(region, account_id, api_id, stage, method.upper(), path.lstrip("/")))


def parse_method_arn(arn: str) -> MethodArn:
    """Split a method ARN into its parts (the inverse of :func:`method_arn`)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
        raise ConfigurationError(f"Not an execute-api method ARN: {arn[:80]!r}.")
    path = parts[5].split("/", 3)
    if len(path) < 3:
        raise ConfigurationError(f"The method ARN lacks <api>/<stage>/<VERB>: {arn[:80]!r}.")
    resource = path[3] if len(path) == 4 else ""
    return MethodArn(parts[3], parts[4], path[0], path[1], path[2], resource, parts[1])


# --------------------------------------------------------------------------- events


def token_event(token: str, method_arn: str) -> dict[str, Any]:
    """A REST API TOKEN authorizer event: the token from the token source, and the method ARN."""
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}


def _single(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: v[-1] if isinstance(v, list) else v for k, v in (values or {}).items()}


def _multi(values: Mapping[str, Any] | None) -> dict[str, list[str]]:
    return {k: list(v) if isinstance(v, list) else [v] for k, v in (values or {}).items()}


def request_event(
    method_arn: str,
    *,
    headers: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    path: str | None = None,
    resource: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    stage_variables: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """A REST API REQUEST authorizer event (headers, query, path, stage variables, context).

    The verb, stage, API and account come from ``method_arn``; ``path`` defaults to it.
    A header or query value may be a list (several values): the single-value map keeps the last.
    """
    arn = parse_method_arn(method_arn)
    path = path or "/" + arn.resource
    resource = resource or path
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": resource,
        "path": path,
        "httpMethod": arn.method,
        "headers": _single(headers),
        "multiValueHeaders": _multi(headers),
        "queryStringParameters": _single(query),
        "multiValueQueryStringParameters": _multi(query),
        "pathParameters": dict(path_parameters or {}),
        "stageVariables": dict(stage_variables or {}),
        "requestContext": {
            "path": f"/{arn.stage}{path}",
            "accountId": arn.account_id,
            "resourceId": "local",
            "stage": arn.stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": source_ip, "apiKey": "", "userAgent": ""},
            "resourcePath": resource,
            "httpMethod": arn.method,
            "apiId": arn.api_id,
        },
    }


def http_event_v1(
    method_arn: str, identity_source: Iterable[str], **request: Any
) -> dict[str, Any]:
    """An HTTP API authorizer event, payload format 1.0: the REST REQUEST shape plus
    ``version``, ``identitySource`` and ``authorizationToken`` (the identity values joined by commas).
    """
    joined = ",".join(identity_source)
    return {
        "version": "1.0",
        **request_event(method_arn, **request),
        "identitySource": joined,
        "authorizationToken": joined,
    }


def http_event_v2(
    route_arn: str,
    *,
    route_key: str,
    identity_source: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, Any] | None = None,
    cookies: Iterable[str] = (),
    path_parameters: Mapping[str, str] | None = None,
    stage_variables: Mapping[str, str] | None = None,
    raw_path: str | None = None,
    source_ip: str = "127.0.0.1",
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """An HTTP API authorizer event, payload format 2.0 (``routeArn``, ``identitySource`` list)."""
    arn = parse_method_arn(route_arn)
    raw_path = raw_path or "/" + arn.resource
    multi = _multi(query)
    now = clock.now()
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn,
        "identitySource": list(identity_source),
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": urlencode([(k, v) for k, vs in multi.items() for v in vs]),
        "cookies": list(cookies),
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "queryStringParameters": {k: ",".join(vs) for k, vs in multi.items()},
        "requestContext": {
            "accountId": arn.account_id,
            "apiId": arn.api_id,
            "domainName": f"{arn.api_id}.execute-api.{arn.region}.amazonaws.com",
            "domainPrefix": arn.api_id,
            "http": {
                "method": arn.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": (headers or {}).get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": arn.stage,
            "time": "",
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": dict(path_parameters or {}),
        "stageVariables": dict(stage_variables or {}),
    }


_SOURCE = re.compile(
    r"^(?:\$request\.|method\.request\.|route\.request\.)?"
    r"(?P<kind>header|querystring|\$?stageVariables|\$?context)\.(?P<name>.+)$"
)


def identity_values(
    sources: Iterable[str],
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, Any] | None = None,
    stage_variables: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> list[str] | None:
    """The values of the identity sources, or ``None`` if one is missing or empty.

    Understands ``$request.header.X`` / ``$request.querystring.X`` / ``$stageVariables.X`` /
    ``$context.X`` (HTTP APIs) and ``method.request.header.X`` (REST APIs). ``None`` means
    API Gateway answers 401 without calling the authorizer.
    """
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    values: list[str] = []
    for source in sources:
        match = _SOURCE.match(source.strip())
        if not match:
            raise ConfigurationError(f"Unknown identity source expression {source!r}.")
        kind, name = match["kind"].lstrip("$"), match["name"]
        if kind == "header":
            value = lower.get(name.lower())
        elif kind == "querystring":
            value = (query or {}).get(name)
            value = ",".join(value) if isinstance(value, list) else value
        elif kind == "stageVariables":
            value = (stage_variables or {}).get(name)
        else:
            value = (context or {}).get(name)
        if value is None or str(value) == "":
            return None
        values.append(str(value))
    return values
