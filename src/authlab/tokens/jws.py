"""Reading a compact JWS strictly, before any key is involved.

A compact JWS (RFC 7515 §7.1) is ``base64url(header).base64url(payload).base64url(signature)``.
:func:`split_token` accepts only a string of at most ``max_length`` characters, with three
canonical, unpadded base64url segments whose header and payload are JSON objects without
duplicate member names (RFC 7515 §4 and RFC 7519 §4: a parser must reject them or keep
the last; we reject), without a number that is not finite (``NaN``, ``Infinity``, or a
literal such as ``1e400`` that overflows to infinity: RFC 8259 §6 has no such numbers) and
nested at most :data:`MAX_DEPTH` deep. Anything else is a
:class:`~authlab.errors.MalformedTokenError`: never another exception, whatever the input.
"""

from __future__ import annotations

import binascii
import json
import math
from base64 import urlsafe_b64decode, urlsafe_b64encode
from typing import Any

from ..errors import MalformedTokenError

__all__ = ["DEFAULT_MAX_LENGTH", "MAX_DEPTH", "b64url_decode", "decode_unverified", "split_token"]

DEFAULT_MAX_LENGTH = 16_384
"""Longest token accepted, in characters. Cognito tokens are 1-3 KB; 16 KiB leaves room
for many groups while refusing a megabyte of JSON before decoding it."""

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a header or payload. Real claims nest
two or three levels; a deeper document only serves to exhaust a parser or a printer."""

_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_decode(segment: str, *, what: str = "segment") -> bytes:
    """Decode one unpadded, canonical base64url segment (RFC 7515 §2), strictly.

    Raises :class:`MalformedTokenError` for padding, characters outside the base64url
    alphabet, or a non-canonical encoding (two strings decoding to the same bytes).
    """
    if not _B64URL.issuperset(segment) or len(segment) % 4 == 1:
        raise MalformedTokenError(f"The {what} is not base64url (A-Z a-z 0-9 - _, no '=').")
    try:
        raw = urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedTokenError(f"The {what} is not valid base64url.") from None
    if urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise MalformedTokenError(f"The {what} is not canonical base64url.")
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _NotFinite(ValueError):
    """A number literal too large for a float (``1e400``)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in item)
    return deepest


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_float=_finite_float,
        )
    except _NotFinite as exc:
        raise MalformedTokenError(
            f"The {what} holds a number too large to be finite ({str(exc)[:20]}).",
            hint="RFC 8259 §6: JSON numbers are finite; no claim needs one this large.",
        ) from None
    except (ValueError, RecursionError):
        raise MalformedTokenError(
            f"The {what} is not valid JSON (or repeats a member name)."
        ) from None
    if not isinstance(value, dict):
        raise MalformedTokenError(f"The {what} must be a JSON object, not {type(value).__name__}.")
    if _depth(value) > MAX_DEPTH:
        raise MalformedTokenError(f"The {what} nests arrays or objects more than {MAX_DEPTH} deep.")
    return value


def split_token(
    token: Any, max_length: int = DEFAULT_MAX_LENGTH
) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signing input and signature of ``token``, unverified."""
    if not isinstance(token, str):
        raise MalformedTokenError(f"A token is a string, not {type(token).__name__}.")
    if len(token) > max_length:
        raise MalformedTokenError(
            f"The token is {len(token)} characters long; at most {max_length} are accepted."
        )
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedTokenError(
            f"A signed JWT has 3 dot-separated segments; this one has {len(parts)}."
        )
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(b64url_decode(header_b64, what="header"), "header")
    claims = _json_object(b64url_decode(payload_b64, what="payload"), "payload")
    signature = b64url_decode(signature_b64, what="signature")
    return header, claims, f"{header_b64}.{payload_b64}".encode("ascii"), signature


def decode_unverified(token: Any, *, max_length: int = DEFAULT_MAX_LENGTH) -> tuple[dict, dict]:
    """``(header, claims)`` of a token WITHOUT checking anything: for display only.

    Anyone can write any claims; only :func:`verify_token` says whether to trust them.
    """
    header, claims, _, _ = split_token(token, max_length)
    return header, claims
