"""What comes back from the learner's kernel, read as data and nothing else.

:func:`decode` rebuilds the values :mod:`grader.judge.probe` encodes (JSON with a few tags) and
refuses anything else; :func:`rebuild_exception` turns a described exception into one the
judge's tests can catch by class, without importing anything on the learner's say-so.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import math
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_KEY_BITS",
    "MAX_SET_ITEMS",
    "RemoteRaised",
    "ReplyStopped",
    "decode",
    "rebuild_exception",
]

MAX_DEPTH = 32
"""How deeply nested a value from the kernel may be."""

_EXCEPTION_ROOTS = ("builtins", "authlab", "jwt", "botocore", "binascii", "json", "cryptography")

Resolver = Callable[[str, Any], Any]


MAX_ITEMS = 200_000
"""How many values (list items, set members, dict entries, all levels together) one reply
from the kernel may hold."""

MAX_SET_ITEMS = 5_000
"""How many members one set, or keys one ``$map``, may hold (hashing crafted members that
all collide costs time in the square of their number)."""

MAX_KEY_BITS = 4096
"""The largest RSA modulus a ``$jwk`` may carry (larger keys cost seconds to load)."""

_PRIVATE_JWK_FIELDS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
"""Fields of a private (or symmetric) JWK: a learner's code hands the judge public keys only."""

_CHECK_EVERY = 256  # values decoded between two looks at the clock


class ReplyStopped(ValueError):
    """The judge stopped reading a reply: over :data:`MAX_ITEMS` (or another cap), or past
    its deadline. The message says which."""


class _Budget:
    """What is left for one reply: values to decode, and time (``time.monotonic()``)."""

    def __init__(self, deadline: float | None, items: int) -> None:
        self.deadline = deadline
        self.items = items
        self.seen = 0

    def spend(self, count: int = 1) -> None:
        self.seen += count
        if self.seen > self.items:
            raise ReplyStopped(f"it holds more than {self.items:,} values")
        if self.deadline is not None and self.seen % _CHECK_EVERY < count:
            self.tick()

    def tick(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ReplyStopped("reading it took longer than the call's time limit")


def decode(
    data: Any,
    depth: int = 0,
    resolve: Resolver | None = None,
    *,
    deadline: float | None = None,
    max_items: int = MAX_ITEMS,
) -> Any:
    """A value sent by :func:`grader.judge.probe.encode`, rebuilt; anything else raises ``ValueError``.

    ``$handle`` and ``$lent`` tags are given to ``resolve(tag, body)`` (the link to the
    kernel makes them stand-ins and the judge's own objects); without it they are refused.
    Reading stops with :class:`ReplyStopped` (a ``ValueError``) past ``deadline`` (a
    ``time.monotonic()`` value) or beyond ``max_items`` values, :data:`MAX_SET_ITEMS`
    members of one set or map, or a key over :data:`MAX_KEY_BITS` bits.
    """
    return _decode(data, depth, resolve, _Budget(deadline, max_items))


def _decode(data: Any, depth: int, resolve: Resolver | None, budget: _Budget) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    budget.spend()
    if data is None or isinstance(data, bool | int | str):
        return data
    if isinstance(data, float):
        if not math.isfinite(data):
            raise ValueError("a number that is not finite, outside a $float tag")
        return data
    if isinstance(data, list):
        return [_decode(item, depth + 1, resolve, budget) for item in data]
    if not isinstance(data, dict):
        raise ValueError(f"unexpected {type(data).__name__}")
    tags = [key for key in data if key.startswith("$")]
    if resolve is not None and "$handle" in data and set(data) <= {"$handle", "type"}:
        return resolve("$handle", data)
    if not tags:
        return {key: _decode(item, depth + 1, resolve, budget) for key, item in data.items()}
    if len(data) != 1:
        raise ValueError("a tagged value with other keys")
    tag, body = next(iter(data.items()))
    if tag == "$bytes" and isinstance(body, str):
        return base64.b64decode(body, validate=True)
    if tag == "$tuple" and isinstance(body, list):
        return tuple(_decode(item, depth + 1, resolve, budget) for item in body)
    if tag == "$set" and isinstance(body, list):
        _members(len(body))
        found = set()
        for item in body:
            found.add(_hashable(_decode(item, depth + 1, resolve, budget)))
            budget.tick()  # a member that collides with all before it costs their number
        return found
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$map" and isinstance(body, list):
        _members(len(body))
        pairs = {}
        for pair in body:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError("a $map entry that is not a [key, value] pair")
            key = _hashable(_decode(pair[0], depth + 1, resolve, budget))
            pairs[key] = _decode(pair[1], depth + 1, resolve, budget)
            budget.tick()
        return pairs
    if tag == "$datetime" and isinstance(body, str):
        return datetime.datetime.fromisoformat(body)
    if tag == "$lent" and resolve is not None:
        return resolve("$lent", body)
    if tag == "$jwk" and isinstance(body, dict):
        return _jwk(body)
    raise ValueError(f"an unknown tag {tag!r}")


def _members(count: int) -> None:
    if count > MAX_SET_ITEMS:
        raise ReplyStopped(f"a set or map of {count:,} members (at most {MAX_SET_ITEMS:,})")


def _jwk(body: dict) -> Any:
    """A public key from its JWK, refused before any arithmetic if it is private or large."""
    private = sorted(_PRIVATE_JWK_FIELDS & set(body))
    if private:
        raise ReplyStopped(
            f"a key with private fields ({', '.join(private)}): send public keys only"
        )
    modulus = body.get("n")
    if isinstance(modulus, str) and len(modulus.rstrip("=")) * 6 > MAX_KEY_BITS + 8:
        raise ReplyStopped(f"an RSA key over {MAX_KEY_BITS} bits")
    for name in ("kty", "crv", "n", "e", "x", "y"):
        if name in body and not (isinstance(body[name], str) and len(body[name]) <= 1024):
            raise ReplyStopped(f"a key whose {name!r} is not a short string")
    import jwt

    try:
        return jwt.PyJWK(body).key
    except jwt.PyJWKError as exc:
        raise ValueError(f"a key that is not a valid JWK ({exc})") from None


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict | set):
        raise ValueError("an unhashable set member or dict key")
    return value


class RemoteRaised:
    """Mixed into the rebuilt exception of a learner's function, raised in the judge.

    The rebuilt exception is an instance of the most specific class of the original that the
    judge knows (an :mod:`authlab` error, a built-in one …), so ``check_raises`` and
    ``except`` clauses in tests work as they do in the learner's kernel. ``learner_where``
    is the learner's own line that raised it, as the kernel reported it.
    """

    remote_message: str = ""
    learner_where: str = ""

    def __str__(self) -> str:
        return self.remote_message


def _known_class(entry: str) -> type[Exception] | None:
    module, _, qualname = entry.partition(":")
    if module.split(".")[0] not in _EXCEPTION_ROOTS or module not in sys.modules:
        return None  # never imported on a learner's say-so: only classes already loaded here
    found: Any = sys.modules[module]
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if isinstance(found, type) and issubclass(found, Exception) and found is not RemoteRaised:
        return found
    return None


def rebuild_exception(info: dict, classes: dict[str, type] | None = None) -> Exception:
    """The learner's exception (:mod:`grader.judge.probe`'s ``raised``) as an exception here.

    ``classes`` maps the ``judge_class`` attribute of an exception the judge's own lent
    object raised (an AWS error) back to its class, so a test can expect that class.
    """
    types = [str(t) for t in info.get("types", []) if isinstance(t, str)][:12] or [
        "builtins:Exception"
    ]
    base: type[Exception] = Exception
    attrs = info.get("attrs") if isinstance(info.get("attrs"), dict) else {}
    token = attrs.get("judge_class")
    for entry in types if token not in (classes or {}) else ():
        known = _known_class(entry)
        if known is not None:
            base = known
            break
    if token in (classes or {}):
        base = classes[token]
    module, _, qualname = types[0].partition(":")
    name = qualname.rsplit(".", 1)[-1][:80] or "Exception"
    kind = type(name, (RemoteRaised, base), {"__module__": module[:80] or "builtins"})
    exc = kind.__new__(kind)
    message = str(info.get("message", ""))[:2000]
    exc.args = (message,)
    for key, value in list(attrs.items())[:20]:
        if isinstance(key, str) and key.isidentifier() and not key.startswith("_"):
            if value is None or isinstance(value, bool | int | float | str):
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(exc, key, value)
    if not hasattr(exc, "message"):
        with contextlib.suppress(AttributeError, TypeError):
            exc.message = message
    if not hasattr(exc, "hint"):
        with contextlib.suppress(AttributeError, TypeError):
            exc.hint = ""
    exc.remote_message = message
    exc.learner_where = f" (your code, {info['where']})" if info.get("where") else ""
    return exc
