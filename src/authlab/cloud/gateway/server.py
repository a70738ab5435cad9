"""The local API Gateway: an HTTP API read from moto, enforced on real HTTP at 127.0.0.1.

moto stores an HTTP API's routes, integrations and JWT authorizers but enforces none
of them, and cannot run Lambda code without Docker. :class:`Gateway` does what API
Gateway does at request time (AWS developer guide, "Controlling access to HTTP APIs
with JWT authorizers", and "Working with AWS Lambda proxy integrations for HTTP APIs"):

1. pick the route (:mod:`authlab.cloud.gateway.config`); ``GET /_static/<name>`` serves
   files from ``authlab/cloud/static/``;
2. run the route's authorizer, dispatched on its ``AuthorizationType`` in one table,
   :data:`AUTHORIZATION_TYPES`, built here from the authorizer modules this one imports:
   ``NONE``, ``JWT`` (:mod:`~authlab.cloud.gateway.jwt_authorizer`) and ``CUSTOM``
   (:mod:`~authlab.cloud.gateway.lambda_authorizer`); ``AWS_IAM`` answers 500. A gateway
   copies the table into :attr:`Gateway.authorization_types`, where a test may add to it;
3. only if it allows the request, call the Python function registered for the
   route's integration with a payload-2.0 event, and count the call in
   :attr:`Gateway.invocations`.

A :class:`~authlab.errors.TokenError` answers 401 ``{"message":"Unauthorized"}`` (with
a ``www-authenticate`` header giving the reason when a JWT authorizer refused); an
:class:`~authlab.errors.AccessDeniedError` 403 ``{"message":"Forbidden"}``; anything
else 500: the status comes from :func:`authlab.errors.http_status`.

**Local-only step.** Real API Gateway finds an issuer's keys by OIDC discovery at
``<issuer>/.well-known/openid-configuration``. A moto pool's issuer is an AWS URL
while its keys are on the moto server, so pass ``jwks_urls={issuer: url}``; issuers on
127.0.0.1 (:class:`authlab.cloud.idp.OidcIssuer`) are discovered as AWS would.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import requests

from ...clock import SYSTEM_CLOCK, Clock
from ...errors import ConfigurationError, IssuerUrlError, KeySetError, http_status
from ...tokens.jwks import KeySet
from ..localhttp import HttpRequest, HttpResponse, LocalHttpServer
from .config import ApiConfig, AuthorizerConfig, RouteConfig, load_api
from .events import (
    GatewayRequest,
    LambdaContext,
    build_event,
    function_name,
    response_from_result,
    www_authenticate,
)
from .jwt_authorizer import authorize_jwt
from .lambda_authorizer import authorize_custom
from .protocol import GatewayContext, Handler

__all__ = [
    "AUTHORIZATION_TYPES",
    "STATIC_DIR",
    "AuthorizeFunction",
    "Gateway",
    "authorize_none",
    "is_local_url",
]

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
"""The algorithms a JWT authorizer accepts ("only RSA-based algorithms are supported")."""

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
"""Files served at ``GET /_static/<name>``."""

AuthorizeFunction = Callable[
    [GatewayContext, GatewayRequest, RouteConfig, AuthorizerConfig | None],
    dict[str, Any] | None,
]
"""``(gateway, request, route, authorizer) -> requestContext.authorizer`` (or ``None``).
Raise an :class:`~authlab.errors.AuthLabError` to refuse: its status is the answer."""


def authorize_none(
    gateway: GatewayContext,
    request: GatewayRequest,
    route: RouteConfig,
    authorizer: AuthorizerConfig | None,
) -> None:
    """``AuthorizationType: NONE``: every request passes, with no authorizer context."""
    return None


AUTHORIZATION_TYPES: Mapping[str, AuthorizeFunction] = MappingProxyType(
    {"NONE": authorize_none, "JWT": authorize_jwt, "CUSTOM": authorize_custom}
)
"""The dispatch table on a route's ``AuthorizationType`` (read-only; each gateway copies it)."""


_LOCAL_HOSTS = ("127.0.0.1", "localhost")


def is_local_url(url: str, what: str = "URL") -> bool:
    """Whether ``url`` is an ``http(s)`` URL whose host is this machine's loopback
    (``127.0.0.1`` or ``localhost``), as :func:`urllib.parse.urlsplit` reads it.

    A URL with a user name or password (``http://127.0.0.1@example.com/``: the host is
    ``example.com``) or that does not parse raises :class:`~authlab.errors.IssuerUrlError`
    naming ``what`` it is.
    """
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError as exc:
        raise IssuerUrlError(f"The {what} {url!r} is not a valid URL ({exc}).") from None
    if "@" in parts.netloc:
        raise IssuerUrlError(
            f"The {what} {url!r} carries a user name before its host (user@host): the host "
            f"is {host!r}, not what the URL starts with. The local gateway refuses it."
        )
    return parts.scheme in ("http", "https") and host in _LOCAL_HOSTS


class Gateway:
    """A local API Gateway for the HTTP API ``api_id``, served on ``127.0.0.1:port``.

    ``apigw``: an ``apigatewayv2`` boto3 client (default: ``authlab.cloud.aws.client``).
    ``handlers``: Python functions ``handler(event, context)`` keyed by the Lambda
    function's name, its ARN, or the integration id. ``jwks_urls``: issuer -> JWKS URL
    (the local-only step). ``clock``: the time the authorizer checks ``exp``/``nbf``/``iat`` against.
    """

    def __init__(
        self,
        api_id: str,
        *,
        apigw: Any = None,
        handlers: Mapping[str, Handler] | None = None,
        jwks_urls: Mapping[str, str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        stage: str = "$default",
        port: int = 0,
        region: str | None = None,
        account_id: str = "123456789012",
        static_dir: str | Path = STATIC_DIR,
        key_timeout: float = 1.5,
    ) -> None:
        if apigw is None:
            from ..aws import client

            apigw = client("apigatewayv2")
        self.api_id = api_id
        self.apigw = apigw
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.jwks_urls = dict(jwks_urls or {})
        self.clock = clock
        self.stage = stage
        self.region = region or apigw.meta.region_name
        self.account_id = account_id
        self.static_dir = Path(static_dir)
        self.key_timeout = key_timeout
        self.authorization_types: dict[str, AuthorizeFunction] = dict(AUTHORIZATION_TYPES)
        self.invocations: Counter[str] = Counter()
        """Calls per handler (by function name): what the Lambda bill would count."""
        self.log: deque[dict[str, Any]] = deque(maxlen=1000)
        """The last requests: method, path, route, status, error code, handler invoked."""
        self.config: ApiConfig | None = None
        self._keysets: dict[str, KeySet] = {}
        self._lock = threading.Lock()
        self._server = LocalHttpServer(self.handle, port=port, name="local API Gateway")

    # ------------------------------------------------------------------ setup
    def register(self, name: str, handler: Handler) -> None:
        """Register ``handler`` for the integration whose Lambda is ``name`` (name, ARN or id)."""
        self.handlers[name] = handler

    def reload(self) -> ApiConfig:
        """Read the API's routes, integrations and authorizers from API Gateway again."""
        config = load_api(self.apigw, self.api_id)
        for authorizer in config.authorizers.values():
            if authorizer.type == "JWT" and authorizer.issuer:
                self._jwks_url_for(authorizer.issuer)  # fail now, not on the first request
        with self._lock:
            self.config = config
            self._keysets.clear()
        return config

    def start(self) -> Gateway:
        """Read the API (:meth:`reload`) and serve it. Returns ``self``."""
        self.reload()
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The invoke URL: ``http://127.0.0.1:<port>`` (plus ``/<stage>`` for a named stage)."""
        return self._server.url + ("" if self.stage == "$default" else f"/{self.stage}")

    # ------------------------------------------------------------------ keys
    def _jwks_url_for(self, issuer: str) -> str:
        if issuer in self.jwks_urls:
            return self.jwks_urls[issuer]
        if is_local_url(issuer, "issuer"):
            try:
                found = requests.get(
                    issuer.rstrip("/") + "/.well-known/openid-configuration",
                    timeout=self.key_timeout,
                    allow_redirects=False,
                )
                found.raise_for_status()
                jwks_uri = str(found.json()["jwks_uri"])
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                raise KeySetError(f"OIDC discovery failed for issuer {issuer}: {exc}.") from exc
            if not is_local_url(jwks_uri, "JWKS URL"):
                raise IssuerUrlError(
                    f"The discovery document of issuer {issuer} puts its keys at {jwks_uri}, "
                    "which is not on this machine's loopback (127.0.0.1 or localhost): the "
                    "local gateway fetches keys only there."
                )
            return jwks_uri
        raise ConfigurationError(
            f"The local gateway does not know where the keys of issuer {issuer} are.",
            hint="Pass jwks_urls={issuer: jwks_url} (for a moto pool: authlab.cloud.cognito.jwks_url).",
        )

    def keys_for(self, issuer: str) -> KeySet:
        """The issuer's key set, fetched once and cached."""
        with self._lock:
            keys = self._keysets.get(issuer)
        if keys is None:
            url = self._jwks_url_for(issuer)
            keys = KeySet.from_url(  # API Gateway's JWT authorizers accept RSA keys only
                url, clock=self.clock, timeout=self.key_timeout, algorithms=RSA_ALGORITHMS
            )
            with self._lock:
                keys = self._keysets.setdefault(issuer, keys)
        return keys

    # ------------------------------------------------------------------ requests
    def handler_for(self, uri: str, integration_id: str | None = None) -> tuple[str, Handler]:
        """``(name, handler)`` registered for a Lambda ARN/URI (or the integration id)."""
        name = function_name(uri)
        for key in (integration_id, uri, name):
            if key and key in self.handlers:
                return name or key, self.handlers[key]
        raise ConfigurationError(
            f"No Python handler registered for {uri or integration_id!r}.",
            hint=f"gateway.register({name or integration_id!r}, handler) before calling the route.",
        )

    def _authorize(self, request: GatewayRequest, route: RouteConfig) -> dict[str, Any] | None:
        """The one dispatch on the route's AuthorizationType."""
        authorize = self.authorization_types.get(route.authorization_type)
        if authorize is None:
            raise ConfigurationError(
                f"AuthorizationType {route.authorization_type} is not supported by the local "
                "gateway yet.",
                hint=f"Supported: {', '.join(sorted(self.authorization_types))}.",
            )
        assert self.config is not None
        authorizer = self.config.authorizers.get(route.authorizer_id or "")
        return authorize(self, request, route, authorizer)

    def handle(self, http: HttpRequest) -> HttpResponse:
        """Answer one request (what the HTTP server calls; usable without sockets too)."""
        entry: dict[str, Any] = {"method": http.method, "path": http.path, "route": None}
        response = self._handle(http, entry)
        entry["status"] = response.status
        self.log.append(entry)
        return response

    def _handle(self, http: HttpRequest, entry: dict[str, Any]) -> HttpResponse:
        if http.method in ("GET", "HEAD") and http.path.startswith("/_static/"):
            return self._static(http.path.removeprefix("/_static/"))
        path = http.path
        if self.stage != "$default":
            prefix = f"/{self.stage}"
            if not (path == prefix or path.startswith(prefix + "/")):
                return HttpResponse.json(404, {"message": "Not Found"})
            path = path[len(prefix) :] or "/"
        if self.config is None:
            try:
                self.reload()
            except IssuerUrlError as error:  # a refused issuer: 401, as its tokens cannot verify
                entry["error"] = error.code
                return self._error_response(error, jwt=True)
        assert self.config is not None
        found = self.config.find_route(http.method, path)
        if found is None:
            return HttpResponse.json(404, {"message": "Not Found"})
        route, params = found
        entry["route"] = route.route_key
        request = GatewayRequest(
            http, path, route, params, self, time_epoch_ms=int(self.clock.now() * 1000)
        )
        try:
            context = self._authorize(request, route)
            integration = self.config.integrations.get(route.integration_id or "")
            if integration is None:
                raise ConfigurationError(f"Route {route.route_key!r} has no integration.")
            name, handler = self.handler_for(integration.uri, integration.integration_id)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status, never a crash
            entry["error"] = getattr(error, "code", type(error).__name__)
            return self._error_response(error, jwt=route.authorization_type == "JWT")
        event = build_event(request, context)
        with self._lock:  # requests are served from several threads
            self.invocations[name] += 1
        entry["invoked"] = name
        try:
            result = handler(event, LambdaContext.for_function(name, self, integration.uri))
            return response_from_result(result)
        except Exception as error:  # noqa: BLE001 - a crashing Lambda is a 500, as on AWS
            entry["error"] = type(error).__name__
            return HttpResponse.json(500, {"message": "Internal Server Error"})

    def _error_response(self, error: BaseException, *, jwt: bool = False) -> HttpResponse:
        """401/403/500 as API Gateway answers them; only a JWT authorizer's refusals carry
        a ``www-authenticate`` challenge (Lambda authorizers' 401/403 have none)."""
        status = http_status(error)
        code = str(getattr(error, "code", "internal"))
        headers = {"x-authlab-error": code}
        if status in (401, 403) and jwt:
            headers["www-authenticate"] = www_authenticate(error)
        if status == 401:
            return HttpResponse.json(401, {"message": "Unauthorized"}, headers)
        if status == 403:
            return HttpResponse.json(403, {"message": "Forbidden"}, headers)
        return HttpResponse.json(500, {"message": "Internal Server Error"}, headers)

    def _static(self, name: str) -> HttpResponse:
        import mimetypes

        path = self.static_dir / name
        if not name or "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
            return HttpResponse.json(404, {"message": "Not Found"})
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return HttpResponse(200, {"content-type": kind}, path.read_bytes())

    def __repr__(self) -> str:
        where = self.url if self._server.running else "stopped"
        return f"Gateway(api={self.api_id!r}, {where}, invocations={dict(self.invocations)})"
