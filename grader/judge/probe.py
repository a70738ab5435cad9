"""The judge's hands inside the learner's kernel: call an answer, read a value, send back data.

This file is never imported by the grader to judge anything: its *source text* is sent to the
learner's (sandboxed) kernel with each request of :mod:`grader.judge.script`, and runs there, where
the learner's code could change anything it does. Nothing it sends back is trusted: the judge
reads the reply as plain data (:func:`grader.judge.wire.decode`), with size and depth limits, and
decides pass or fail itself. The worst a hostile notebook can do to its own replies is make
them wrong or unreadable, which fails its own tests.

A request is a JSON object with a *target*: ``{"name": N}`` (a name in the notebook),
``{"handle": H}`` (an object an earlier reply handed out) or ``{"handle": H, "attr": A}``:

* ``{"op": "describe", "names": [...]}``: for each name, ``"callable"``, ``"value"`` or
  ``"missing"``;
* ``{"op": "get", "target": T}``: the target's value, encoded;
* ``{"op": "call", "target": T, "args": <base64 pickle of (args, kwargs)>}``: call the target
  with the judge's arguments (pickled by the judge: unpickling happens here, in the sandbox,
  so it trusts only the judge; the answer gets copies, whatever it does to them stays here);
  the reply holds the result, encoded;
* ``{"op": "set", "values": {name: <base64 pickle>}}``: give the notebook the judge's lesson
  values (its deployment's configuration), each it can load;
* ``{"op": "forward", "path": P, "ports": [...]}``: serve each of the judge's local servers at
  its own address here (127.0.0.1:port), each connection relayed to the judge through its
  socket at ``P``; the reply lists the ports this kernel could take.

The judge talks to the probe over a Unix socket the judge listens on, in a folder the kernel
and the judge both see (the kernel's connection folder): one execute request starts
:func:`serve` in a thread of the kernel, which connects and then answers one JSON line per
request. Whatever the learner's code prints meanwhile is never read.

Objects the judge *lends* (an AWS client, a token service: anything it cannot or must not
copy) arrive as :class:`Lent` stand-ins. Using one sends the judge a question on the same
socket, with the arguments encoded as data; the judge answers with a pickle. So an answer's
calls to AWS reach the judge's own local AWS, whose state the judge reads.

Encoded values are JSON, with tagged objects for what JSON lacks:
``{"$bytes": base64}``, ``{"$tuple": [...]}``, ``{"$set": [...]}``, ``{"$float": "nan"}``,
``{"$map": [[key, value], ...]}`` (a dict with keys that are not strings, or that start
with ``$``), ``{"$datetime": iso}``, ``{"$jwk": {...}}`` (a key of the ``cryptography`` package), ``{"$lent": R}``
(one of the judge's lent objects) and ``{"$handle": H}`` (any other object, kept here).
An exception becomes ``{"types": [...], "message": ..., "attrs": {...}, "where": ...}``.
"""

# The judge runs this file's source once in the kernel, with a fresh globals dict, then calls
# start(); it must import everything it needs itself.

import base64
import datetime
import io
import json
import math
import pickle

MAX_DEPTH = 32
PLAIN = (str, int, float, bool, type(None))
HANDLES = "_grader_handles"
"""The name of the table of objects handed out to the judge, in the notebook's namespace."""


class Lent:
    """Stands for one of the judge's objects: reading or calling it asks the judge."""

    def __init__(self, ref, kind):
        object.__setattr__(self, "_grader_ref", ref)
        object.__setattr__(self, "_grader_kind", kind)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _ask({"op": "getattr", "ref": self._grader_ref, "name": name})

    def __call__(self, *args, **kwargs):
        return _ask(
            {
                "op": "call",
                "ref": self._grader_ref,
                "args": encode(list(args)),
                "kwargs": encode(kwargs),
            }
        )

    def __setattr__(self, name, value):
        raise AttributeError(f"the grader's {self._grader_kind} cannot be changed here")

    def __repr__(self):
        return f"<the grader's {self._grader_kind}>"


class JudgeRaised(Exception):
    """An exception raised by one of the judge's objects, as the judge described it."""


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        kind, ref, label = pid
        if kind != "lent":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        return Lent(ref, label)


def _loads(text):
    return _Unpickler(io.BytesIO(base64.b64decode(text))).load()


def _ask(question):
    """Ask the judge about a lent object; its answer, or its exception raised here."""
    reply = _LINK.exchange({"ask": question})
    if "error" in reply:
        raise RuntimeError(reply["error"])
    if "pickled" in reply:
        value = _loads(reply["pickled"])
        if reply.get("raises"):
            raise value
        return value
    described = reply.get("raised") or {}
    names = [str(t).rpartition(":")[2] for t in described.get("types", [])] or ["Exception"]
    kind = type(names[0], (JudgeRaised,), {})
    error = kind(described.get("message", ""))
    for key, value in (described.get("attrs") or {}).items():
        setattr(error, key, value)
    raise error


class Unreadable(TypeError):
    """A value the judge cannot receive as data (nested too deep)."""


def encode(value, depth=0, handles=None):
    """``value`` as JSON-ready data (see the module's docstring)."""
    if depth > MAX_DEPTH:
        raise Unreadable(f"it is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)  # exact types only: a subclass could compute its contents when read
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if kind in (bytes, bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    inner = [depth + 1, handles]
    if kind is tuple:
        return {"$tuple": [encode(item, *inner) for item in value]}
    if kind is list:
        return [encode(item, *inner) for item in value]
    if kind in (set, frozenset):
        return {"$set": [encode(item, *inner) for item in value]}
    if kind is dict:
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: encode(item, *inner) for key, item in value.items()}
        return {"$map": [[encode(k, *inner), encode(v, *inner)] for k, v in value.items()]}
    if isinstance(value, Lent):
        return {"$lent": value._grader_ref}
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    jwk = _as_jwk(value)
    if jwk is not None:
        return {"$jwk": jwk}
    if handles is None:
        raise Unreadable(f"it is a {type(value).__module__}.{type(value).__qualname__} object")
    handles.append(value)
    return {"$handle": len(handles) - 1, "type": type(value).__qualname__[:80]}


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


def _target(ns, target):
    if "name" in target:
        return ns[target["name"]]
    found = ns[HANDLES][int(target["handle"])]
    return getattr(found, target["attr"]) if "attr" in target else found


def answer(ns, request):
    """The reply to one request (see the module's docstring)."""
    op = request["op"]
    handles = ns.setdefault(HANDLES, [])
    if op == "describe":
        kinds = {}
        for name in request["names"]:
            if name not in ns:
                kinds[name] = "missing"
            else:
                kinds[name] = "callable" if callable(ns[name]) else "value"
        return {"kinds": kinds}
    if op == "set":
        taken = []
        for name, packed in request["values"].items():
            try:
                ns[name] = _loads(packed)
            except Exception:  # noqa: BLE001, S112 - a class this kernel lacks: keep its own
                continue
            taken.append(name)
        return {"set": taken}
    if op == "forward":
        return {"forwarded": [p for p in request["ports"] if _forward(request["path"], int(p))]}
    if op == "get":
        try:
            return {"value": encode(_target(ns, request["target"]), 0, handles)}
        except BaseException as exc:  # noqa: BLE001 - a failing property is the answer's doing
            return {"raised": raised(exc)}
    if op == "call":
        try:
            args, kwargs = _loads(request["args"])
            result = _target(ns, request["target"])(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: it is the answer's doing
            return {"raised": raised(exc)}
        return {"value": encode(result, 0, handles)}
    return {"error": f"unknown request {op!r}"}


def _forward(path, port):
    """Serve 127.0.0.1:``port`` here by relaying each connection to the judge's side of it
    (through its socket at ``path``); ``False`` if the port is taken here."""
    import socket
    import threading

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError:
        listener.close()
        return False
    listener.listen(16)

    def pump(source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def relay(conn):
        far = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            far.connect(path)
            far.sendall(f"{port}\n".encode())
        except OSError:
            conn.close()
            far.close()
            return
        threading.Thread(target=pump, args=(far, conn), daemon=True).start()
        pump(conn, far)

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=relay, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, name=f"grader-forward-{port}", daemon=True).start()
    return True


class _Link:
    """The probe's end of the judge's socket: JSON lines both ways."""

    def __init__(self, path):
        import socket

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")

    def send(self, message):
        self.file.write(json.dumps(message, allow_nan=False).encode() + b"\n")
        self.file.flush()

    def exchange(self, message):
        """Send a question; the judge's answer."""
        self.send(message)
        return json.loads(self.file.readline())


_LINK = None


def serve(ns, path):
    """Connect to the judge at ``path`` and answer its requests until it hangs up."""
    global _LINK
    _LINK = _Link(path)
    for line in _LINK.file:
        try:
            reply = answer(ns, json.loads(line))
        except BaseException as exc:  # noqa: BLE001 - any failure is a reply too
            reply = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        try:
            _LINK.send({"reply": reply})
        except (TypeError, ValueError) as exc:  # not JSON after all
            _LINK.send({"reply": {"error": f"unreadable reply: {exc}"[:500]}})


def start(ns, path):
    """Serve the judge from a thread, so that the kernel's own loop stays free."""
    import threading

    threading.Thread(target=serve, args=(ns, path), name="grader-judge", daemon=True).start()
