"""The strict reference verifier: what a bouncer checks before trusting a JWT.

:func:`verify_token` returns the claims of a token only if every check passes, in this
order, and otherwise raises the matching :class:`~authlab.errors.TokenError`:

1. shape: a string of at most ``max_length`` characters, three base64url segments
   (canonical, unpadded), header and payload JSON objects without duplicate names
   (:class:`MalformedTokenError`); no ``crit`` header, since no extension is understood
   (RFC 7515 §4.1.11);
2. key: ``alg`` one the key set allows at all, ``kid`` required and looked up only in the
   configured :class:`~authlab.tokens.jwks.KeySet` (header ``jwk``, ``jku``, ``x5u``, ``x5c`` are
   ignored), and ``alg`` bound to that key (:class:`UnknownKeyError`,
   :class:`AlgorithmNotAllowedError`);
3. signature, checked by PyJWT's algorithm classes (:class:`SignatureError`);
4. claims against ``clock.now()`` with ``leeway``: ``exp`` required and in the future,
   ``nbf`` and ``iat`` not in the future, ``iss`` exactly equal, ``token_use``, then
   ``aud``/``client_id`` (:class:`ClaimError` subclasses carrying ``claim``,
   ``expected`` and ``actual``).

No other exception type ever escapes for any token (a property test checks it); a
:class:`~authlab.errors.KeySetError` can come from fetching a key set, and a
:class:`~authlab.errors.ConfigurationError` from wrong arguments.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from jwt.algorithms import get_default_algorithms

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import (
    AlgorithmNotAllowedError,
    AudienceError,
    ClaimError,
    ClientIdError,
    ConfigurationError,
    ExpiredTokenError,
    ImmatureTokenError,
    IssuedInFutureError,
    IssuerError,
    MalformedTokenError,
    MissingClaimError,
    SignatureError,
    TokenUseError,
)
from .jwks import KeySet
from .jws import DEFAULT_MAX_LENGTH, b64url_decode, decode_unverified, split_token

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "MAX_LEEWAY",
    "MAX_NUMERIC_DATE",
    "Verifier",
    "b64url_decode",
    "decode_unverified",
    "verify_token",
]

_ALGORITHMS = get_default_algorithms()


def _short(value: Any, limit: int = 60) -> Any:
    """A value small enough to show in a message (long strings, numbers and lists are cut)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and not -(10**15) < value < 10**15:
        text = str(value) if abs(value) < 10**1000 else f"a {len(str(abs(value)))}-digit number"
        return text if len(text) <= limit else text[: limit - 3] + "..."
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 3] + "..."
    if isinstance(value, list | dict):
        text = repr(value)  # jws bounds the nesting, so repr cannot recurse too deeply
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return value


MAX_LEEWAY = 86_400
"""The largest clock skew a verifier tolerates (a day; RFC 7519 §4.1.4 speaks of "a few minutes")."""

MAX_NUMERIC_DATE = 253_402_300_799
"""9999-12-31T23:59:59Z: the latest date a token may name (Python's datetime ends there)."""


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """The claim ``name`` as seconds since the epoch, or None when absent.

    RFC 7519 §2: a NumericDate is a JSON number of seconds since 1970-01-01T00:00:00Z.
    Anything else, and any number outside 0 .. :data:`MAX_NUMERIC_DATE` (``1e308``,
    ``10**400``, a negative date), is a :class:`ClaimError`, never an arithmetic error.
    """
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    in_range = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and 0 <= value <= MAX_NUMERIC_DATE  # False for NaN; no float() of a huge int
    )
    if not in_range:
        raise ClaimError(
            f"The {name!r} claim must be a date: a number of seconds since the epoch, "
            f"from 0 to {MAX_NUMERIC_DATE} (year 9999).",
            claim=name,
            expected="NumericDate",
            actual=_short(value),
            hint="RFC 7519 §2: a NumericDate is a JSON number, such as 1700000000.",
        )
    return float(value)


def _span(seconds: float) -> str:
    """A duration a person reads at a glance: "42 s", "17 min", "5 h", "3 days"."""
    seconds = abs(seconds)
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} s"


def _moment(when: float, now: float, relation: str) -> str:
    """``when`` relative to ``now``, with the date when it is more than two days away."""
    phrase = f"{_span(when - now)} {relation}"
    if abs(when - now) < 2 * 86_400:
        return phrase
    date = datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{phrase}, on {date}"


def _as_set(value: str | Iterable[str] | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    values = frozenset([value]) if isinstance(value, str) else frozenset(value)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ConfigurationError(f"{name} must be a non-empty string or collection of strings.")
    return values


class Verifier:
    """A strict verifier holding its configuration: ``Verifier(keys, issuer=...).verify(t)``.

    Arguments are those of :func:`verify_token`. Build one per API and reuse it; the key
    set caches its keys.
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str | Collection[str] | None = None,
        client_id: str | None = None,
        token_use: str | None = None,
        audience_or_client_id: bool = False,
        leeway: float = 0.0,
        clock: Clock = SYSTEM_CLOCK,
        required: Iterable[str] = ("exp",),
        max_length: int = DEFAULT_MAX_LENGTH,
        kid_required: bool = True,
    ) -> None:
        if not isinstance(keys, KeySet):
            raise ConfigurationError("keys must be an authlab.tokens.jwks.KeySet.")
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("issuer must be the one issuer string you trust.")
        if token_use not in (None, "id", "access"):
            raise ConfigurationError("token_use must be 'id', 'access' or None.")
        if client_id is not None and (not isinstance(client_id, str) or not client_id):
            raise ConfigurationError("client_id must be a non-empty string.")
        if (
            isinstance(leeway, bool)
            or not isinstance(leeway, int | float)
            or not 0 <= leeway <= MAX_LEEWAY
        ):
            raise ConfigurationError(f"leeway must be a number of seconds from 0 to {MAX_LEEWAY}.")
        self.keys = keys
        self.issuer = issuer
        self.audience = _as_set(audience, "audience")
        self.client_id = client_id
        self.token_use = token_use
        self.audience_or_client_id = audience_or_client_id
        if audience_or_client_id and self.audience is None:
            raise ConfigurationError("audience_or_client_id=True needs audience=...")
        self.leeway = float(leeway)
        self.clock = clock
        self.required = tuple(dict.fromkeys(("exp", *required)))
        self.max_length = int(max_length)
        self.kid_required = kid_required

    # ------------------------------------------------------------------ the checks

    def verify(self, token: Any) -> dict[str, Any]:
        """The token's claims if every check passes; otherwise a :class:`TokenError`."""
        header, claims, signing_input, signature = split_token(token, self.max_length)
        self._check_header_and_signature(header, signing_input, signature)
        self._check_claims(claims)
        return claims

    def _check_header_and_signature(
        self, header: dict[str, Any], signing_input: bytes, signature: bytes
    ) -> None:
        if "crit" in header:
            raise MalformedTokenError(
                "The header marks extensions as critical ('crit') that this verifier "
                "does not understand.",
                hint="RFC 7515 §4.1.11: a token with unknown critical extensions is refused.",
            )
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.keys.algorithms:
            shown = _short(alg, 20) if isinstance(alg, str) else "(missing)"
            raise AlgorithmNotAllowedError(
                f"alg {shown!r} is not allowed; trusted keys verify {sorted(self.keys.algorithms)}."
            )
        kid = header.get("kid")
        if kid is None and not self.kid_required and len(self.keys) == 1:
            kid = self.keys.kids[0]  # a single-key issuer, such as RFC 7515's example
        key = self.keys.key_for(kid, alg)
        try:
            valid = _ALGORITHMS[alg].verify(signing_input, key, signature)
        except Exception:  # noqa: BLE001 - a key/signature mismatch of any kind is a bad signature
            valid = False
        if not valid:
            raise SignatureError("The signature does not match the header and payload.")

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in self.required:
            if name not in claims:
                raise MissingClaimError(
                    f"The token has no {name!r} claim, which is required.",
                    claim=name,
                    expected="present",
                    actual=None,
                )
        now = self.clock.now()
        leeway = self.leeway
        exp = _numeric_date(claims, "exp")
        if exp is not None and now >= exp + leeway:
            raise ExpiredTokenError(
                f"The token expired {_moment(exp, now, 'ago')}.",
                claim="exp",
                expected=now,
                actual=exp,
            )
        nbf = _numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise ImmatureTokenError(
                f"The token is not valid for another {_span(nbf - now)} (nbf).",
                claim="nbf",
                expected=now,
                actual=nbf,
            )
        iat = _numeric_date(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise IssuedInFutureError(
                f"The token says it was issued {_moment(iat, now, 'in the future')}.",
                claim="iat",
                expected=now,
                actual=iat,
            )
        self._check_issuer(claims)
        self._check_token_use(claims)
        self._check_audience(claims)

    def _check_issuer(self, claims: dict[str, Any]) -> None:
        if "iss" not in claims:
            raise MissingClaimError(
                "The token has no 'iss' claim.", claim="iss", expected=self.issuer, actual=None
            )
        iss = claims["iss"]
        if not isinstance(iss, str) or iss != self.issuer:
            raise IssuerError(
                f"The token was issued by {_short(iss)!r}, not by the trusted issuer.",
                claim="iss",
                expected=self.issuer,
                actual=_short(iss),
            )

    def _check_token_use(self, claims: dict[str, Any]) -> None:
        if self.token_use is None:
            return
        if "token_use" not in claims:
            raise MissingClaimError(
                "The token has no 'token_use' claim.",
                claim="token_use",
                expected=self.token_use,
                actual=None,
            )
        if claims["token_use"] != self.token_use:
            raise TokenUseError(
                f"This is not an {self.token_use} token.",
                claim="token_use",
                expected=self.token_use,
                actual=_short(claims["token_use"]),
            )

    def _check_audience(self, claims: dict[str, Any]) -> None:
        checked_aud = False
        if self.audience_or_client_id:
            # API Gateway's JWT authorizer: aud, or client_id only when aud is absent.
            name = "aud" if "aud" in claims else "client_id"
            self._match(claims, name, self.audience, AudienceError)
            return
        if self.audience is not None:
            self._match(claims, "aud", self.audience, AudienceError)
            checked_aud = True
        if self.client_id is not None:
            wanted = frozenset([self.client_id])
            if self.token_use == "id":
                self._match(claims, "aud", wanted, AudienceError)
                checked_aud = True
            elif self.token_use == "access":
                self._match(claims, "client_id", wanted, ClientIdError)
            else:
                name = "aud" if "aud" in claims else "client_id"
                error = AudienceError if name == "aud" else ClientIdError
                self._match(claims, name, wanted, error)
                checked_aud = checked_aud or name == "aud"
        if "aud" in claims and not checked_aud:
            raise AudienceError(
                "The token names an audience but the verifier was given none to accept.",
                claim="aud",
                expected=None,
                actual=_short(claims["aud"]),
                hint="RFC 7519 §4.1.3: pass audience= (your client id) so aud is checked.",
            )

    @staticmethod
    def _match(
        claims: dict[str, Any], name: str, wanted: frozenset[str] | None, error: type[ClaimError]
    ) -> None:
        expected = sorted(wanted or ())
        if name not in claims:
            raise MissingClaimError(
                f"The token has no {name!r} claim.", claim=name, expected=expected, actual=None
            )
        value = claims[name]
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
            or wanted is None
            or wanted.isdisjoint(values)
        ):
            raise error(
                f"The token's {name!r} is {_short(value)!r}, not one this verifier accepts.",
                claim=name,
                expected=expected,
                actual=_short(value),
            )


def verify_token(
    token: Any,
    keys: KeySet,
    *,
    issuer: str,
    audience: str | Collection[str] | None = None,
    client_id: str | None = None,
    token_use: str | None = None,
    audience_or_client_id: bool = False,
    leeway: float = 0.0,
    clock: Clock = SYSTEM_CLOCK,
    required: Iterable[str] = ("exp",),
    max_length: int = DEFAULT_MAX_LENGTH,
    kid_required: bool = True,
) -> dict[str, Any]:
    """Verify ``token`` strictly against ``keys`` and return its claims.

    - ``issuer``: the exact ``iss`` trusted (string equality, never ``in``).
    - ``audience``: a string or collection; ``aud`` (a string or list) must name one.
      A token with an ``aud`` is refused when nothing checks it (RFC 7519 §4.1.3).
    - ``client_id`` and ``token_use`` (``"id"``/``"access"``): Cognito's checks, as in
      awslabs/aws-jwt-verify: an ID token's ``aud`` or an access token's ``client_id``
      must be ``client_id`` (without ``token_use``: ``aud``, else ``client_id``).
    - ``audience_or_client_id=True``: API Gateway's JWT authorizer rule: ``aud``, or
      ``client_id`` only when ``aud`` is absent, must be in ``audience``.
    - ``leeway``: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    - ``clock``: what "now" is (:class:`~authlab.clock.FrozenClock` in demos and tests).
    - ``required``: claims that must be present; ``exp`` always is.
    - ``max_length``: longest token accepted, in characters.
    - ``kid_required=False``: a token without ``kid`` is checked with the key set's only
      key (for single-key issuers such as RFC 7515's example); never with several keys.

    Raises a :class:`~authlab.errors.TokenError` subclass for every refusal.
    """
    return Verifier(
        keys,
        issuer=issuer,
        audience=audience,
        client_id=client_id,
        token_use=token_use,
        audience_or_client_id=audience_or_client_id,
        leeway=leeway,
        clock=clock,
        required=required,
        max_length=max_length,
        kid_required=kid_required,
    ).verify(token)
