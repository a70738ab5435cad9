"""A simulated OpenID Connect issuer on 127.0.0.1: its own RSA keys, discovery, JWKS, tokens.

Real identity providers (Firebase Authentication, Entra ID, Auth0...) sign tokens
with private keys we do not have. :class:`OidcIssuer` plays one locally: it makes
RSA key pairs at run time, serves the public halves over HTTP as a JSON Web Key Set,
publishes an OpenID discovery document, and issues RS256 tokens with any claims,
lifetimes and headers you like (including broken ones, to test verifiers)::

    with OidcIssuer(audience="my-api") as idp:          # issuer = its own URL
        token = idp.issue({"scope": "notes/read"}, subject="alice")
        requests.get(idp.discovery_url).json()["jwks_uri"] == idp.jwks_url

Like a Cognito pool on the moto server, the issuer *name* (``iss``) can differ from
where the keys are served: ``OidcIssuer.firebase("demo-project")`` issues tokens with
``iss = https://securetoken.google.com/demo-project`` while its keys live on
127.0.0.1. A verifier must then be told where to fetch the keys (``jwks_url``).

Sources: OpenID Connect Discovery 1.0 §3–4 (the discovery document), RFC 7517 (JWK),
Firebase "Verify ID tokens" (the Firebase claims).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ConfigurationError
from .localhttp import HttpRequest, HttpResponse, LocalHttpServer

__all__ = ["FIREBASE_ISSUER_PREFIX", "OidcIssuer"]

FIREBASE_ISSUER_PREFIX = "https://securetoken.google.com/"
"""Firebase ID tokens have ``iss`` = this prefix + the project id."""

_RSA_ALGORITHMS = {"RS256", "RS384", "RS512"}


class OidcIssuer:
    """A local OIDC identity provider with rotating RSA keys.

    ``issuer`` is the ``iss`` it writes (default: its own URL, so OIDC discovery from
    the issuer works); ``audience`` the default ``aud`` (omitted when ``None``);
    ``lifetime`` the default seconds until ``exp``; ``kid`` the first key's id (random
    when ``None``); ``clock`` the time it stamps (``iat``, ``exp``).
    """

    def __init__(
        self,
        issuer: str | None = None,
        *,
        audience: str | list[str] | None = None,
        lifetime: float = 3600,
        kid: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        algorithm: str = "RS256",
        port: int = 0,
        name: str = "simulated identity provider",
    ) -> None:
        if algorithm not in _RSA_ALGORITHMS:
            raise ConfigurationError(
                f"OidcIssuer signs with RSA only, not {algorithm!r}.",
                hint=f"Use one of {sorted(_RSA_ALGORITHMS)}.",
            )
        self._issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.clock = clock
        self.algorithm = algorithm
        self.name = name
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._published: list[str] = []
        self._lock = threading.Lock()
        self.current_kid = self.rotate(kid)
        self._routes: dict[tuple[str, str], Callable[[HttpRequest], HttpResponse]] = {}
        self._server = LocalHttpServer(self._app, port=port, name=name)
        self.metadata: dict[str, Any] = {}
        """More members of the discovery document (e.g. the endpoints of an
        :class:`~authlab.cloud.authcode.AuthorizationServer`)."""
        self.requests: list[str] = []
        """Paths requested so far (e.g. to show how often a verifier fetched the JWKS)."""

    # ------------------------------------------------------------------ factories
    @classmethod
    def firebase(cls, project_id: str, **kwargs: Any) -> OidcIssuer:
        """An issuer shaped like Firebase Authentication for ``project_id``:
        ``iss`` = ``https://securetoken.google.com/<project>``, ``aud`` = the project id."""
        kwargs.setdefault("name", f"simulated Firebase Authentication ({project_id})")
        return cls(FIREBASE_ISSUER_PREFIX + project_id, audience=project_id, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> OidcIssuer:
        """Serve the discovery document and the JWKS on 127.0.0.1. Returns ``self``."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving (tokens already issued keep their signatures)."""
        self._server.stop()

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        """Where it is served: ``http://127.0.0.1:<port>`` (start it first)."""
        return self._server.url

    @property
    def issuer(self) -> str:
        """The ``iss`` it writes into tokens."""
        return self._issuer if self._issuer is not None else self.url

    @property
    def jwks_url(self) -> str:
        """The URL of its JSON Web Key Set."""
        return self.url + "/.well-known/jwks.json"

    @property
    def discovery_url(self) -> str:
        """The URL of its OpenID discovery document."""
        return self.url + "/.well-known/openid-configuration"

    # ------------------------------------------------------------------ keys
    def rotate(self, kid: str | None = None, *, keep_old: bool = True) -> str:
        """Make a new signing key and publish it; return its ``kid``.

        With ``keep_old`` the previous keys stay in the JWKS (tokens they signed still
        verify), as providers do during a rotation; otherwise they are withdrawn.
        """
        kid = kid or secrets.token_hex(8)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with self._lock:
            if not keep_old:
                self._published.clear()
            self._keys[kid] = key
            self._published.append(kid)
            self.current_kid = kid
        return kid

    def withdraw(self, kid: str) -> None:
        """Remove ``kid`` from the published JWKS (it can still sign, e.g. as a stolen key)."""
        with self._lock:
            if kid in self._published:
                self._published.remove(kid)

    def public_jwk(self, kid: str | None = None) -> dict[str, Any]:
        """The public JWK of ``kid`` (default: the current key)."""
        kid = kid or self.current_kid
        jwk = json.loads(RSAAlgorithm.to_jwk(self._keys[kid].public_key()))
        return {**jwk, "kid": kid, "alg": self.algorithm, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        """The published JSON Web Key Set, as served at :attr:`jwks_url`."""
        with self._lock:
            published = list(self._published)
        return {"keys": [self.public_jwk(kid) for kid in published]}

    def private_key(self, kid: str | None = None) -> rsa.RSAPrivateKey:
        """The private key of ``kid`` (for demos that forge or re-sign tokens)."""
        return self._keys[kid or self.current_kid]

    def discovery(self) -> dict[str, Any]:
        """The OpenID discovery document, as served at :attr:`discovery_url`."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "response_types_supported": ["code", "token", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.algorithm],
            **self.metadata,
        }

    # ------------------------------------------------------------------ tokens
    def sign(
        self, payload: Mapping[str, Any], *, kid: str | None = None, headers: Mapping | None = None
    ) -> str:
        """Sign ``payload`` exactly as given (no claims added). A header value of
        ``None`` removes that header (e.g. ``headers={"kid": None}``)."""
        kid = kid or self.current_kid
        header = {"typ": "JWT", "kid": kid, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(dict(payload), self._keys[kid], algorithm=self.algorithm, headers=header)

    def issue(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        subject: str | None = "user-1",
        audience: str | list[str] | None = ...,  # type: ignore[assignment]
        lifetime: float | None = None,
        issued_at: float | None = None,
        kid: str | None = None,
        headers: Mapping[str, Any] | None = None,
        omit: Iterable[str] = (),
    ) -> str:
        """A signed token: ``iss``, ``sub``, ``aud``, ``iat``, ``exp`` (and ``jti``), then
        ``claims`` on top (they win). ``audience=None`` leaves ``aud`` out (default: the
        issuer's); ``issued_at`` defaults to the clock; ``omit`` drops named claims."""
        now = int(self.clock.now() if issued_at is None else issued_at)
        aud = self.audience if audience is ... else audience
        payload: dict[str, Any] = {"iss": self.issuer}
        if subject is not None:
            payload["sub"] = subject
        if aud is not None:
            payload["aud"] = aud
        payload.update(
            iat=now,
            exp=now + int(self.lifetime if lifetime is None else lifetime),
            jti=secrets.token_hex(8),
        )
        payload.update(claims or {})
        for name in omit:
            payload.pop(name, None)
        return self.sign(payload, kid=kid, headers=headers)

    def firebase_token(
        self,
        uid: str,
        *,
        email: str | None = None,
        sign_in_provider: str = "password",
        auth_time: float | None = None,
        **extra: Any,
    ) -> str:
        """A token shaped like a Firebase ID token (``auth_time``, ``user_id``,
        ``firebase.sign_in_provider``...). ``extra`` keyword arguments go to :meth:`issue`."""
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "auth_time": int(now if auth_time is None else auth_time),
            "user_id": uid,
            "firebase": {"identities": {}, "sign_in_provider": sign_in_provider},
        }
        if email is not None:
            claims.update(email=email, email_verified=True)
            claims["firebase"]["identities"] = {"email": [email]}
        claims.update(extra.pop("claims", {}))
        extra.setdefault("omit", ("jti",))  # Firebase ID tokens carry no jti
        return self.issue(claims, subject=uid, **extra)

    # ------------------------------------------------------------------ HTTP
    def add_route(
        self, method: str, path: str, handler: Callable[[HttpRequest], HttpResponse]
    ) -> None:
        """Serve ``handler`` at ``method path`` too (e.g. a token endpoint for federation)."""
        self._routes[(method.upper(), path)] = handler

    def _app(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request.path)
        custom = self._routes.get((request.method, request.path))
        if custom is not None:
            return custom(request)
        if request.method in ("GET", "HEAD"):
            if request.path.endswith("/.well-known/openid-configuration"):
                return HttpResponse.json(200, self.discovery())
            if request.path.endswith("/.well-known/jwks.json"):
                return HttpResponse.json(200, self.jwks())
        return HttpResponse.json(404, {"message": "Not Found"})

    def __repr__(self) -> str:
        if not self._server.running:
            return f"OidcIssuer(issuer={self._issuer!r}, stopped)"
        return f"OidcIssuer(issuer={self.issuer!r}, at {self.url})"
