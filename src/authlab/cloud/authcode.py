"""The authorization-code flow with PKCE, served by a local identity provider.

A browser app (a *public client*: it holds no secret) signs users in through a redirect: the
provider sends the browser back with a one-time **authorization code**, and the app redeems it
at the token endpoint. Whoever steals that code on the way (a malicious app registered for the
same redirect URI, a log, the browser history) could redeem it too. PKCE (RFC 7636) binds the
code to the app that asked for it: the app keeps a random ``code_verifier``, sends only its
hash (``code_challenge = BASE64URL(SHA256(code_verifier))``, method ``S256``) with the
authorization request, and must show the verifier itself to redeem the code. RFC 9700 (OAuth
2.0 Security Best Current Practice, §2.1.1) requires PKCE of public clients, asks clients to
use ``S256`` (``plain`` exposes the verifier in the request), and asks servers to accept a
``code_verifier`` only for a code issued with a ``code_challenge`` (no downgrade).

:class:`AuthorizationServer` adds ``/authorize`` and ``/token`` to an
:class:`~authlab.cloud.idp.OidcIssuer`, which then issues ID and access tokens for the user
the authorization request names (the sign-in page itself is simulated: the user is taken as
signed in). Cognito's managed login serves the same two endpoints (``/oauth2/authorize``,
``/oauth2/token``) and accepts PKCE with ``S256``.

Sources: RFC 6749 §4.1 (the flow, one-time codes bound to client and redirect URI), RFC 7636
(PKCE; appendix B is the test vector), RFC 9700 §2.1.1 and §4.8 (PKCE downgrade).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from jwt.utils import base64url_encode

from ..errors import AuthLabError, ConfigurationError
from .idp import OidcIssuer
from .localhttp import HttpRequest, HttpResponse

__all__ = [
    "AuthorizationServer",
    "OAuthError",
    "pkce_pair",
    "s256_challenge",
]

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 §4.1


class OAuthError(AuthLabError):
    """An OAuth 2.0 error response: ``error`` is RFC 6749's code (``invalid_grant``,
    ``invalid_request``, ``invalid_client``, ``unauthorized_client``), the message its
    ``error_description``."""

    code = "oauth"

    def __init__(self, error: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.error = error

    def to_response(self) -> HttpResponse:
        """The token endpoint's answer: 400 (401 for ``invalid_client``) with a JSON body."""
        status = 401 if self.error == "invalid_client" else 400
        return HttpResponse.json(status, {"error": self.error, "error_description": self.message})


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without padding (RFC 7636 §4.2, ``S256``)."""
    return base64url_encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)``: 32 random bytes as 43 base64url
    characters (RFC 7636 §4.1 asks for that much entropy), and their ``S256`` challenge."""
    verifier = secrets.token_urlsafe(32)
    return verifier, s256_challenge(verifier)


@dataclass(frozen=True)
class _Client:
    client_id: str
    redirect_uris: frozenset[str]
    secret: str | None  # None: a public client (a browser or mobile app)


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str | None
    subject: str
    claims: Mapping[str, Any]
    scope: str
    expires: float
    used: bool = False
    issued: list[str] = field(default_factory=list)  # jti of the tokens it produced


class AuthorizationServer:
    """``/authorize`` and ``/token`` for ``issuer``, with PKCE.

    ``methods`` are the challenge methods accepted (default ``("S256",)``: ``plain`` is refused,
    as RFC 9700 advises); a public client must send a challenge (``require_pkce_for_public``).
    Codes live ``code_lifetime`` seconds and are single use: a second redemption is refused,
    and the tokens of the first are marked revoked (:attr:`revoked`), as RFC 6749 §4.1.2 asks.
    """

    def __init__(
        self,
        issuer: OidcIssuer,
        *,
        methods: Collection[str] = ("S256",),
        code_lifetime: float = 60,
        require_pkce_for_public: bool = True,
    ) -> None:
        unknown = set(methods) - {"S256", "plain"}
        if not methods or unknown:
            raise ConfigurationError(f"PKCE methods are 'S256' and 'plain', not {sorted(unknown)}.")
        self.issuer = issuer
        self.methods = tuple(methods)
        self.code_lifetime = code_lifetime
        self.require_pkce_for_public = require_pkce_for_public
        self._clients: dict[str, _Client] = {}
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self.revoked: set[str] = set()
        """``jti`` of tokens revoked because their code was redeemed twice."""
        issuer.metadata.update(
            authorization_endpoint=issuer.url + "/authorize",
            token_endpoint=issuer.url + "/token",
            grant_types_supported=["authorization_code"],
            code_challenge_methods_supported=list(self.methods),
        )
        issuer.add_route("GET", "/authorize", self._http_authorize)
        issuer.add_route("POST", "/token", self._http_token)

    # ------------------------------------------------------------------ clients
    def register_client(
        self, client_id: str, redirect_uris: Collection[str], *, secret: str | None = None
    ) -> None:
        """Register an app: its exact redirect URIs, and a secret only if it can keep one."""
        if not client_id or not redirect_uris:
            raise ConfigurationError("A client needs an id and at least one redirect URI.")
        self._clients[client_id] = _Client(client_id, frozenset(redirect_uris), secret)

    # ------------------------------------------------------------------ the two steps
    def authorize(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        subject: str,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
        scope: str = "openid",
        state: str | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """The redirect back to the app once ``subject`` has signed in: ``redirect_uri`` with
        ``code`` (and ``state``). Raises :class:`OAuthError` for a bad request."""
        client = self._clients.get(client_id)
        if client is None:
            raise OAuthError("unauthorized_client", f"Unknown client_id {client_id!r}.")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError(
                "invalid_request",
                "redirect_uri is not one this client registered (compared exactly).",
            )
        method = None
        if code_challenge is not None:
            method = code_challenge_method or "plain"  # RFC 7636 §4.3: the default is plain
            if method not in self.methods:
                raise OAuthError(
                    "invalid_request",
                    f"code_challenge_method {method!r} is not accepted; use "
                    f"{' or '.join(self.methods)}.",
                    hint="S256 sends only a hash of the verifier; plain would expose it.",
                )
            if not _VERIFIER.match(code_challenge):
                raise OAuthError(
                    "invalid_request", "code_challenge is not 43-128 URL-safe characters."
                )
        elif client.secret is None and self.require_pkce_for_public:
            raise OAuthError(
                "invalid_request",
                "A public client must send a code_challenge (PKCE, RFC 9700 §2.1.1).",
            )
        code = secrets.token_urlsafe(24)
        grant = _Grant(
            client_id,
            redirect_uri,
            code_challenge,
            method,
            subject,
            dict(claims or {}),
            scope,
            self.issuer.clock.now() + self.code_lifetime,
        )
        with self._lock:
            self._grants[code] = grant
        query = {"code": code} | ({"state": state} if state is not None else {})
        return f"{redirect_uri}?{urlencode(query)}"

    def redeem(
        self,
        *,
        code: str,
        client_id: str,
        redirect_uri: str,
        code_verifier: str | None = None,
        client_secret: str | None = None,
    ) -> dict[str, Any]:
        """Exchange ``code`` for tokens (``id_token``, ``access_token``, ``token_type``,
        ``expires_in``). Raises :class:`OAuthError` (``invalid_grant`` for a code that is
        unknown, used, expired, for another client or redirect URI, or whose verifier is
        missing or wrong)."""
        client = self._clients.get(client_id)
        if client is None or (
            client.secret is not None
            and not hmac.compare_digest(str(client_secret or ""), client.secret)
        ):
            raise OAuthError("invalid_client", "Unknown client, or wrong client secret.")
        with self._lock:
            grant = self._grants.get(code)
            if grant is None:
                raise OAuthError("invalid_grant", "Unknown authorization code.")
            if grant.used:
                self.revoked.update(grant.issued)
                raise OAuthError(
                    "invalid_grant",
                    "This code was already redeemed: the tokens it gave are revoked."
                    if grant.issued
                    else "This code was already tried once: a code is single use.",
                )
            grant.used = True  # whatever happens next, a code is tried once
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            raise OAuthError(
                "invalid_grant", "The code was issued to another client or redirect_uri."
            )
        if self.issuer.clock.now() >= grant.expires:
            raise OAuthError("invalid_grant", "The authorization code has expired.")
        self._check_verifier(grant, code_verifier)
        lifetime = int(self.issuer.lifetime)
        ids = [secrets.token_hex(8), secrets.token_hex(8)]
        id_token = self.issuer.issue(
            {**grant.claims, "jti": ids[0]},
            subject=grant.subject,
            audience=client_id,
            lifetime=lifetime,
        )
        access_token = self.issuer.issue(
            {"client_id": client_id, "scope": grant.scope, "token_use": "access", "jti": ids[1]},
            subject=grant.subject,
            audience=None,
            lifetime=lifetime,
        )
        grant.issued += ids
        return {
            "id_token": id_token,
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": grant.scope,
        }

    def _check_verifier(self, grant: _Grant, verifier: str | None) -> None:
        if grant.challenge is None:
            if verifier is not None:  # RFC 9700 §2.1.1: no PKCE downgrade
                raise OAuthError(
                    "invalid_grant", "code_verifier sent for a code issued without a challenge."
                )
            return
        if verifier is None:
            raise OAuthError(
                "invalid_grant",
                "This code was issued with a code_challenge: the code_verifier is missing.",
                hint="Only the app that started the sign-in holds the verifier.",
            )
        if not _VERIFIER.match(verifier):
            raise OAuthError("invalid_grant", "code_verifier is not 43-128 URL-safe characters.")
        expected = s256_challenge(verifier) if grant.method == "S256" else verifier
        if not hmac.compare_digest(expected, grant.challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")

    # ------------------------------------------------------------------ HTTP
    def _http_authorize(self, request: HttpRequest) -> HttpResponse:
        query = {k: v[-1] for k, v in parse_qs(request.query).items()}
        if query.get("response_type") != "code":
            return OAuthError(
                "unsupported_response_type", "response_type must be code."
            ).to_response()
        try:
            location = self.authorize(
                client_id=query.get("client_id", ""),
                redirect_uri=query.get("redirect_uri", ""),
                subject=query.get("login_hint", "user-1"),  # the simulated sign-in
                code_challenge=query.get("code_challenge"),
                code_challenge_method=query.get("code_challenge_method"),
                scope=query.get("scope", "openid"),
                state=query.get("state"),
            )
        except OAuthError as error:  # never redirect to an unchecked URI: answer here
            return error.to_response()
        return HttpResponse(302, {"location": location}, b"")

    def _http_token(self, request: HttpRequest) -> HttpResponse:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "authorization_code":
            return OAuthError(
                "unsupported_grant_type", "grant_type must be authorization_code."
            ).to_response()
        missing = [k for k in ("code", "client_id", "redirect_uri") if not form.get(k)]
        if missing:
            return OAuthError("invalid_request", f"Missing {', '.join(missing)}.").to_response()
        try:
            tokens = self.redeem(
                code=form["code"],
                client_id=form["client_id"],
                redirect_uri=form["redirect_uri"],
                code_verifier=form.get("code_verifier"),
                client_secret=form.get("client_secret"),
            )
        except OAuthError as error:
            return error.to_response()
        return HttpResponse.json(200, tokens, {"cache-control": "no-store"})
