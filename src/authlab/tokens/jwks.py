"""Trusted keys: a JSON Web Key Set (RFC 7517) read once, each key bound to its algorithms.

A verifier must never take a key, or the algorithm to use it with, from the token
itself (RFC 8725 §2.1, §3.1). :class:`KeySet` is the only place
:mod:`authlab.tokens.verify` looks keys up: by ``kid``, and only for the algorithms that key
was configured for.

>>> from cryptography.hazmat.primitives.asymmetric import rsa
>>> private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
>>> keys = KeySet.from_jwks(make_jwks(private_key.public_key(), "key-1"))
>>> keys.kids
('key-1',)
>>> sorted(keys.algorithms_for("key-1"))
['RS256']

Key sets published at a URL (a Cognito pool's ``/.well-known/jwks.json``) are fetched
lazily with ``requests``, cached for ``cache_seconds`` (API Gateway caches them up to
two hours), refetched once when a token names an unknown ``kid`` (keys rotate), and
then not again for ``refetch_penalty`` seconds, so a flood of made-up ``kid`` values
cannot turn the verifier into a crawler (awslabs/aws-jwt-verify does the same).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from jwt.algorithms import get_default_algorithms
from jwt.api_jwk import PyJWK

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import AlgorithmNotAllowedError, KeySetError, UnknownKeyError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "MIN_RSA_BITS",
    "KeySet",
    "TrustedKey",
    "make_jwks",
    "public_jwk",
]

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""Every public-key algorithm a key set may bind (what API Gateway and Cognito use)."""

_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 §3.2
MIN_RSA_BITS = 2048
"""The smallest RSA modulus trusted (RFC 7518 §3.3 and §3.5, NIST SP 800-131A: 2048 bits)."""
_SIGNATURE_OPS = frozenset({"sign", "verify"})
_KEY_OPS = _SIGNATURE_OPS | {
    "encrypt", "decrypt", "wrapKey", "unwrapKey", "deriveKey", "deriveBits",
}  # fmt: skip
_BY_KTY: dict[str, tuple[str, ...]] = {"RSA": ("RS256", "RS384", "RS512")}
_BY_CRV: dict[str, tuple[str, ...]] = {
    "P-256": ("ES256",),
    "P-384": ("ES384",),
    "P-521": ("ES512",),
    "Ed25519": ("EdDSA",),
}
_ALGORITHMS = get_default_algorithms()

Fetcher = Callable[[str, float], Mapping[str, Any]]
"""``fetcher(url, timeout) -> JWKS dict``: how :meth:`KeySet.from_url` downloads keys."""


@dataclass(frozen=True)
class TrustedKey:
    """One trusted key: its ``kid``, the key object PyJWT verifies with, its algorithms."""

    kid: str
    key: Any
    algorithms: frozenset[str]
    jwk: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _requests_fetcher(url: str, timeout: float) -> Mapping[str, Any]:
    response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
    response.raise_for_status()
    return response.json()


def _algorithms_of(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    """The algorithms a JWK may verify: its ``alg`` if it says, else what its type implies."""
    alg = jwk.get("alg")
    if alg is not None:
        return (alg,) if isinstance(alg, str) else ()
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "oct":
        return tuple(_HMAC_MIN_BYTES)
    if kty in ("EC", "OKP"):
        return _BY_CRV.get(crv, ()) if isinstance(crv, str) else ()
    return _BY_KTY.get(kty, ()) if isinstance(kty, str) else ()


def _may_verify(jwk: Mapping[str, Any], kid: str) -> bool:
    """Whether ``use`` and ``key_ops`` (RFC 7517 §4.2, §4.3) let this key verify signatures.

    A key meant for encryption never verifies a signature. ``key_ops`` is honoured as
    ``use`` is, and a key whose two members disagree is refused (§4.3: when both are
    present, "the information they convey MUST be consistent"). Only a key whose
    ``key_ops`` lists ``"verify"`` verifies; values outside the registry are ignored.
    """
    use = jwk.get("use")
    if use is not None and not isinstance(use, str):
        raise KeySetError(f"Key {kid!r} has a 'use' that is not a string.")
    ops = jwk.get("key_ops")
    if ops is None:
        return use in (None, "sig")
    if (
        not isinstance(ops, list)
        or not all(isinstance(op, str) for op in ops)
        or len(set(ops)) != len(ops)
    ):
        raise KeySetError(
            f"Key {kid!r} has a 'key_ops' that is not a list of distinct strings.",
            hint='RFC 7517 §4.3: for example "key_ops": ["verify"].',
        )
    known = set(ops) & _KEY_OPS  # §4.3: "Other values MAY be used"; they grant nothing here
    if use is not None and (use == "sig") != (known <= _SIGNATURE_OPS):
        raise KeySetError(
            f"Key {kid!r} says use {use!r} but key_ops {ops}: the two disagree.",
            hint="RFC 7517 §4.3: publish one of 'use' and 'key_ops', or make them agree.",
        )
    return "verify" in ops


def _check_strength(kid: str, key: Any, algorithms: Iterable[str]) -> list[str]:
    """The ``algorithms`` the key is strong enough for; :class:`KeySetError` if none.

    HMAC secrets need as many bytes as the hash (RFC 7518 §3.2); RSA keys need a modulus
    of at least :data:`MIN_RSA_BITS` bits (RFC 7518 §3.3, RFC 8725 §3.5).
    """
    algorithms = list(algorithms)
    if isinstance(key, bytes):
        strong = [a for a in algorithms if len(key) >= _HMAC_MIN_BYTES.get(a, 0)]
        if not strong:
            raise KeySetError(
                f"HMAC key {kid!r} is only {len(key)} bytes long.",
                hint="RFC 7518 §3.2: an HS256 key has at least 32 random bytes.",
            )
        return strong
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise KeySetError(
            f"RSA key {kid!r} has a {key.key_size}-bit modulus; at least {MIN_RSA_BITS} "
            "bits are trusted.",
            hint="RFC 7518 §3.3 and NIST SP 800-131A: RSA keys of 2048 bits or more.",
        )
    return algorithms


def _load_jwk(jwk: Any, allowed: frozenset[str] | None) -> TrustedKey | None:
    """A :class:`TrustedKey` from one JWK, or None for a key that may not verify
    (``use``, ``key_ops``) or whose algorithms this verifier does not allow."""
    if not isinstance(jwk, Mapping):
        raise KeySetError("Each entry of a JWKS 'keys' list must be a JSON object.")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise KeySetError("Every key in the set needs a 'kid' string: tokens name keys by kid.")
    if jwk.get("kty") != "oct" and "d" in jwk:
        raise KeySetError(
            f"Key {kid!r} contains a private key ('d').",
            hint="Publish and trust only public keys; keep the private half with the issuer.",
        )
    if not _may_verify(jwk, kid):
        return None  # an encryption key never verifies a signature
    algorithms = [a for a in _algorithms_of(jwk) if a in _ALGORITHMS and a != "none"]
    if allowed is not None:
        algorithms = [a for a in algorithms if a in allowed]
    if not algorithms:
        return None  # nothing this verifier is allowed to do with the key
    try:
        key = PyJWK(dict(jwk), algorithms[0]).key
    except Exception as exc:  # noqa: BLE001 - an untrusted document: any failure is a bad key
        raise KeySetError(f"Key {kid!r} could not be read: {type(exc).__name__}.") from None
    algorithms = _check_strength(kid, key, algorithms)
    return TrustedKey(kid, key, frozenset(algorithms), dict(jwk))


class KeySet:
    """Trusted public keys by ``kid``, each bound to the algorithms it may verify.

    Build one with :meth:`from_jwks`, :meth:`from_file` or :meth:`from_url`; look keys
    up with :meth:`key_for`. ``algorithms``, when given, is an allowlist applied to every
    key (e.g. ``{"RS256"}`` for API Gateway's RSA-only JWT authorizer).
    """

    def __init__(
        self, keys: Iterable[TrustedKey] = (), *, algorithms: Iterable[str] | None = None
    ) -> None:
        self._allowed = None if algorithms is None else frozenset(algorithms)
        self._keys: dict[str, TrustedKey] = {}
        self._lock = threading.Lock()
        self.url: str | None = None
        self.fetch_count = 0
        """How many times the key set was downloaded (for notebooks and tests)."""
        self._clock: Clock = SYSTEM_CLOCK
        self._timeout = 1.5
        self._cache_seconds = 7200.0
        self._refetch_penalty = 10.0
        self._fetcher: Fetcher = _requests_fetcher
        self._fetched_at: float | None = None
        self._set_keys(keys)

    def __getstate__(self) -> dict[str, Any]:
        """The key set as it can cross to another process (a grader's, a worker's).

        A key set built :meth:`from_url` is downloaded first if it never was, so the copy
        holds the keys; a custom ``fetcher`` stays behind (the copy uses HTTP again).
        """
        if self.url is not None and self._fetched_at is None:
            with contextlib.suppress(KeySetError):
                self._ensure_fresh()
        state = self.__dict__.copy()
        del state["_lock"]
        if state["_fetcher"] is not _requests_fetcher:
            state["_fetcher"] = _requests_fetcher
        state["_keys"] = [  # key objects do not pickle: public keys travel as PEM
            (
                key.kid,
                key.key
                if isinstance(key.key, bytes)
                else key.key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
                sorted(key.algorithms),
                dict(key.jwk),
            )
            for key in self._keys.values()
        ]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        keys = state.pop("_keys")
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._keys = {
            kid: TrustedKey(
                kid,
                key if set(algorithms) <= set(_HMAC_MIN_BYTES) else load_pem_public_key(key),
                frozenset(algorithms),
                jwk,
            )
            for kid, key, algorithms, jwk in keys
        }

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_jwks(
        cls, jwks: Mapping[str, Any], *, algorithms: Iterable[str] | None = None
    ) -> KeySet:
        """A key set from a JWKS dict ``{"keys": [...]}`` (RFC 7517 §5)."""
        allowed = None if algorithms is None else frozenset(algorithms)
        return cls(cls._parse(jwks, allowed), algorithms=allowed)

    @classmethod
    def from_file(cls, path: str | Path, *, algorithms: Iterable[str] | None = None) -> KeySet:
        """A key set from a JSON file holding a JWKS."""
        try:
            jwks = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeySetError(f"Cannot read a JWKS from {str(path)!r}: {exc}") from None
        return cls.from_jwks(jwks, algorithms=algorithms)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        timeout: float = 1.5,
        cache_seconds: float = 7200,
        refetch_penalty: float = 10.0,
        algorithms: Iterable[str] | None = None,
        fetcher: Fetcher | None = None,
    ) -> KeySet:
        """A key set downloaded from ``url`` when first needed, then cached.

        Defaults follow API Gateway's JWT authorizer (1.5 s timeout, keys cached up to
        2 hours) and aws-jwt-verify (10 s before another refetch for an unknown kid).
        ``fetcher(url, timeout)`` replaces the HTTP GET (``requests``) if given.
        """
        keyset = cls(algorithms=algorithms)
        keyset.url = url
        keyset._clock = clock
        keyset._timeout = timeout
        keyset._cache_seconds = cache_seconds
        keyset._refetch_penalty = refetch_penalty
        keyset._fetcher = fetcher or _requests_fetcher
        return keyset

    @staticmethod
    def _parse(jwks: Any, allowed: frozenset[str] | None) -> list[TrustedKey]:
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise KeySetError('A JWKS is a JSON object with a "keys" list.')
        loaded = [_load_jwk(jwk, allowed) for jwk in jwks["keys"]]
        return [key for key in loaded if key is not None]

    def _set_keys(self, keys: Iterable[TrustedKey]) -> None:
        new: dict[str, TrustedKey] = {}
        for key in keys:
            if key.kid in new:
                raise KeySetError(f"Two keys share the kid {key.kid!r}: a kid must name one key.")
            new[key.kid] = key
        kinds = {isinstance(key.key, bytes) for key in new.values()}
        if len(kinds) > 1:
            raise KeySetError(
                "The key set mixes HMAC secrets and public keys.",
                hint="One issuer signs one way: trust its public keys, or its secret, never "
                "both (a mixed set invites algorithm confusion, RFC 8725 §2.1).",
            )
        self._keys = new
        self._algorithms = frozenset().union(*(k.algorithms for k in new.values()))

    def add(self, kid: str, key: Any, algorithms: Iterable[str]) -> None:
        """Trust ``key`` (a cryptography public key, or bytes for HMAC) under ``kid``."""
        algs = frozenset(algorithms)
        if not algs or not algs <= set(_ALGORITHMS) - {"none"}:
            raise KeySetError(f"Unknown or empty algorithms for {kid!r}: {sorted(algs)}")
        if not isinstance(kid, str) or not kid:
            raise KeySetError("A trusted key needs a non-empty kid string.")
        if self._allowed is not None:
            algs &= self._allowed
        if not algs:
            raise KeySetError(f"Key {kid!r}: none of {sorted(algorithms)} is allowed here.")
        if isinstance(key, bytes) != (algs <= set(_HMAC_MIN_BYTES)):
            raise KeySetError(
                f"Key {kid!r}: HMAC algorithms need a bytes secret, public-key ones a public key.",
                hint="KeySet.add(kid, secret_bytes, ['HS256']) or add(kid, public_key, ['RS256']).",
            )
        algs = frozenset(_check_strength(kid, key, algs))
        trusted = TrustedKey(kid, key, algs)
        self._set_keys([*self._keys.values(), trusted])

    # ------------------------------------------------------------------ fetching

    def _fetch(self) -> None:
        """Download the key set now (callers hold the lock).

        If a refresh fails while keys from an earlier download are held, they stay in use
        and the download is retried after ``refetch_penalty`` seconds; with no keys at all,
        the failure is a :class:`KeySetError`.
        """
        now = self._clock.now()
        self._fetched_at = now
        self.fetch_count += 1
        try:
            jwks = self._fetcher(self.url, self._timeout)
            keys = self._parse(jwks, self._allowed)
        except (requests.RequestException, ValueError, OSError, KeySetError) as exc:
            if self._keys:
                self._fetched_at = now - self._cache_seconds + self._refetch_penalty
                return
            reason = exc.message if isinstance(exc, KeySetError) else type(exc).__name__
            raise KeySetError(f"Could not fetch the JWKS at {self.url}: {reason}") from None
        self._set_keys(keys)

    def _ensure_fresh(self) -> None:
        if self.url is None:
            return
        with self._lock:
            if self._fetched_at is None or (
                self._clock.now() - self._fetched_at >= self._cache_seconds
            ):
                self._fetch()

    def _refetch_for_unknown_kid(self) -> bool:
        if self.url is None:
            return False
        with self._lock:
            if (
                self._fetched_at is not None
                and self._clock.now() - self._fetched_at < self._refetch_penalty
            ):
                return False
            self._fetch()
            return True

    # ------------------------------------------------------------------ lookups

    @property
    def kids(self) -> tuple[str, ...]:
        """The trusted key ids (fetches a URL key set if needed)."""
        self._ensure_fresh()
        return tuple(self._keys)

    @property
    def algorithms(self) -> frozenset[str]:
        """Every algorithm at least one trusted key may verify."""
        self._ensure_fresh()
        return self._algorithms

    def algorithms_for(self, kid: str) -> frozenset[str]:
        """The algorithms bound to ``kid`` (raises :class:`UnknownKeyError`)."""
        return self.entry(kid).algorithms

    def entry(self, kid: Any) -> TrustedKey:
        """The :class:`TrustedKey` named ``kid``; refetches a URL key set once if unknown."""
        if not isinstance(kid, str) or not kid:
            raise UnknownKeyError(
                "The token's header has no 'kid', so no trusted key can be chosen.",
            )
        self._ensure_fresh()
        trusted = self._keys.get(kid)
        if trusted is None and self._refetch_for_unknown_kid():
            trusted = self._keys.get(kid)
        if trusted is None:
            shown = kid if len(kid) <= 40 else kid[:37] + "..."
            raise UnknownKeyError(f"No trusted key has kid {shown!r}.")
        return trusted

    def key_for(self, kid: Any, alg: Any) -> Any:
        """The key to verify a token whose header says ``kid`` and ``alg``.

        Raises :class:`UnknownKeyError` if no trusted key has that ``kid``, and
        :class:`AlgorithmNotAllowedError` if that key is not bound to ``alg``.
        """
        trusted = self.entry(kid)
        if not isinstance(alg, str) or alg not in trusted.algorithms:
            shown = alg if isinstance(alg, str) and len(alg) <= 20 else "(invalid)"
            raise AlgorithmNotAllowedError(
                f"Key {trusted.kid!r} may verify {sorted(trusted.algorithms)}, not {shown!r}."
            )
        return trusted.key

    def __contains__(self, kid: object) -> bool:
        self._ensure_fresh()
        return kid in self._keys

    def __len__(self) -> int:
        self._ensure_fresh()
        return len(self._keys)

    def __repr__(self) -> str:
        where = f" from {self.url}" if self.url else ""
        return f"KeySet({list(self._keys)}{where})"


def public_jwk(public_key: Any, kid: str, *, alg: str | None = None) -> dict[str, Any]:
    """The JWK (a dict) of a cryptography public key (RSA, EC or Ed25519), with ``kid``.

    ``alg`` defaults to RS256, ES256/384/512 by curve, or EdDSA. A private key is
    accepted and only its public half is published.
    """
    if hasattr(public_key, "public_key"):
        public_key = public_key.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        algorithm, default = _ALGORITHMS["RS256"], "RS256"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        algorithm = _ALGORITHMS["ES256"]
        default = {256: "ES256", 384: "ES384", 521: "ES512"}.get(public_key.curve.key_size, "ES256")
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        algorithm, default = _ALGORITHMS["EdDSA"], "EdDSA"
    else:
        raise KeySetError(
            f"Cannot publish a {type(public_key).__name__} as a JWK: use RSA, EC or Ed25519.",
            hint="Generate the key with cryptography's rsa, ec or ed25519 modules.",
        )
    jwk = dict(algorithm.to_jwk(public_key, as_dict=True))
    jwk.pop("key_ops", None)  # RFC 7517 §4.3: "use" and "key_ops" should not be used together
    jwk.update(kid=kid, use="sig", alg=alg or default)
    return jwk


def make_jwks(public_key: Any, kid: str, *, alg: str | None = None) -> dict[str, Any]:
    """A JWKS ``{"keys": [jwk]}`` holding the public half of one key (for simulated issuers)."""
    return {"keys": [public_jwk(public_key, kid, alg=alg)]}
