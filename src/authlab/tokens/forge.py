"""The attacker's tools and the naive verifier they fool (notebook 03's villains).

:func:`sign` builds any compact JWS, with any header and any key, the way an attacker
would (PyJWT's algorithm classes do the signing, without the checks PyJWT's
``jwt.encode`` would apply). :func:`crack_hs256` runs a dictionary search against an
HS256 token offline. :class:`NaiveVerifier` is a verifier written with every classic
mistake, so the gallery in :mod:`authlab.tokens.attacks` can show each attack succeed before
:mod:`authlab.tokens.verify` refuses it. Never use :class:`NaiveVerifier` for anything else.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms
from jwt.utils import base64url_decode, base64url_encode

from ..data import data_path

__all__ = ["NaiveVerifier", "b64url", "b64url_json", "crack_hs256", "sign", "weak_secrets"]

_ALGS = get_default_algorithms()


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2), by PyJWT's ``jwt.utils``: notebook 02 has
    you write this encoding yourself, so the library does not."""
    return base64url_encode(data).decode("ascii")


def b64url_json(value: Any) -> str:
    """Compact JSON, UTF-8, base64url: how a JWT segment is made."""
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def sign(claims: Any, key: Any, alg: str, headers: dict[str, Any] | None = None) -> str:
    """A compact JWS of ``claims``: header ``{"alg": alg, **headers}``, signed by PyJWT's
    algorithm class for ``alg`` (``key`` used as given: the attacker's view, no checks)."""
    header = {"alg": alg, "typ": "JWT", **(headers or {})}
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = b"" if alg.lower() == "none" else _ALGS[alg].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64url(signature)}"


def weak_secrets() -> list[str]:
    """The small dictionary of weak HMAC secrets shipped in ``data/weak-secrets.txt``."""
    text = data_path("weak-secrets.txt").read_text(encoding="utf-8")
    return [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]


def crack_hs256(token: str, words: Iterable[str]) -> str | None:
    """The secret among ``words`` that produced ``token``'s HS256 signature, or None.

    An HS256 token is an offline oracle: anyone holding one can try secrets at the
    speed of HMAC-SHA256, with no request to the server (RFC 8725 §2.2, §3.5).
    """
    signing_input, _, signature_b64 = token.rpartition(".")
    message, signature = signing_input.encode(), base64url_decode(signature_b64)
    hs256 = _ALGS["HS256"]  # PyJWT's HMAC: notebook 02 has you write it by hand
    return next((w for w in words if hs256.verify(message, w.encode(), signature)), None)


class NaiveVerifier:
    """What NOT to write: a verifier that lets the token say how to check it.

    - ``check_signature=False``: decodes the token and trusts it ("decode is not verify").
    - otherwise takes ``alg`` from the header (``none`` in any casing means "unsigned,
      fine"), and the key from the header: ``jwk``, else a ``jku``/``x5u`` URL fetched
      from the (simulated) web, else ``kid`` as a file name under ``/srv/keys`` or, with
      ``key_lookup="sql"``, pasted into an SQL query.
    - checks no claim at all.

    ``lab`` provides the world it looks keys up in: ``files`` (path -> bytes), ``web``
    (URL -> JWKS dict or PEM bytes) and ``database`` (sqlite3 with a ``keys`` table).

    Malformed input crashes it with whatever Python raises: a 500, not a 401.
    """

    def __init__(self, lab: Any, *, check_signature: bool = True, key_lookup: str = "file"):
        self.lab = lab
        self.check_signature = check_signature
        self.key_lookup = key_lookup

    def _key_bytes_for_kid(self, kid: str) -> bytes:
        if self.key_lookup == "sql":
            query = f"SELECT key FROM keys WHERE kid = '{kid}'"  # the injection, on purpose
            row = self.lab.database.execute(query).fetchone()
            if row is None:
                raise KeyError(kid)
            return row[0].encode() if isinstance(row[0], str) else row[0]
        path = posixpath.normpath(posixpath.join("/srv/keys", kid))
        return self.lab.files[path]  # KeyError for an unknown file

    def _key(self, header: dict[str, Any], alg: str) -> Any:
        if "jwk" in header:
            return _ALGS[alg].from_jwk(header["jwk"])
        if "jku" in header:
            jwks = self.lab.web[header["jku"]]
            jwk = next(k for k in jwks["keys"] if k.get("kid") == header.get("kid"))
            return _ALGS[alg].from_jwk(jwk)
        if "x5u" in header:
            pem = self.lab.web[header["x5u"]]
            return x509.load_pem_x509_certificate(pem).public_key()
        raw = self._key_bytes_for_kid(header["kid"])
        return raw if alg.startswith("HS") else serialization.load_pem_public_key(raw)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, "verified" naively (raises on a bad signature)."""
        # Trusts whatever the first two segments say (notebook 02 has you write the reading).
        header, claims = (json.loads(base64url_decode(part)) for part in token.split(".")[:2])
        if not self.check_signature:
            return claims
        alg = header["alg"]
        if alg.lower() == "none":
            return claims
        key = self._key(header, alg)
        signing_input, _, signature_b64 = token.rpartition(".")
        # The key is used as the header says, whatever it is: PEM bytes become an HMAC secret.
        if not _ALGS[alg].verify(signing_input.encode(), key, base64url_decode(signature_b64)):
            raise ValueError("bad signature")
        return claims
