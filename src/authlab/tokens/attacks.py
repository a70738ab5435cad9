"""The attack gallery: forged tokens, a naive verifier they fool, and the strict one.

Built once here and shared by notebook 03's lesson, its hidden tests and the unit
tests. :func:`make_lab` creates a simulated issuer (an RSA key published as a JWKS,
plus an EC key after a rotation), an attacker with keys of their own, a frozen clock and
valid ID-token claims; :meth:`Lab.gallery` forges one token per attack;
:class:`~authlab.tokens.forge.NaiveVerifier` is what not to write; :meth:`Lab.strict_verify` is
:func:`authlab.tokens.verify.verify_token` configured for the lab.

Sources: RFC 8725 (JWT Best Current Practices), PortSwigger's JWT labs, the CVEs in
the course's reference notes. Every key is generated at run time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ..clock import FrozenClock
from ..errors import (
    AlgorithmNotAllowedError,
    AudienceError,
    ExpiredTokenError,
    ImmatureTokenError,
    IssuedInFutureError,
    IssuerError,
    MalformedTokenError,
    MissingClaimError,
    SignatureError,
    TokenError,
    TokenUseError,
    UnknownKeyError,
)
from .forge import NaiveVerifier, b64url, b64url_json, crack_hs256, sign, weak_secrets
from .jwks import KeySet, public_jwk
from .verify import verify_token

__all__ = ["ATTACKER_SITE", "DEFENCES", "Attack", "Lab", "ValidCase", "make_lab"]

ATTACKER_SITE = "https://attacker.example"

DEFENCES = {
    "§3.1": "RFC 8725 §3.1: bind each key to its algorithms; never let the token choose.",
    "§3.3": "RFC 8725 §3.3: validate every signature; decoding is not verifying.",
    "§3.5": "RFC 8725 §3.5: keys with enough entropy (or asymmetric keys only).",
    "§3.8": "RFC 8725 §3.8: compare iss exactly (==) with the one trusted issuer.",
    "§3.9": "RFC 8725 §3.9: check that aud names this application.",
    "§3.10": "RFC 8725 §3.10: never trust the header's keys, URLs or kid beyond a lookup.",
    "§3.12": "RFC 8725 §3.12: mutually exclusive rules per kind of token (token_use).",
    "kid": "Look kid up only in the trusted set (refetch once, rate-limited).",
    "time": "RFC 7519 §4.1.4-4.1.6: require exp; check exp, nbf, iat against the clock.",
    "crit": "RFC 7515 §4.1.11: refuse critical header extensions you do not understand.",
    "shape": "RFC 7519 §7.2: refuse anything that is not header.payload.signature (and huge).",
}
"""The rule that stops each attack, with its source (the notebook's checklist)."""


@dataclass(frozen=True)
class Attack:
    """One forged token: what it tries, what stops it, and which naive flaw it exploits."""

    name: str
    family: str
    title: str
    token: str
    expected: type[TokenError]
    """The error :func:`authlab.tokens.verify.verify_token` raises for it."""
    flaw: str
    """The naive verifier it fools: ``decode_only``, ``trusts_header`` or ``kid_in_sql``."""
    defence: str
    """The rule that stops it, with its source (RFC 8725 section, RFC 7519...)."""


@dataclass(frozen=True)
class ValidCase:
    """A token that a strict verifier must still accept, with the settings to use."""

    name: str
    token: str
    overrides: dict[str, Any] = field(default_factory=dict)
    """Changes to the lab's settings: ``audience`` and/or ``leeway``."""


@dataclass
class Lab:
    """A simulated issuer, the keys it publishes, an attacker, and a frozen clock."""

    issuer: str
    audience: str
    kid: str
    issuer_key: rsa.RSAPrivateKey
    rotated_kid: str
    rotated_key: ec.EllipticCurvePrivateKey
    attacker_key: rsa.RSAPrivateKey
    clock: FrozenClock
    jwks: dict[str, Any]
    keys: KeySet
    legacy_secret: str
    web: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    database: sqlite3.Connection = field(default=None, repr=False)  # type: ignore[assignment]

    # ------------------------------------------------------------------ tokens

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid ID-token claims for alice, now; ``changes`` override (None deletes)."""
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "sub": "7d3f0c1e-alice",
            "iss": self.issuer,
            "aud": self.audience,
            "token_use": "id",
            "cognito:username": "alice",
            "role": "user",
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, claims: dict[str, Any] | None = None, **headers: Any) -> str:
        """A token the issuer really signed (RS256, kid ``self.kid``) over ``claims``."""
        return sign(
            self.claims() if claims is None else claims,
            self.issuer_key,
            "RS256",
            {"kid": self.kid, **headers},
        )

    def legacy_token(self) -> str:
        """A token from the old HS256 service whose secret is a dictionary word."""
        return sign(self.claims(), self.legacy_secret.encode(), "HS256", {"kid": "legacy-hs"})

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The strict verifier's settings for this lab (ID tokens for ``audience``)."""
        return {
            "issuer": self.issuer,
            "audience": self.audience,
            "token_use": "id",
            "leeway": 0.0,
            **overrides,
        }

    def strict_verify(self, token: str, **overrides: Any) -> dict[str, Any]:
        """:func:`authlab.tokens.verify.verify_token` with the lab's keys, settings and clock."""
        return verify_token(token, self.keys, clock=self.clock, **self.settings(**overrides))

    def naive_for(self, attack: Attack) -> NaiveVerifier:
        """The naive verifier that ``attack`` fools."""
        return NaiveVerifier(
            self,
            check_signature=attack.flaw != "decode_only",
            key_lookup="sql" if attack.flaw == "kid_in_sql" else "file",
        )

    def naive_outcome(self, attack: Attack) -> str:
        """``"accepted role=..."`` or ``"crashed with <Exception>"``: how the naive verifier fell."""
        try:
            claims = self.naive_for(attack).verify(attack.token)
        except Exception as exc:  # noqa: BLE001 - showing how it crashes is the point
            return f"crashed with {type(exc).__name__}"
        return f"accepted (role={claims.get('role')!r})" if isinstance(claims, dict) else "accepted"

    # ------------------------------------------------------------------ the gallery

    def gallery(self) -> list[Attack]:
        """Every attack of notebook 03, as forged tokens, in the order the lesson shows them."""
        now = int(self.clock.now())
        admin = self.claims(role="admin")
        h, p, s = self.token().split(".")  # an honest token, to cut and paste from
        h_admin, p_admin, _ = self.token(admin).split(".")  # only its header and payload used
        kid, attacker, pem = self.kid, self.attacker_key, self.files[f"/srv/keys/{self.kid}"]
        jwks_url, cert_url = f"{ATTACKER_SITE}/.well-known/jwks.json", f"{ATTACKER_SITE}/cert.pem"
        other_pool = self.issuer.rsplit("_", 1)[0] + "_OtherPool"
        cracked = (crack_hs256(self.legacy_token(), weak_secrets()) or "").encode()
        deep = b'{"a":' + b"[" * 40_000 + b"]" * 40_000 + b"}"

        def claims(**changes: Any) -> str:
            return self.token(self.claims(**changes))

        rows: list[tuple[str, str, str, str, type[TokenError], str]] = [
            *[
                (f"alg_{v}", "alg none", f'alg "{v}", no signature',
                 sign(admin, None, v, {"kid": kid}), AlgorithmNotAllowedError, "§3.1")
                for v in ("none", "None", "NONE", "nOnE")
            ],
            ("signature_stripped", "signature", "signature removed", f"{h_admin}.{p_admin}.",
             SignatureError, "§3.3"),
            ("payload_tampered", "signature", 'role "user" changed to "admin"',
             f"{h}.{b64url_json(admin)}.{s}", SignatureError, "§3.3"),
            ("hs256_with_rsa_public_key", "algorithm confusion",
             "HS256 with the issuer's public key as the secret",
             sign(admin, pem, "HS256", {"kid": kid}), AlgorithmNotAllowedError, "§3.1"),
            ("jwk_header_injection", "key from the token", "attacker's key embedded as jwk",
             sign(admin, attacker, "RS256", {"kid": kid, "jwk": public_jwk(attacker, "a")}),
             SignatureError, "§3.10"),
            ("jku_injection", "key from the token", "jku points at the attacker's JWKS",
             sign(admin, attacker, "RS256", {"kid": "attacker-key", "jku": jwks_url}),
             UnknownKeyError, "§3.10"),
            ("x5u_injection", "key from the token", "x5u points at the attacker's certificate",
             sign(admin, attacker, "RS256", {"kid": kid, "x5u": cert_url}),
             SignatureError, "§3.10"),
            ("kid_path_traversal", "kid", "kid ../../dev/null: an empty HMAC secret",
             sign(admin, b"", "HS256", {"kid": "../../../../../../dev/null"}),
             AlgorithmNotAllowedError, "§3.10"),
            ("kid_sql_injection", "kid", "kid injects SQL returning the attacker's secret",
             sign(admin, b"attacker-chosen-secret", "HS256",
                  {"kid": "x' UNION SELECT 'attacker-chosen-secret' --"}),
             AlgorithmNotAllowedError, "§3.10"),
            ("unknown_kid", "kid", "a kid the issuer never published",
             sign(admin, attacker, "RS256", {"kid": "authlab-key-99"}), UnknownKeyError, "kid"),
            ("expired", "time", "exp ten minutes ago", claims(exp=now - 600, iat=now - 4200),
             ExpiredTokenError, "time"),
            ("not_yet_valid", "time", "nbf ten minutes ahead", claims(nbf=now + 600),
             ImmatureTokenError, "time"),
            ("iat_in_future", "time", "issued ten minutes in the future",
             claims(iat=now + 600, exp=now + 4200), IssuedInFutureError, "time"),
            ("missing_exp", "time", "no exp: valid forever", claims(exp=None),
             MissingClaimError, "time"),
            ("wrong_issuer", "claims", "another issuer", claims(iss="https://login.attacker.example"),
             IssuerError, "§3.8"),
            ("issuer_superstring", "claims", "the issuer plus a suffix: passes an 'in' check",
             claims(iss=self.issuer + ".attacker.example"), IssuerError, "§3.8"),
            ("wrong_audience", "claims", "a token minted for another app",
             claims(aud="another-app-client"), AudienceError, "§3.9"),
            ("access_token_as_id_token", "claims", "the other token type (token_use access)",
             claims(token_use="access", aud=None, client_id=self.audience,
                    scope="aws.cognito.signin.user.admin"), TokenUseError, "§3.12"),
            ("other_pool_same_key", "claims", "another pool, signed by the same key",
             claims(iss=other_pool, aud="other-pool-client"), IssuerError, "§3.8"),
            ("unknown_crit", "header", "a critical extension nobody understands",
             self.token(self.claims(), crit=["urn:example:must"], **{"urn:example:must": 1}),
             MalformedTokenError, "crit"),
            ("weak_hs256_secret", "weak secret", "HS256 secret found in a small dictionary",
             sign(admin, cracked, "HS256", {"kid": "legacy-hs"}), AlgorithmNotAllowedError,
             "§3.5"),
            *[
                (f"malformed_{name}", "malformed", name.replace("_", " "), token,
                 MalformedTokenError, "shape")
                for name, token in {
                    "two_segments": f"{h}.{p}",
                    "four_segments": f"{h}.{p}.{s}.{s}",
                    "bad_base64": f"{h[:-3]}!*~.{p}.{s}",
                    "non_object_json": f"{b64url_json(['alg', 'RS256'])}.{p}.{s}",
                    "very_large_token": f"{h}.{b64url(deep)}.{s}",
                }.items()
            ],
        ]  # fmt: skip
        flaws = {"signature_stripped": "decode_only", "payload_tampered": "decode_only",
                 "kid_sql_injection": "kid_in_sql"}  # fmt: skip
        return [
            Attack(name, family, title, token, expected, flaws.get(name, "trusts_header"),
                   DEFENCES[rule])
            for name, family, title, token, expected, rule in rows
        ]  # fmt: skip

    def valid_cases(self) -> list[ValidCase]:
        """Tokens a strict verifier must accept (so "refuse everything" fails too)."""
        now = int(self.clock.now())
        rotated = sign(self.claims(), self.rotated_key, "ES256", {"kid": self.rotated_kid})
        return [
            ValidCase("fresh_id_token", self.token()),
            ValidCase(
                "expired_30s_within_leeway",
                self.token(self.claims(exp=now - 30, iat=now - 3630)),
                {"leeway": 60},
            ),
            ValidCase(
                "nbf_30s_ahead_within_leeway", self.token(self.claims(nbf=now + 30)), {"leeway": 60}
            ),
            ValidCase(
                "iat_30s_ahead_within_leeway", self.token(self.claims(iat=now + 30)), {"leeway": 60}
            ),
            ValidCase(
                "aud_list_naming_us",
                self.token(self.claims(aud=["analytics-client", self.audience])),
            ),
            ValidCase(
                "one_of_two_audiences",
                self.token(self.claims(aud="mobile-client")),
                {"audience": [self.audience, "mobile-client"]},
            ),
            ValidCase("rotated_es256_key", rotated),
            ValidCase(
                "header_with_ignored_jku", self.token(jku=f"{ATTACKER_SITE}/.well-known/jwks.json")
            ),
        ]


def make_lab(*, now: float = 1_767_225_600, key_size: int = 2048) -> Lab:
    """A fresh lab: new keys, a clock frozen at ``now`` (default 2026-01-01T00:00Z)."""
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    rotated_key = ec.generate_private_key(ec.SECP256R1())
    kid, rotated_kid = "authlab-key-1", "authlab-key-2"
    jwks = {"keys": [public_jwk(issuer_key, kid), public_jwk(rotated_key, rotated_kid)]}
    secrets = weak_secrets()
    legacy_secret = secrets[len(secrets) * 2 // 3]
    public_pem = issuer_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    start = datetime.fromtimestamp(now, tz=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(attacker_key.public_key())
        .serial_number(1)
        .not_valid_before(start - timedelta(days=1))
        .not_valid_after(start + timedelta(days=30))
        .sign(attacker_key, hashes.SHA256())
    )
    database = sqlite3.connect(":memory:", check_same_thread=False)
    database.execute("CREATE TABLE keys (kid TEXT PRIMARY KEY, key BLOB)")
    database.execute("INSERT INTO keys VALUES (?, ?)", (kid, public_pem))
    return Lab(
        issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AuthLab",
        audience="authlab-web-client",
        kid=kid,
        issuer_key=issuer_key,
        rotated_kid=rotated_kid,
        rotated_key=rotated_key,
        attacker_key=attacker_key,
        clock=FrozenClock(now),
        jwks=jwks,
        keys=KeySet.from_jwks(jwks),
        legacy_secret=legacy_secret,
        web={
            f"{ATTACKER_SITE}/.well-known/jwks.json": {
                "keys": [public_jwk(attacker_key, "attacker-key")]
            },
            f"{ATTACKER_SITE}/cert.pem": certificate.public_bytes(serialization.Encoding.PEM),
        },
        files={
            f"/srv/keys/{kid}": public_pem,
            "/srv/keys/legacy-hs": legacy_secret.encode(),
            "/dev/null": b"",
        },
        database=database,
    )
