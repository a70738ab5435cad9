"""The judge's link to the learner's kernel: requests out, plain data back, lent objects served.

:class:`KernelLink` sends :mod:`grader.judge.probe`'s source with each request, over the kernel's
own (sandboxed) connection, and reads the reply as data (:mod:`grader.judge.wire`). It stands the
learner's objects in as :class:`RemoteObject`\\ s and *lends* the judge's own objects that a
learner's code needs but must not copy (an AWS client, a token service that counts its
refreshes): the kernel gets a stand-in, and each use of it is a question the kernel asks over
its stdin channel, answered here. The questions' arguments are decoded as data; the answers go
to the kernel as pickles (the direction the sandbox cannot abuse).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pickle
import secrets
import socket
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .wire import ReplyStopped, decode, rebuild_exception

__all__ = [
    "LENT_ATTRIBUTES",
    "MAX_REPLY_CHARS",
    "STOPPED_REPLY",
    "JudgeError",
    "KernelLink",
    "RemoteObject",
    "Unreadable",
    "lent_attributes",
]

MAX_REPLY_CHARS = 8_000_000
"""Characters of one reply from the learner's kernel the judge reads (more: unreadable)."""

STOPPED_REPLY = "the grader stopped reading your kernel's reply"
"""How the message of a check starts when the judge refused to finish reading a reply
(:class:`grader.judge.wire.ReplyStopped`); :mod:`grader.stopped` names it in the row's reason."""

_PROBE = Path(__file__).with_name("probe.py").read_text(encoding="utf-8")


_NEVER_LENT = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType)

LENT_ATTRIBUTES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # 08: a token service that counts the refreshes it is asked for, a DynamoDB table
        "authlab.cloud.refresh.TokenService": frozenset({"sign_in", "refresh", "client_id"}),
        "authlab.cloud.denylist.DenylistTable": frozenset({"get", "put", "name"}),
        # identity providers and the local AWS: where they are, never stop() or rotate()
        "authlab.cloud.idp.OidcIssuer": frozenset(
            {"issuer", "url", "jwks_url", "discovery_url", "audience", "name"}
        ),
        "authlab.cloud.aws.MotoServer": frozenset({"endpoint_url", "region"}),
    }
)
"""The judge's objects that may be lent to the learner's code, by class (module and
qualified name), and the attributes and methods that code may use on each. An AWS client
is lent with its API operations only (``client.meta.method_to_api_mapping``: calls to the
judge's local AWS), never ``meta``, waiters or paginators. Nothing else is ever lent: a
local API Gateway, a server or anything with a ``stop()``, ``reset()``, ``register()`` or
``rotate()`` stays in the judge, and the kernel keeps its own."""


class JudgeError(Exception):
    """The judge could not get an answer from the learner's kernel (the message says why)."""

    learner_where = ""  # raised by the judge, not in the learner's code (see feedback.call)


class _Lender(pickle.Pickler):
    """Pickles for the kernel, with the judge's lent objects replaced by references."""

    def __init__(self, stream: io.BytesIO, link: KernelLink) -> None:
        super().__init__(stream, protocol=pickle.HIGHEST_PROTOCOL)
        self.link = link

    def persistent_id(self, obj: Any) -> tuple[str, int, str] | None:
        if self.link.lends(obj):
            return ("lent", self.link.lend(obj), type(obj).__name__)
        return None


class KernelLink:
    """Requests to the learner's kernel over its own (sandboxed) connection.

    ``lend_types`` names classes whose instances are always lent, never copied (besides
    AWS clients, which are always lent), when :data:`LENT_ATTRIBUTES` lists what of them
    the learner's code may use (otherwise they are never lent).
    """

    _deadline: float | None = None  # of the request under way (its reply decodes by it)

    def __init__(
        self,
        connection: dict,
        timeout: float,
        lend_types: tuple[str, ...] = (),
        folder: str | None = None,
    ) -> None:
        from jupyter_client.blocking import BlockingKernelClient

        self.timeout = timeout
        self.lend_types = frozenset(lend_types)
        self.dead: str | None = None
        self.before_call: Callable[[], None] | None = None
        """Run before the learner's code is next called, once :attr:`stale` is set (the judge
        gives the kernel its shared lesson values then)."""
        self.stale = True
        self.lent: dict[int, Any] = {}
        self._lent_refs: dict[int, int] = {}
        self.classes: dict[str, type] = {}
        self._buffer = b""
        self.sock: socket.socket | None = None
        self.folder = Path(folder or tempfile.gettempdir())
        self._relay: _Relay | None = None
        self._forwarded: set[int] = set()
        self.client = BlockingKernelClient()
        self.client.load_connection_info(connection)
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)
        try:
            self._connect(self.folder)
        except (OSError, JudgeError) as exc:
            self.dead = f"the grader could not reach your kernel: {exc}"

    def _connect(self, folder: Path) -> None:
        """Listen in ``folder``, have the kernel start :mod:`grader.judge.probe` and connect."""
        path = folder / f"judge-{secrets.token_hex(6)}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))  # a new name: never a file the kernel made
            os.chmod(path, 0o666)  # the sandboxed kernel runs as a user of its own
            listener.listen(1)
            listener.settimeout(self.timeout)
            code = (
                f"__grader_probe = {{'__name__': 'grader_probe'}}\n"
                f"exec({_PROBE!r}, __grader_probe)\n"
                f"__grader_probe['start'](globals(), {str(path)!r})\n"
                "del __grader_probe"
            )
            msg_id = self.client.execute(code, silent=True, store_history=False)
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JudgeError("your kernel did not start the grader's probe in time")
                reply = self.client.get_shell_msg(timeout=left)
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    break
            if reply["content"].get("status") != "ok":
                raise JudgeError(
                    f"the grader's probe failed in your kernel ({reply['content'].get('ename')}):"
                    " does the notebook change how Python runs code?"
                )
            try:
                self.sock, _ = listener.accept()
            except TimeoutError:
                raise JudgeError("your kernel did not connect to the grader") from None
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                path.unlink()

    # -- the judge's local servers, at their own addresses in the kernel ---------------------

    def forward(self) -> None:
        """Make the judge's new local servers (its moto, its identity providers) reachable from
        the kernel at the same ``127.0.0.1:port``: where the kernel has a network of its own
        (the sandbox), :mod:`grader.judge.probe` listens there and relays to the judge, which
        connects only to ports this process listens on."""
        ports = sorted(_own_listening_ports() - self._forwarded)
        if not ports or self.sock is None:
            return
        if self._relay is None:
            self._relay = _Relay(self.folder)
        self._forwarded |= set(ports)
        self._relay.allowed |= set(ports)
        self.request("forward", path=str(self._relay.path), ports=ports)

    def close(self) -> None:
        """Hang up and close the channels (the kernel itself is the worker's to stop)."""
        if self._relay is not None:
            self._relay.close()
        with contextlib.suppress(Exception):
            if self.sock is not None:
                self.sock.close()
        with contextlib.suppress(Exception):
            self.client.stop_channels()

    # -- lending ------------------------------------------------------------------------------

    def lends(self, obj: Any) -> bool:
        """Whether ``obj`` goes to the kernel as a lent stand-in rather than a copy: an AWS
        client, or an object of one of :attr:`lend_types` that :func:`lent_attributes`
        lists (and the methods of either that it lists)."""
        if id(obj) in self._lent_refs:
            return True
        if isinstance(obj, types.MethodType):  # a lent object's method is lent with it
            return self.lends(obj.__self__) and self.may_lend(obj)
        if _is_aws_client(obj):
            return True
        return type(obj).__name__ in self.lend_types and bool(lent_attributes(obj))

    def lend(self, obj: Any) -> int:
        """The reference of ``obj`` in the kernel (lent once, kept until the link closes)."""
        ref = self._lent_refs.get(id(obj))
        if ref is None:
            ref = len(self.lent)
            self.lent[ref] = obj
            self._lent_refs[id(obj)] = ref
        return ref

    def pack(self, value: Any, *, lend_whole: bool = False) -> str:
        """``value`` as a pickle for the kernel (base64); with ``lend_whole``, a value that
        cannot be pickled is lent instead if :meth:`may_lend` allows. Raises
        ``pickle.PicklingError`` or ``TypeError``."""
        stream = io.BytesIO()
        try:
            _Lender(stream, self).dump(value)
        except (pickle.PicklingError, TypeError, AttributeError):
            if not (lend_whole and self.may_lend(value)):
                raise
            self.lend(value)
            stream = io.BytesIO()
            _Lender(stream, self).dump(value)
        return base64.b64encode(stream.getvalue()).decode("ascii")

    def may_lend(self, value: Any) -> bool:
        """Whether ``value`` may be lent: an AWS client, an object of a class of
        :data:`LENT_ATTRIBUTES`, or one of their methods that the learner's code may use;
        never a module, a class, a function or any other object through which the kernel
        could reach into the judge (a waiter, a paginator, an event system, a server)."""
        if isinstance(value, types.MethodType):
            owner = value.__self__
            return self.may_lend(owner) and value.__func__.__name__ in lent_attributes(owner)
        if isinstance(value, _NEVER_LENT):
            return False
        return bool(lent_attributes(value))

    def _may_send(self, value: Any) -> bool:
        """Whether a lent object's attribute may go to the kernel: what :meth:`may_lend`
        allows, or data that copies."""
        if self.may_lend(value):
            return True
        if isinstance(value, _NEVER_LENT):
            return False
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001 - anything that does not copy is not lent
            return False
        return True

    def _resolve(self, tag: str, body: Any) -> Any:
        if tag == "$lent":
            if not isinstance(body, int) or body not in self.lent:
                raise ValueError("a reference to nothing the grader lent")
            return self.lent[body]
        handle = body.get("$handle")
        if not isinstance(handle, int) or handle < 0:
            raise ValueError("a handle that is not a number")
        return RemoteObject(self, {"handle": handle}, str(body.get("type", "object"))[:80])

    def decode(self, data: Any, what: str) -> Any:
        """``data`` from the kernel, rebuilt (stand-ins for its objects, lent ones for ours),
        within the deadline of the call it answers and :mod:`grader.judge.wire`'s caps."""
        try:
            return decode(data, 0, self._resolve, deadline=self._deadline)
        except ReplyStopped as exc:
            raise JudgeError(
                f"{STOPPED_REPLY} ({what}): {exc}. Return plain data of a reasonable size "
                "(and public keys only)."
            ) from None
        except (ValueError, TypeError) as exc:
            raise JudgeError(f"{what} could not be read as data ({exc})") from None

    def _answer(self, question: Any) -> str:
        """The judge's answer (a JSON line) to a lent object's question from the kernel."""
        try:
            if not isinstance(question, dict):
                raise TypeError("a question is a JSON object")
            obj = self.lent[int(question["ref"])]
            if question["op"] == "getattr":
                name = str(question["name"])
                allowed = lent_attributes(obj)
                if name not in allowed:
                    raise AttributeError(
                        f"{type(obj).__name__}.{name} is not lent to your code by the grader "
                        f"(it lends {', '.join(sorted(allowed)[:8]) or 'nothing'}"
                        f"{' …' if len(allowed) > 8 else ''}): use only what the exercise "
                        "hands you"
                    )
                value = getattr(obj, name)
                if not self._may_send(value):
                    raise AttributeError(f"the grader does not lend {type(value).__name__} objects")
            elif question["op"] == "call":
                if not (isinstance(obj, types.MethodType) and self.may_lend(obj)):
                    raise TypeError("only the methods of the grader's objects can be called")
                args = self.decode(question.get("args", []), "the arguments")
                kwargs = self.decode(question.get("kwargs", {}), "the arguments")
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise TypeError("arguments must be a list and a dict")
                value = obj(*args, **kwargs)
            else:
                raise ValueError(f"unknown question {question['op']!r}")
        except Exception as exc:  # noqa: BLE001 - the lent object's error goes to the kernel
            return json.dumps(self._raised(exc))
        try:
            return json.dumps({"pickled": self.pack(value, lend_whole=True)})
        except Exception as exc:  # noqa: BLE001 - reported to the kernel, which raises it
            return json.dumps({"error": f"the grader could not send {type(value).__name__}: {exc}"})

    def _raised(self, exc: Exception) -> dict:
        try:
            packed = self.pack(exc)
            if type(pickle.loads(base64.b64decode(packed))) is type(exc):  # noqa: S301 - ours
                return {"pickled": packed, "raises": True}
        except Exception:  # noqa: BLE001, S110 - not picklable: described below
            pass
        # An AWS error's class is made at run time: the kernel gets a description, and the
        # class comes back by its token if the learner's code lets the error through.
        token = f"{type(exc).__module__}.{type(exc).__qualname__}"
        self.classes[token] = type(exc)
        names = [f"{k.__module__}:{k.__qualname__}" for k in type(exc).__mro__][:12]
        return {
            "raised": {"types": names, "message": str(exc)[:2000], "attrs": {"judge_class": token}}
        }

    # -- requests -----------------------------------------------------------------------------

    def request(self, op: str, **fields: Any) -> dict:
        """One request to :mod:`grader.judge.probe` in the kernel, and its reply as JSON data.

        While the learner's code runs, the kernel may ask about objects the judge lent: each
        question is answered here, until the reply comes.
        """
        if self.dead or self.sock is None:
            raise JudgeError(self.dead or "the grader is not connected to your kernel")
        deadline = self._deadline = time.monotonic() + self.timeout
        try:
            self.sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
            while True:
                message = self._receive(deadline)
                if "ask" in message:
                    self.sock.sendall(self._answer(message["ask"]).encode() + b"\n")
                    continue
                reply = message.get("reply")
                if not isinstance(reply, dict):
                    raise JudgeError("your kernel's reply could not be read as data")
                if "error" in reply:
                    raise JudgeError(
                        f"the grader's request failed in your kernel: {reply['error']}"[:300]
                    )
                return reply
        except TimeoutError:
            self._give_up()
            raise JudgeError(
                f"your code did not answer within {self.timeout:g} s (an endless loop, or "
                "waiting for something that never comes?)"
            ) from None
        except OSError as exc:
            self.dead = f"the connection to your kernel broke ({exc.strerror or exc})"
            raise JudgeError(self.dead) from None

    def _receive(self, deadline: float) -> dict:
        """The next JSON line from the kernel (at most :data:`MAX_REPLY_CHARS`)."""
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise OSError("your kernel hung up")
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY_CHARS:
                self.dead = "your kernel's reply was too large to read"
                raise JudgeError(self.dead)
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict):
            raise JudgeError("your kernel's reply could not be read as data")
        return message

    def _give_up(self) -> None:
        """Interrupt the kernel; no further request is sent (the reply may never come)."""
        with contextlib.suppress(Exception):
            self.client.control_channel.send(self.client.session.msg("interrupt_request", {}))
        self.dead = "the notebook's kernel stopped answering after an earlier call timed out"

    def result(self, reply: dict, what: str) -> Any:
        """The value of a ``get`` or ``call`` reply; a described exception is raised here."""
        if "raised" in reply:
            raise rebuild_exception(reply["raised"], self.classes)
        return self.decode(reply.get("value"), what)


def _is_aws_client(obj: Any) -> bool:
    botocore = sys.modules.get("botocore.client")
    return botocore is not None and isinstance(obj, botocore.BaseClient)


def lent_attributes(obj: Any) -> frozenset[str]:
    """The attributes and methods the learner's code may use on the judge's ``obj`` when it
    is lent: an AWS client's API operations, or :data:`LENT_ATTRIBUTES`' list for its class
    (empty: ``obj`` is never lent)."""
    if _is_aws_client(obj):
        return frozenset(obj.meta.method_to_api_mapping)
    kind = type(obj)
    return LENT_ATTRIBUTES.get(f"{kind.__module__}.{kind.__qualname__}", frozenset())


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _own_listening_ports() -> set[int]:
    """The TCP ports this process listens on at 127.0.0.1 (Linux; elsewhere none)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    with contextlib.suppress(OSError), open("/proc/net/tcp") as table:  # noqa: PTH123
        for line in list(table)[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            address, port = local.split(":")
            if state == "0A" and address == "0100007F" and inode in inodes:  # LISTEN, 127.0.0.1
                ports.add(int(port, 16))
    return ports


class _Relay:
    """The judge's end of :meth:`KernelLink.forward`: a Unix socket whose connections each
    name a port, relayed to 127.0.0.1:port if it is one of :attr:`allowed`."""

    def __init__(self, folder: Path) -> None:
        self.allowed: set[int] = set()
        self.path = folder / f"relay-{secrets.token_hex(6)}.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        os.chmod(self.path, 0o666)  # the sandboxed kernel runs as a user of its own
        self.listener.listen(16)
        threading.Thread(target=self._accept, name="judge-relay", daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        with conn:
            header = b""
            while not header.endswith(b"\n") and len(header) < 8:
                chunk = conn.recv(1)
                if not chunk:
                    return
                header += chunk
            try:
                port = int(header)
            except ValueError:
                return
            if port not in self.allowed:
                return  # only the judge's own servers: never any other port of this machine
            try:
                far = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                return
            far.settimeout(None)
            with far:
                thread = threading.Thread(target=_pump, args=(far, conn), daemon=True)
                thread.start()
                _pump(conn, far)
                thread.join(timeout=30)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class RemoteObject:
    """One of the learner's objects, in their kernel: a function of theirs, or an object one
    returned. Calling it calls it there (arguments pickled by the judge, the result back as
    data); reading an attribute reads it there."""

    def __init__(self, link: KernelLink, target: dict, label: str) -> None:
        self._link = link
        self._target = target
        self._methods: set[str] = set()
        self.__name__ = self.__qualname__ = label

    def __repr__(self) -> str:
        return f"<your {self.__name__}>"

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_") or "handle" not in self._target:
            raise AttributeError(attr)
        target = {**self._target, "attr": attr}
        if attr in self._methods:  # known to be a method: called next, in one request
            return RemoteObject(self._link, target, f"{self.__name__}.{attr}")
        value = self._link.result(
            self._link.request("get", target=target), f"{self.__name__}.{attr}"
        )
        if isinstance(value, RemoteObject) and value.__name__ == "method":
            self._methods.add(attr)
            return RemoteObject(self._link, target, f"{self.__name__}.{attr}")
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            packed = self._link.pack((args, kwargs))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise JudgeError(
                f"the test's arguments to {self.__name__} cannot be sent to your kernel ({exc}): "
                "this is a bug in the test, tell your instructor"
            ) from None
        link = self._link
        if link.stale and link.before_call is not None:
            link.stale = False
            try:
                link.forward()
                link.before_call()
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise JudgeError(
                    f"the grader could not give your kernel the lesson's values ({exc}): "
                    "tell your instructor"
                ) from None
        reply = link.request("call", target=self._target, args=packed)
        return link.result(reply, f"the result of {self.__name__}")


class Unreadable:
    """Stands for a learner's value the judge could not read: any use fails the test."""

    def __init__(self, name: str, why: str) -> None:
        self._why = f"{name} holds something the grader cannot read ({why}): use plain data"

    def __getattr__(self, attr: str) -> Any:
        raise JudgeError(self._why)

    def __eq__(self, other: object) -> bool:
        raise JudgeError(self._why)

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self):
        raise JudgeError(self._why)

    def __bool__(self) -> bool:
        raise JudgeError(self._why)
