"""The judge's hands inside the learner's kernel: call an answer, read a value, send back data.

This file is never imported by the grader to judge anything: its *source text* is sent to the
learner's (sandboxed) kernel with each request of :mod:`grader.judge`, and runs there, where
the learner's code could change anything it does. Nothing it sends back is trusted: the judge
reads the reply as plain data (:func:`grader.judge.decode`), with size and depth limits, and
decides pass or fail itself. The worst a hostile notebook can do to its own replies is make
them wrong or unreadable, which fails its own tests.

A request is a JSON object:

* ``{"op": "describe", "names": [...]}``: for each name, ``"callable"``, ``"value"`` or
  ``"missing"``;
* ``{"op": "get", "name": N}``: the value of ``N``, encoded;
* ``{"op": "set", "values": <base64 pickle of a dict>}``: give the kernel the judge's values
  of the lesson names the notebook shares (its deployment's configuration, such as the
  issuer and keys an answer verifies tokens with);
* ``{"op": "call", "name": N, "args": <base64 pickle of (args, kwargs)>}``: call ``N`` with
  the judge's arguments (pickled by the judge: unpickling happens here, in the sandbox, so it
  trusts only the judge); the reply holds the result, encoded, and the arguments after the
  call (so that a test can see an answer that changes its input).

The reply is a JSON text left in the kernel's namespace under the name the judge chose and
read back through the ``execute_reply``'s ``user_expressions``; whatever the call prints is
never read. Encoded values are JSON, with tagged objects for what JSON lacks:
``{"$bytes": base64}``, ``{"$tuple": [...]}``, ``{"$set": [...]}``, ``{"$float": "nan"}``,
``{"$map": [[key, value], ...]}`` (a dict with keys that are not strings, or that start
with ``$``) and ``{"$jwk": {...}}`` (a key object of the ``cryptography`` package).
An exception becomes ``{"types": [...], "message": ..., "attrs": {...}, "where": ...}``.
"""

# The probe runs with a fresh globals dict holding only ``_user_ns``, ``_request`` and ``_var``
# (see grader.judge.probe_code); it must import everything it needs itself.

import base64
import json
import math
import pickle

MAX_DEPTH = 32
PLAIN = (str, int, float, bool, type(None))


class Unreadable(TypeError):
    """A value the judge cannot receive as data."""


def encode(value, depth=0):
    """``value`` as JSON-ready data (see the module's docstring)."""
    if depth > MAX_DEPTH:
        raise Unreadable(f"it is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"$tuple": [encode(item, depth + 1) for item in value]}
    if isinstance(value, list):
        return [encode(item, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):
        return {"$set": [encode(item, depth + 1) for item in value]}
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: encode(item, depth + 1) for key, item in value.items()}
        return {"$map": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    jwk = _as_jwk(value)
    if jwk is not None:
        return {"$jwk": jwk}
    raise Unreadable(f"it is a {type(value).__module__}.{type(value).__qualname__} object")


def _as_jwk(value):
    """A JWK dict for a ``cryptography`` key object, else ``None``."""
    module = type(value).__module__ or ""
    if not module.startswith("cryptography."):
        return None
    from jwt import algorithms

    for name in ("RSAAlgorithm", "ECAlgorithm", "OKPAlgorithm"):
        kind = getattr(algorithms, name, None)
        if kind is None:
            continue
        try:
            return json.loads(kind.to_jwk(value))
        except Exception:  # noqa: BLE001, S112 - not this kind of key: try the next
            continue
    return None


def _plain_attrs(exc):
    attrs = {}
    for key, item in list(vars(exc).items())[:20]:
        if isinstance(key, str) and not key.startswith("_") and isinstance(item, PLAIN):
            attrs[key] = item if not isinstance(item, str) else item[:500]
    return attrs


def _where(exc):
    try:
        from authlab.course.feedback import learner_frame

        found = learner_frame(exc.__traceback__)
    except Exception:  # noqa: BLE001 - the hint is optional
        return ""
    return f"line {found[1]}: {found[2]}"[:200] if found and found[2] else ""


def raised(exc):
    """An exception as data: its classes (most specific first), message and plain attributes."""
    types = [f"{k.__module__}:{k.__qualname__}" for k in type(exc).__mro__][:12]
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ is still an exception
        message = ""
    return {
        "types": types,
        "message": message[:2000],
        "attrs": _plain_attrs(exc),
        "where": _where(exc),
    }


def answer(ns, request):
    """The reply to one request (see the module's docstring)."""
    op = request["op"]
    if op == "describe":
        kinds = {}
        for name in request["names"]:
            if name not in ns:
                kinds[name] = "missing"
            else:
                kinds[name] = "callable" if callable(ns[name]) else "value"
        return {"kinds": kinds}
    if op == "set":
        values = pickle.loads(base64.b64decode(request["values"]))  # noqa: S301 - from the judge
        ns.update(values)
        return {"set": sorted(values)}
    if op == "get":
        try:
            return {"value": encode(ns[request["name"]])}
        except Unreadable as exc:
            return {"unreadable": str(exc)}
    if op == "call":
        args, kwargs = pickle.loads(base64.b64decode(request["args"]))  # noqa: S301 - from the judge
        try:
            result = ns[request["name"]](*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: it is the answer's doing
            return {"raised": raised(exc)}
        reply = {}
        try:
            reply["value"] = encode(result)
        except Unreadable as exc:
            reply["unreadable"] = str(exc)
        after = {}
        for index, arg in enumerate(args):
            if isinstance(arg, (dict, list)):
                try:
                    after[str(index)] = encode(arg)
                except Unreadable:
                    pass
        reply["after"] = after
        return reply
    return {"error": f"unknown request {op!r}"}


def serve():
    """Answer ``_request`` and leave the JSON reply in ``_user_ns[_var]``."""
    request = json.loads(_request)  # noqa: F821 - given by the judge
    try:
        reply = answer(_user_ns, request)  # noqa: F821
    except BaseException as exc:  # noqa: BLE001 - any failure is a reply too
        reply = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    _user_ns[_var] = json.dumps(reply, allow_nan=False)  # noqa: F821


if "_request" in globals():
    serve()
