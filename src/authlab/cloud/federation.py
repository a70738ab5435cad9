"""Identity federation: a Cognito user pool that trusts an external OIDC provider (Entra ID).

In real Cognito the exchange happens in the pool's hosted UI (managed login): the user
is redirected to the provider, signs in there, comes back with an authorization code;
Cognito redeems it at the provider's token endpoint, verifies the provider's ID token,
applies the pool's attribute mapping, links or creates a *federated user* named
``<ProviderName>_<sub>`` and issues the pool's own tokens. moto stores the identity
provider and its attribute mapping but performs none of that, so :class:`Federation`
does the steps here, in the open:

1. read the provider's configuration from the pool (``describe_identity_provider``);
2. verify the upstream ID token's signature and lifetime with the provider's JWKS;
3. run *your* upstream checks (issuer, tenant, audience) and *your* claim mapping;
4. link or create the user in the pool (``admin_get_user`` / ``admin_create_user`` /
   ``admin_update_user_attributes``);
5. obtain the pool's tokens. This last step is simulated: a random one-time password is
   set and ``admin_initiate_auth`` signs the user in, because moto has no federation
   endpoint. Real Cognito never gives a federated user a password.

Sources: Amazon Cognito developer guide, "Adding OIDC identity providers to a user pool"
and "Specifying identity provider attribute mappings for your user pool"; Microsoft
identity platform, "ID token claims reference" (``iss``, ``tid``, ``oid``,
``preferred_username``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jwt.algorithms import get_default_algorithms
from jwt.utils import base64url_encode

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import (
    ConfigurationError,
    ExpiredTokenError,
    ImmatureTokenError,
    IssuedInFutureError,
    MalformedTokenError,
    MissingClaimError,
    SignatureError,
)
from ..tokens.jwks import KeySet
from ..tokens.jws import split_token
from ..tokens.verify import Verifier

__all__ = [
    "ENTRA_ISSUER_TEMPLATE",
    "Federation",
    "FederationResult",
    "OidcProvider",
    "SOCIAL_ISSUERS",
    "create_oidc_provider",
    "entra_claims",
    "entra_issuer",
    "federated_username",
]

SOCIAL_ISSUERS = {
    "Google": "https://accounts.google.com",
    "SignInWithApple": "https://appleid.apple.com",
}
"""The ``iss`` of the social providers Cognito supports whose sign-in returns an OIDC ID token."""

ENTRA_ISSUER_TEMPLATE = "https://login.microsoftonline.com/{tenant}/v2.0"
"""The ``iss`` of Microsoft Entra ID v2.0 tokens; ``{tenant}`` is the tenant id (``tid``)."""

_ALGORITHMS = ("RS256",)
_ALGS = get_default_algorithms()


def entra_issuer(tenant_id: str) -> str:
    """The issuer Entra ID writes in tokens of tenant ``tenant_id``."""
    return ENTRA_ISSUER_TEMPLATE.format(tenant=tenant_id)


def entra_claims(
    *,
    tenant_id: str,
    oid: str,
    preferred_username: str,
    name: str,
    client_id: str,
    email: str | None = None,
) -> dict[str, Any]:
    """Identity claims shaped like a Microsoft Entra ID v2.0 ID token, for a simulated issuer.

    ``iss`` names the tenant, ``tid`` is the tenant id, ``oid`` the user's id in the tenant
    and ``sub`` a per-application (pairwise) id, derived here from ``oid`` and ``client_id``.
    Add ``aud``, ``iat`` and ``exp`` by issuing them with :meth:`authlab.cloud.idp.OidcIssuer.issue`.
    """
    digest = hashlib.sha256(f"{oid}:{client_id}".encode()).digest()
    claims: dict[str, Any] = {
        "iss": entra_issuer(tenant_id),
        "sub": base64url_encode(digest).decode("ascii"),
        "tid": tenant_id,
        "oid": oid,
        "preferred_username": preferred_username,
        "name": name,
        "ver": "2.0",
    }
    if email is not None:
        claims["email"] = email
    return claims


def federated_username(provider_name: str, subject: str) -> str:
    """Cognito's user name for a federated user: ``<ProviderName>_<upstream sub>``."""
    return f"{provider_name}_{subject}"


@dataclass(frozen=True)
class OidcProvider:
    """An OIDC identity provider as the pool stores it (``describe_identity_provider``)."""

    name: str
    issuer: str
    client_id: str
    attribute_mapping: Mapping[str, str]
    jwks_uri: str | None = None
    details: Mapping[str, str] = field(default_factory=dict, repr=False)  # holds a secret

    @classmethod
    def from_pool(cls, cognito: Any, pool_id: str, name: str) -> OidcProvider:
        """Read provider ``name`` of pool ``pool_id`` (boto3 ``cognito-idp`` client)."""
        provider = cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName=name)[
            "IdentityProvider"
        ]
        kind = provider.get("ProviderType")
        if kind not in SOCIAL_ISSUERS and kind != "OIDC":
            raise ConfigurationError(
                f"Identity provider {name!r} is of type {kind!r}: only OIDC providers and "
                f"{sorted(SOCIAL_ISSUERS)} sign ID tokens this exchange can verify.",
                hint="Facebook and Login with Amazon are OAuth 2.0 only: Cognito reads their "
                "users from their APIs, with no ID token.",
            )
        details = provider.get("ProviderDetails", {})
        return cls(
            name=name,
            issuer=details.get("oidc_issuer") or SOCIAL_ISSUERS[kind],
            client_id=details["client_id"],
            attribute_mapping=dict(provider.get("AttributeMapping", {})),
            jwks_uri=details.get("jwks_uri"),
            details=dict(details),
        )


def create_oidc_provider(
    cognito: Any,
    pool_id: str,
    *,
    name: str,
    issuer: str,
    client_id: str,
    attribute_mapping: Mapping[str, str],
    jwks_uri: str | None = None,
    client_secret: str | None = None,
    scopes: str = "openid profile email",
) -> OidcProvider:
    """Register an OIDC provider on the pool, as an administrator does once.

    ``attribute_mapping`` maps *pool* attributes to *provider* claims, e.g.
    ``{"email": "email", "custom:tenant_id": "tid", "username": "sub"}``.
    """
    details = {
        "client_id": client_id,
        "client_secret": client_secret or secrets.token_urlsafe(24),
        "attributes_request_method": "GET",
        "oidc_issuer": issuer,
        "authorize_scopes": scopes,
    }
    if jwks_uri:
        details["jwks_uri"] = jwks_uri
    cognito.create_identity_provider(
        UserPoolId=pool_id,
        ProviderName=name,
        ProviderType="OIDC",
        ProviderDetails=details,
        AttributeMapping=dict(attribute_mapping),
    )
    return OidcProvider.from_pool(cognito, pool_id, name)


@dataclass(frozen=True)
class FederationResult:
    """The outcome of one exchange: who, whether the user was new, and the pool's tokens."""

    username: str
    created: bool
    attributes: Mapping[str, str]
    tokens: Mapping[str, Any]  # Cognito's AuthenticationResult: IdToken, AccessToken, ...


CheckUpstream = Callable[[dict[str, Any], OidcProvider], None]
MapClaims = Callable[[dict[str, Any], OidcProvider], tuple[str, dict[str, str]]]


class Federation:
    """The exchange "upstream ID token in, pool tokens out" for one pool, client and provider.

    ``check_upstream(claims, provider)`` raises a :class:`~authlab.errors.TokenError` for a
    token the pool must refuse; ``map_claims(claims, provider)`` returns ``(username,
    attributes)`` for the pool. Both are yours to write; the signature check, the pool
    calls and the token issuance are done here.
    """

    def __init__(
        self,
        cognito: Any,
        *,
        pool_id: str,
        client_id: str,
        provider: OidcProvider,
        clock: Clock = SYSTEM_CLOCK,
        leeway: float = 0.0,
    ) -> None:
        if not provider.jwks_uri:
            raise ConfigurationError(
                f"Provider {provider.name!r} has no jwks_uri.",
                hint="Set ProviderDetails['jwks_uri'] (the provider's key set URL).",
            )
        self.cognito = cognito
        self.pool_id = pool_id
        self.client_id = client_id
        self.provider = provider
        self.clock = clock
        self.leeway = leeway
        self.keys = KeySet.from_url(provider.jwks_uri, clock=clock, algorithms=set(_ALGORITHMS))
        """The provider's signing keys (:class:`authlab.tokens.jwks.KeySet`)."""

    # ------------------------------------------------------------------ upstream token
    def verify_signature(self, token: str) -> dict[str, Any]:
        """The claims of ``token`` once its RS256 signature, ``exp``, ``nbf`` and ``iat`` check out.

        The key comes from the provider's JWKS (``jwks_uri``, cached, refetched once on an
        unknown ``kid``). Issuer, tenant and audience are *not* checked here: that is
        ``check_upstream``.
        """
        # MalformedTokenError if it is not a JWT; the key only from the provider's JWKS, by kid.
        header, claims, signing_input, signature = split_token(token)
        alg = header.get("alg")
        key = self.keys.key_for(header.get("kid"), alg)
        try:
            valid = _ALGS[alg].verify(signing_input, key, signature)
        except Exception:  # noqa: BLE001 - a key/signature mismatch of any kind is a bad signature
            valid = False
        if not valid:
            raise SignatureError("The upstream token's signature does not verify.")
        missing = [c for c in ("iss", "sub", "aud", "exp", "iat") if c not in claims]
        if missing:
            raise MissingClaimError(f"The upstream token has no {missing[0]}.", claim=missing[0])
        times = {c: claims.get(c) for c in ("exp", "nbf", "iat")}
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool)
            for v in times.values()
            if v is not None
        ):
            raise MalformedTokenError("The upstream token's exp, nbf and iat must be numbers.")
        now, slack = self.clock.now(), self.leeway
        if times["exp"] + slack <= now:
            raise ExpiredTokenError(
                "The upstream token has expired.",
                claim="exp",
                expected=f"> {now}",
                actual=times["exp"],
            )
        if times["nbf"] is not None and times["nbf"] - slack > now:
            raise ImmatureTokenError("The upstream token is not valid yet.", claim="nbf")
        if times["iat"] - slack > now:
            raise IssuedInFutureError("The upstream token was issued in the future.", claim="iat")
        return claims

    # ------------------------------------------------------------------ the pool
    def link_or_create(self, username: str, attributes: Mapping[str, str]) -> bool:
        """Update the federated user's attributes, or create the user; True when created."""
        user_attributes = [{"Name": k, "Value": v} for k, v in attributes.items()]
        try:
            self.cognito.admin_get_user(UserPoolId=self.pool_id, Username=username)
        except self.cognito.exceptions.UserNotFoundException:
            self.cognito.admin_create_user(
                UserPoolId=self.pool_id,
                Username=username,
                UserAttributes=user_attributes,
                MessageAction="SUPPRESS",
            )
            return True
        if user_attributes:  # Cognito refreshes mapped attributes at every federated sign-in
            self.cognito.admin_update_user_attributes(
                UserPoolId=self.pool_id, Username=username, UserAttributes=user_attributes
            )
        return False

    def _pool_tokens(self, username: str) -> dict[str, Any]:
        # SIMULATED: real Cognito issues these at the end of the hosted-UI flow, no password.
        password = "Fed-" + secrets.token_urlsafe(18) + "9a!"
        self.cognito.admin_set_user_password(
            UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True
        )
        outcome = self.cognito.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",  # an administrator's call, with IAM credentials
            AuthParameters=dict(USERNAME=username, PASSWORD=password),
        )
        if "AuthenticationResult" not in outcome:
            raise ConfigurationError(
                f"The pool answered the simulated federated sign-in with the challenge "
                f"{outcome.get('ChallengeName')!r} instead of tokens.",
                hint="Check the pool's MFA setting: a federated user is never asked for one.",
            )
        return outcome["AuthenticationResult"]

    def exchange(
        self,
        upstream_id_token: str,
        *,
        check_upstream: CheckUpstream | None,
        map_claims: MapClaims,
    ) -> FederationResult:
        """Verify the upstream ID token, check it, map it, link or create the user, issue tokens.

        ``check_upstream=None`` checks the issuer and audience with the course's strict
        verifier (:class:`authlab.tokens.verify.Verifier`): what Cognito does for a social
        provider such as Google. Raises a :class:`~authlab.errors.TokenError` (nothing is
        written to the pool) when the token is refused.
        """
        claims = self.verify_signature(upstream_id_token)
        if check_upstream is None:
            Verifier(
                self.keys,
                issuer=self.provider.issuer,
                audience=self.provider.client_id,
                clock=self.clock,
                leeway=self.leeway,
            ).verify(upstream_id_token)
        else:
            check_upstream(claims, self.provider)
        username, attributes = map_claims(claims, self.provider)
        created = self.link_or_create(username, attributes)
        return FederationResult(username, created, dict(attributes), self._pool_tokens(username))
