"""The judge: every graded test of a notebook, run outside the learner's kernel.

While a notebook is graded, the learner's code runs in its own sandboxed kernel; the graded
test cells are never sent there (:mod:`grader.judged_execute`). Once the notebook has run,
the judge (``python -m grader.judge``, a separate process that never runs learner code)
replays the *instructor's* notebook, taken from the course's sources:

* lesson cells run here, as the instructor wrote them (the learner's copies are ignored);
* an answer cell is not run: each name the solution defines there is bound to the learner's
  version, reached through the kernel. A function becomes a :class:`RemoteFunction` (its
  arguments go in as a pickle made here, its result comes back as plain data, an exception
  as its class names and message); a value is read once, as plain data;
* test cells, visible and hidden, run here and give a :class:`Verdict` each: passed, or the
  failure's message. Output the learner's code prints during a test is never read.

The learner's replies are decoded by :func:`decode`, which accepts only JSON with the tags of
:mod:`grader.probe`, within size and depth limits. A hostile notebook can make its replies
wrong or unreadable; it cannot make a test pass without answering inputs it never saw, see a
hidden test, or reach the judge's memory.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import math
import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_REPLY_CHARS",
    "JudgeError",
    "JudgeScript",
    "JudgeStep",
    "KernelLink",
    "RemoteFunction",
    "RemoteRaised",
    "Verdict",
    "decode",
    "judge_notebook",
    "judge_script",
    "run_script",
]

MAX_REPLY_CHARS = 8_000_000
"""Characters of one reply from the learner's kernel the judge reads (more: unreadable)."""

MAX_DEPTH = 32
VISIBLE_PASSED = "Visible checks passed."
"""What :func:`authlab.course.feedback.passed` prints when a cell's visible checks pass."""
_PROBE = Path(__file__).with_name("probe.py").read_text(encoding="utf-8")
_EXCEPTION_ROOTS = ("builtins", "authlab", "jwt", "botocore", "binascii", "json", "cryptography")


class JudgeError(Exception):
    """The judge could not get an answer from the learner's kernel (the message says why)."""


@dataclass
class JudgeStep:
    """One code cell of the instructor's notebook, as the judge replays it."""

    kind: str  # "lesson", "answer" or "test"
    source: str = ""  # lesson and test cells: the instructor's source
    names: list[str] = field(default_factory=list)  # answer cells: the names they define
    grade_id: str = ""
    points: float = 0.0


@dataclass
class JudgeScript:
    """The instructor's notebook reduced to what the judge replays (plain data)."""

    steps: list[JudgeStep]
    shared: list[str] = field(default_factory=list)
    """Lesson names whose values the judge gives the learner's kernel before each test: the
    configuration an answer runs with (the issuer and keys it trusts, the ids of the user
    pool it signs in to), as a deployment would set it. Values go in as pickles; they are
    the judge's own, so the answers are tested against the state the tests see."""

    @property
    def tests(self) -> list[JudgeStep]:
        """The graded test cells the judge scores (those worth points)."""
        return [step for step in self.steps if step.kind == "test" and step.points > 0]

    @property
    def answer_names(self) -> list[str]:
        """Every name an answer cell defines, in order."""
        return [name for step in self.steps if step.kind == "answer" for name in step.names]

    def to_dict(self) -> dict:
        """The script as JSON-ready data."""
        return {"steps": [asdict(step) for step in self.steps], "shared": list(self.shared)}

    @classmethod
    def from_dict(cls, data: dict) -> JudgeScript:
        """The script from :meth:`to_dict`'s data."""
        return cls([JudgeStep(**step) for step in data["steps"]], list(data.get("shared", [])))


@dataclass
class Verdict:
    """The judge's decision on one graded test cell."""

    grade_id: str
    passed: bool
    message: str = ""
    visible_passed: bool = False  # the cell's visible checks passed before a hidden one failed


def defined_names(source: str) -> list[str]:
    """The top-level names a cell defines (functions, classes, assignments, imports)."""
    names: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def judge_script(nb: Any) -> JudgeScript:
    """The :class:`JudgeScript` of an instructor's (source) notebook."""
    steps = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            steps.append(JudgeStep("answer", names=defined_names(_strip_markers(cell.source))))
        elif meta.get("grade"):
            steps.append(
                JudgeStep(
                    "test",
                    source=cell.source,
                    grade_id=meta["grade_id"],
                    points=float(meta.get("points") or 0),
                )
            )
        elif cell.source.strip():
            steps.append(JudgeStep("lesson", source=cell.source))
    shared = (nb.metadata.get("grader") or {}).get("share") or []
    return JudgeScript(steps, [str(name) for name in shared])


def _strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.strip().startswith("### "))


# -- what comes back from the learner's kernel -------------------------------------------------


def decode(data: Any, depth: int = 0) -> Any:
    """A value sent by :func:`grader.probe.encode`, rebuilt; anything else raises ``ValueError``."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    if data is None or isinstance(data, bool | int | str):
        return data
    if isinstance(data, float):
        if not math.isfinite(data):
            raise ValueError("a number that is not finite, outside a $float tag")
        return data
    if isinstance(data, list):
        return [decode(item, depth + 1) for item in data]
    if not isinstance(data, dict):
        raise ValueError(f"unexpected {type(data).__name__}")
    tags = [key for key in data if key.startswith("$")]
    if not tags:
        return {key: decode(item, depth + 1) for key, item in data.items()}
    if len(data) != 1:
        raise ValueError("a tagged value with other keys")
    tag, body = next(iter(data.items()))
    if tag == "$bytes" and isinstance(body, str):
        return base64.b64decode(body, validate=True)
    if tag == "$tuple" and isinstance(body, list):
        return tuple(decode(item, depth + 1) for item in body)
    if tag == "$set" and isinstance(body, list):
        return {_hashable(decode(item, depth + 1)) for item in body}
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$map" and isinstance(body, list):
        pairs = []
        for pair in body:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError("a $map entry that is not a [key, value] pair")
            pairs.append((_hashable(decode(pair[0], depth + 1)), decode(pair[1], depth + 1)))
        return dict(pairs)
    if tag == "$jwk" and isinstance(body, dict):
        import jwt

        try:
            return jwt.PyJWK(body).key
        except jwt.PyJWKError as exc:
            raise ValueError(f"a key that is not a valid JWK ({exc})") from None
    raise ValueError(f"an unknown tag {tag!r}")


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


def rebuild_exception(info: dict) -> Exception:
    """The learner's exception (:mod:`grader.probe`'s ``raised``) as an exception here."""
    types = [str(t) for t in info.get("types", []) if isinstance(t, str)][:12] or [
        "builtins:Exception"
    ]
    base: type[Exception] = Exception
    for entry in types:
        known = _known_class(entry)
        if known is not None:
            base = known
            break
    module, _, qualname = types[0].partition(":")
    name = qualname.rsplit(".", 1)[-1][:80] or "Exception"
    kind = type(name, (RemoteRaised, base), {"__module__": module[:80] or "builtins"})
    exc = kind.__new__(kind)
    message = str(info.get("message", ""))[:2000]
    exc.args = (message,)
    attrs = info.get("attrs") if isinstance(info.get("attrs"), dict) else {}
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


# -- the link to the learner's kernel ----------------------------------------------------------


class KernelLink:
    """Requests to the learner's kernel over its own (sandboxed) connection."""

    def __init__(self, connection: dict, timeout: float) -> None:
        from jupyter_client.blocking import BlockingKernelClient

        self.timeout = timeout
        self.client = BlockingKernelClient()
        self.client.load_connection_info(connection)
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)
        self.dead: str | None = None

    def close(self) -> None:
        """Close the channels (the kernel itself is the worker's to stop)."""
        with contextlib.suppress(Exception):
            self.client.stop_channels()

    def request(self, op: str, **fields: Any) -> dict:
        """One request to :mod:`grader.probe` in the kernel, and its reply as JSON data."""
        if self.dead:
            raise JudgeError(self.dead)
        var = f"_grader_reply_{secrets.token_hex(8)}"
        payload = json.dumps({"op": op, **fields})
        code = (
            f"exec({_PROBE!r}, {{'__name__': 'grader_probe', '_user_ns': globals(), "
            f"'_request': {payload!r}, '_var': {var!r}}})"
        )
        msg_id = self.client.execute(
            code,
            silent=True,
            store_history=False,
            user_expressions={"reply": f"globals().pop({var!r}, None)"},
            allow_stdin=False,
        )
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._give_up()
                raise JudgeError(
                    f"your code did not answer within {self.timeout:g} s (an endless loop, or "
                    "waiting for something that never comes?)"
                )
            try:
                reply = self.client.get_shell_msg(timeout=min(left, 1.0))
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the deadline
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return self._read(reply.get("content", {}))

    def _give_up(self) -> None:
        """Interrupt the kernel; if it does not recover, no further request is sent."""
        with contextlib.suppress(Exception):
            self.client.control_channel.send(self.client.session.msg("interrupt_request", {}))
        self.dead = "the notebook's kernel stopped answering after an earlier call timed out"

    @staticmethod
    def _read(content: dict) -> dict:
        if content.get("status") != "ok":
            raise JudgeError(
                "the grader's request failed in your kernel ("
                f"{str(content.get('ename', 'error'))[:80]}): does the notebook change how "
                "Python runs code?"
            )
        found = (content.get("user_expressions") or {}).get("reply") or {}
        text = (found.get("data") or {}).get("text/plain", "")
        if not isinstance(text, str) or len(text) > MAX_REPLY_CHARS + 100:
            raise JudgeError("your kernel's reply was too large to read")
        try:
            raw = ast.literal_eval(text)
            reply = json.loads(raw, parse_constant=_no_constant) if isinstance(raw, str) else None
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            reply = None
        if not isinstance(reply, dict):
            raise JudgeError("your kernel's reply could not be read as data")
        if "error" in reply:
            raise JudgeError(f"the grader's request failed in your kernel: {reply['error']}"[:300])
        return reply


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class RemoteFunction:
    """The learner's function ``name``, called in their kernel with the judge's arguments."""

    def __init__(self, name: str, link: KernelLink) -> None:
        self.__name__ = self.__qualname__ = name
        self._link = link

    def __repr__(self) -> str:
        return f"<your function {self.__name__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            packed = pickle.dumps((args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise JudgeError(
                f"the test's arguments to {self.__name__} cannot be sent to your kernel ({exc}): "
                "this is a bug in the test, tell your instructor"
            ) from None
        reply = self._link.request(
            "call", name=self.__name__, args=base64.b64encode(packed).decode("ascii")
        )
        if "raised" in reply:
            raise rebuild_exception(reply["raised"])
        for index, after in (reply.get("after") or {}).items():
            target = args[int(index)] if index.isdigit() and int(index) < len(args) else None
            _sync(target, after)
        if "unreadable" in reply:
            raise JudgeError(
                f"{self.__name__} returned something the grader cannot read "
                f"({str(reply['unreadable'])[:120]}): return plain data (str, int, float, bool, "
                "None, list, tuple, dict, bytes)"
            )
        return _decoded(reply.get("value"), f"the result of {self.__name__}")


def _decoded(data: Any, what: str) -> Any:
    try:
        return decode(data)
    except (ValueError, TypeError) as exc:
        raise JudgeError(f"{what} could not be read as data ({exc})") from None


def _sync(target: Any, after: Any) -> None:
    """Make a dict or list argument hold what the learner's function left in its copy."""
    value = _decoded(after, "an argument after the call")
    if isinstance(target, dict) and isinstance(value, dict) and target != value:
        target.clear()
        target.update(value)
    elif isinstance(target, list) and isinstance(value, list) and target != value:
        target[:] = value


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


# -- replaying the instructor's notebook -------------------------------------------------------


def _message(exc: BaseException, answers: set[str]) -> str:
    from authlab.course.feedback import CheckFailed

    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, CheckFailed | JudgeError):
        message = text
    elif isinstance(exc, NotImplementedError):
        message = "not answered yet (the answer still raises NotImplementedError)"
    elif isinstance(exc, RemoteRaised):
        where = exc.learner_where
        message = f"your code raised {type(exc).__name__}{': ' + first if first else ''}{where}"
    elif isinstance(exc, NameError) and getattr(exc, "name", None) in answers:
        message = f"{exc.name} is not defined in your notebook: did its answer cell run, or was it renamed?"
    elif isinstance(exc, AssertionError):
        message = f"a hidden check failed{': ' + first if first else ''}"
    else:
        message = f"{type(exc).__name__}{': ' + first if first else ''}"
    return message[:600]


def _shell() -> Any:
    """An IPython shell with no display: magics work, ``%matplotlib inline`` draws nothing."""
    from IPython.core.interactiveshell import InteractiveShell

    class JudgeShell(InteractiveShell):
        def enable_gui(self, gui: str | None = None) -> None:
            """No GUI event loop: the judge draws nothing."""

    os.environ["MPLBACKEND"] = "agg"
    return JudgeShell.instance()


def run_script(
    script: JudgeScript, link: KernelLink, lesson_errors: list[str] | None = None
) -> list[Verdict]:
    """Replay ``script`` against the learner's kernel behind ``link``; one verdict per test.

    A lesson cell that fails here is a problem of the course, not of the learner: its error is
    appended to ``lesson_errors`` (the tests after it will usually fail too).
    """
    shell = _shell()
    answers = set(script.answer_names)
    kinds: dict[str, str] = {}
    if answers:
        try:
            kinds = link.request("describe", names=sorted(answers)).get("kinds") or {}
        except JudgeError as exc:
            return [Verdict(t.grade_id, False, str(exc)) for t in script.tests]
    verdicts = []
    for step in script.steps:
        if step.kind == "answer":
            for name in step.names:
                _bind(shell.user_ns, name, str(kinds.get(name, "missing")), link)
        elif step.kind == "lesson":
            result = shell.run_cell(step.source, store_history=False, silent=True)
            error = result.error_before_exec or result.error_in_exec
            if error is not None and lesson_errors is not None:
                first = (str(error).strip().splitlines() or [""])[0]
                lesson_errors.append(f"{type(error).__name__}: {first}"[:300])
        elif step.points > 0:
            problem = _share(shell.user_ns, script.shared, link)
            if problem:
                verdicts.append(Verdict(step.grade_id, False, problem))
                continue
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                result = shell.run_cell(step.source, store_history=False, silent=True)
            error = result.error_before_exec or result.error_in_exec
            if error is None:
                verdicts.append(Verdict(step.grade_id, True))
            else:
                visible = VISIBLE_PASSED in printed.getvalue()
                verdicts.append(Verdict(step.grade_id, False, _message(error, answers), visible))
    return verdicts


def _share(ns: dict, names: list[str], link: KernelLink) -> str:
    """Give the kernel the judge's values of ``names``; ``""`` or what went wrong."""
    if not names:
        return ""
    values = {name: ns[name] for name in names if name in ns}
    try:
        packed = pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        return f"the grader could not share {', '.join(values)} with your kernel ({exc}): tell your instructor"
    try:
        link.request("set", values=base64.b64encode(packed).decode("ascii"))
    except JudgeError as exc:
        return str(exc)
    return ""


def _bind(ns: dict, name: str, kind: str, link: KernelLink) -> None:
    if kind == "callable":
        ns[name] = RemoteFunction(name, link)
    elif kind == "value":
        try:
            reply = link.request("get", name=name)
        except JudgeError as exc:
            ns[name] = Unreadable(name, str(exc))
            return
        if "unreadable" in reply:
            ns[name] = Unreadable(name, str(reply["unreadable"])[:120])
        else:
            try:
                ns[name] = decode(reply.get("value"))
            except (ValueError, TypeError) as exc:
                ns[name] = Unreadable(name, str(exc))
    else:
        ns.pop(name, None)


# -- the judge as a process --------------------------------------------------------------------


PRELOAD = (
    "IPython.core.interactiveshell",
    "jupyter_client.blocking",
    "authlab",
    "authlab.course.feedback",
    "authlab.cloud.gateway",
    "authlab.cloud.idp",
    "jwt",
    "requests",
    "boto3",
    "botocore.session",
    "moto.server",
    "matplotlib.pyplot",
)
"""Modules the warm judge imports once per worker, before it forks a judge per notebook."""

_server: subprocess.Popen | None = None


def judge_notebook(
    script: JudgeScript,
    connection: dict,
    *,
    timeout: float,
    limit: float,
    lesson_errors: list[str] | None = None,
) -> list[Verdict]:
    """Judge one notebook against the kernel at ``connection``, in a process of its own.

    The process is forked from a warm judge (:func:`serve`) that has imported
    :data:`PRELOAD` once for this worker; where ``fork`` is missing it is a fresh
    ``python -m grader.judge``. ``timeout`` bounds each call into the learner's kernel;
    ``limit`` the whole judge. The errors of lesson cells in the judge are appended to
    ``lesson_errors``. Raises :class:`JudgeError` if the judge itself fails (not a verdict:
    a grader problem).
    """
    request = {
        "script": script.to_dict(),
        "connection": {
            k: (v.decode() if isinstance(v, bytes) else v) for k, v in connection.items()
        },
        "timeout": timeout,
    }
    line = _ask_server(request, limit) if hasattr(os, "fork") else _ask_process(request, limit)
    try:
        found = json.loads(line)
        verdicts = [Verdict(**verdict) for verdict in found["verdicts"]]
    except (ValueError, KeyError, TypeError):
        raise JudgeError(f"the judge failed: {line[-200:] or 'no output'}") from None
    if lesson_errors is not None:
        lesson_errors += [str(e) for e in found.get("lesson_errors", [])]
    return verdicts


def _ask_process(request: dict, limit: float) -> str:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "grader.judge"],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise JudgeError(f"the judge did not finish within {limit:g} s") from None
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if not lines:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return f"exit {done.returncode}: {tail[0][:200]}"
    return lines[-1]


def _ask_server(request: dict, limit: float) -> str:
    """One request to this worker's warm judge; it is restarted if it died or timed out."""
    import selectors

    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, "-m", "grader.judge", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=tempfile.gettempdir(),  # the worker's own folder is a scratch one, soon gone
        )
    server = _server
    try:
        server.stdin.write(json.dumps(request).encode() + b"\n")
        server.stdin.flush()
    except OSError:
        _stop_server()
        raise JudgeError("the judge could not be started") from None
    deadline = time.monotonic() + limit
    received = b""
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        while not received.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(timeout=left):
                _stop_server()
                raise JudgeError(f"the judge did not finish within {limit:g} s")
            chunk = os.read(server.stdout.fileno(), 1 << 20)
            if not chunk:
                _stop_server()
                return received.decode(errors="replace") or "the judge stopped"
            received += chunk
    return received.decode(errors="replace").strip()


def _stop_server() -> None:
    global _server
    if _server is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(_server.pid, 9)
        with contextlib.suppress(Exception):
            _server.wait(timeout=5)
    _server = None


def _judge(request: dict) -> str:
    """Judge one request in this process; the reply line (``{"verdicts": ...}``)."""
    link = KernelLink(request["connection"], float(request["timeout"]))
    lesson_errors: list[str] = []
    try:
        verdicts = run_script(JudgeScript.from_dict(request["script"]), link, lesson_errors)
    finally:
        link.close()
    return json.dumps({"verdicts": [asdict(v) for v in verdicts], "lesson_errors": lesson_errors})


def _quiet() -> int:
    """Send this process's output to /dev/null; return a descriptor of the real stdout."""
    out = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    sys.stdout = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), write_through=True)
    return out


def serve() -> None:
    """The warm judge: import :data:`PRELOAD`, then fork one judge per request line."""
    import gc
    import importlib

    out = _quiet()
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    gc.collect()
    gc.freeze()
    for line in sys.stdin.buffer:
        scratch = tempfile.mkdtemp(prefix="judge-")  # the lessons' working folder
        child = os.fork()
        if child == 0:
            try:
                os.chdir(scratch)
                reply = _judge(json.loads(line))
            except BaseException as exc:  # noqa: BLE001 - reported, then the child exits
                reply = f"{type(exc).__name__}: {exc}"[:300].replace("\n", " ")
            os.write(out, reply.encode() + b"\n")
            os._exit(0)
        _, status = os.waitpid(child, 0)
        if status != 0:
            os.write(out, b"the judge process crashed\n")
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    """``python -m grader.judge``: a request on stdin, the reply line on stdout.

    With ``--serve``, the warm judge of :func:`serve` (one request per line, forever).
    """
    if sys.argv[1:] == ["--serve"]:
        serve()
        return 0
    request = json.loads(sys.stdin.buffer.read())
    out = _quiet()
    reply = _judge(request)
    os.write(out, reply.encode() + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
