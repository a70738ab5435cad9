"""The judge: every graded test of a notebook, run outside the learner's kernel.

While a notebook is graded, the learner's code runs in its own sandboxed kernel; the graded
test cells are never sent there (:mod:`grader.judged_execute`). Once the notebook has run,
the judge (a separate process that never runs learner code) replays the *instructor's*
notebook, taken from the course's sources:

* lesson cells run here, as the instructor wrote them (the learner's copies are ignored);
* an answer cell is not run: each name the solution defines there is bound to the learner's
  version, reached through the kernel (:mod:`grader.link`). A function becomes a
  :class:`~grader.link.RemoteObject` (its arguments go in as a pickle made here, its result
  comes back as plain data, an exception as its class names and message); a value is read
  once, as plain data;
* before the learner's code runs, the kernel gets the judge's lesson values (ids, keys,
  issuers: the world the tests see), as a deployment configures a function. What cannot be
  copied (an AWS client) is lent: the learner's code uses the judge's own object, through
  the kernel's link to the judge, so its AWS calls reach the judge's local AWS, whose state
  the tests then read; the judge's local servers are reachable from the kernel at their
  own addresses;
* test cells, visible and hidden, run here and give a :class:`Verdict` each: passed, or the
  failure's message. Output the learner's code prints during a test is never read.

A hostile notebook can make its replies wrong or unreadable; it cannot make a test pass
without answering inputs it never saw, see a hidden test, or reach the judge's memory.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .link import JudgeError, KernelLink, RemoteObject, Unreadable
from .wire import RemoteRaised

__all__ = [
    "PRELOAD",
    "VISIBLE_PASSED",
    "JudgeScript",
    "JudgeStep",
    "Verdict",
    "JudgeRun",
    "judge_script",
    "run_script",
]

VISIBLE_PASSED = "Visible checks passed."
"""How a test cell's output starts when its visible checks passed and a hidden one failed."""


@dataclass
class JudgeStep:
    """One code cell of the instructor's notebook, as the judge replays it."""

    kind: str  # "lesson", "answer" or "test"
    source: str = ""  # lesson cells, and a test cell's visible checks: the instructor's source
    hidden: str = ""  # a test cell's hidden checks (run after its visible ones)
    names: list[str] = field(default_factory=list)  # answer cells: the names they define
    grade_id: str = ""
    points: float = 0.0


@dataclass
class JudgeScript:
    """The instructor's notebook reduced to what the judge replays (plain data)."""

    steps: list[JudgeStep]
    lend_types: list[str] = field(default_factory=list)
    """Classes whose instances the judge lends rather than copies when a test hands one to
    the learner's code (a token service that counts the refreshes it is asked for)."""

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
        return {
            "steps": [asdict(step) for step in self.steps],
            "lend_types": list(self.lend_types),
        }

    @classmethod
    def from_dict(cls, data: dict) -> JudgeScript:
        """The script from :meth:`to_dict`'s data."""
        return cls(
            [JudgeStep(**step) for step in data["steps"]],
            list(data.get("lend_types", [])),
        )


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
            visible, hidden = _split_hidden(cell.source)
            steps.append(
                JudgeStep(
                    "test",
                    source=visible,
                    hidden=hidden,
                    grade_id=meta["grade_id"],
                    points=float(meta.get("points") or 0),
                )
            )
        elif cell.source.strip():
            steps.append(JudgeStep("lesson", source=cell.source))
    settings = nb.metadata.get("grader") or {}
    return JudgeScript(steps, [str(name) for name in settings.get("lend_types") or []])


def _split_hidden(source: str) -> tuple[str, str]:
    """A test cell's visible checks and its hidden ones (nbgrader's HIDDEN TESTS block)."""
    begin, end = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
    if begin not in source:
        return source, ""
    before, _, rest = source.partition(begin)
    hidden, _, after = rest.partition(end)
    return before + after, hidden


def _strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.strip().startswith("### "))


# -- replaying the instructor's notebook -------------------------------------------------------


def _message(exc: BaseException, answers: set[str], *, hidden: bool = False) -> str:
    """The verdict's message for a failed check. For a hidden check it names what was
    checked, never the expected value nor what the learner's code said (which could carry
    the hidden inputs out)."""
    from authlab.course.feedback import CheckFailed

    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, NotImplementedError):
        message = "not answered yet (the answer still raises NotImplementedError)"
    elif isinstance(exc, RemoteRaised):
        said = "" if hidden else (f": {first}" if first else "")
        during = " during a hidden check" if hidden else ""
        message = f"your code raised {type(exc).__name__}{said}{during}{exc.learner_where}"
    elif isinstance(exc, NameError) and getattr(exc, "name", None) in answers:
        message = (
            f"{exc.name} is not defined in your notebook: did its answer cell run, or was it "
            "renamed?"
        )
    elif isinstance(exc, JudgeError):
        message = text
    elif hidden:
        what = str(getattr(exc, "what", "") or "") if isinstance(exc, CheckFailed) else ""
        message = f"a hidden check failed{f' ({what[:150]})' if what else ''}"
    elif isinstance(exc, CheckFailed):
        message = text
    elif isinstance(exc, AssertionError):
        message = f"a check failed{': ' + first if first else ''}"
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
    script: JudgeScript,
    connect: Callable[[], KernelLink],
    lesson_errors: list[str] | None = None,
    ready: Callable[[], bool] = lambda: True,
) -> list[Verdict]:
    """Replay ``script`` against the learner's kernel; one verdict per test.

    The lesson cells before the first answer run at once (while the learner's notebook still
    runs in its kernel); then ``ready()`` waits until it has run (``False``: grading was
    abandoned, no verdict) and ``connect()`` links the judge to the kernel.

    The error of a lesson cell that fails here is appended to ``lesson_errors``: a lesson that
    uses an unanswered exercise fails, as it does in the learner's kernel; one that fails on
    the solution too is a problem of the course (the tests after it usually fail as well).
    """
    shell = _shell()
    steps = script.steps
    first = next((i for i, step in enumerate(steps) if step.kind != "lesson"), len(steps))
    for step in steps[:first]:
        _lesson(shell, step, lesson_errors)
    if not ready():
        return []
    link = connect()
    try:
        return _replay(script, steps[first:], shell, link, lesson_errors)
    finally:
        link.close()


def _lesson(shell: Any, step: JudgeStep, lesson_errors: list[str] | None) -> None:
    result = shell.run_cell(step.source, store_history=False, silent=True)
    error = result.error_before_exec or result.error_in_exec
    if error is not None and lesson_errors is not None:
        first = (str(error).strip().splitlines() or [""])[0]
        lesson_errors.append(f"{type(error).__name__}: {first}"[:300])


def _replay(
    script: JudgeScript,
    steps: list[JudgeStep],
    shell: Any,
    link: KernelLink,
    lesson_errors: list[str] | None,
) -> list[Verdict]:
    answers = set(script.answer_names)
    link.before_call = lambda: _share(shell.user_ns, answers, link)
    kinds: dict[str, str] = {}
    if answers:
        try:
            kinds = link.request("describe", names=sorted(answers)).get("kinds") or {}
        except JudgeError as exc:
            return [Verdict(t.grade_id, False, str(exc)) for t in script.tests]
    verdicts = []
    for step in steps:
        if step.kind == "answer":
            for name in step.names:
                _bind(shell.user_ns, name, str(kinds.get(name, "missing")), link)
        elif step.kind == "lesson":
            link.stale = True
            _lesson(shell, step, lesson_errors)
        elif step.points > 0:
            link.stale = True
            verdicts.append(_test(shell, step, answers))
    return verdicts


def _test(shell: Any, step: JudgeStep, answers: set[str]) -> Verdict:
    """Run a test cell's visible checks, then its hidden ones; the verdict."""
    for part, hidden in ((step.source, False), (step.hidden, True)):
        if not part.strip():
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            result = shell.run_cell(part, store_history=False, silent=True)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            message = _message(error, answers, hidden=hidden)
            return Verdict(step.grade_id, False, message, visible_passed=hidden)
    return Verdict(step.grade_id, True)


_NOT_SHARED = {"In", "Out", "exit", "quit", "get_ipython"}


def _share(ns: dict, answers: set[str], link: KernelLink) -> None:
    """Give the kernel the judge's lesson values: the world the answers run in is the one
    the tests see (ids, keys, issuers, AWS clients). Values are copied, or lent when they
    cannot be (an AWS client); the kernel keeps its own modules, functions and classes (they
    read the values given here), the learner's names and whatever it cannot load."""
    values = {}
    for name, value in list(ns.items()):
        if name.startswith("_") or name in answers or name in _NOT_SHARED:
            continue
        if isinstance(value, _KEPT) or isinstance(value, RemoteObject | Unreadable):
            continue
        try:
            values[name] = link.pack(value)
        except Exception:  # noqa: BLE001, S112 - pickle raises many kinds: lend it, or not share
            if link.may_lend(value):
                link.lend(value)
                values[name] = link.pack(value)
    if values:
        link.request("set", values=values)


_KEPT = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _bind(ns: dict, name: str, kind: str, link: KernelLink) -> None:
    if kind == "callable":
        ns[name] = RemoteObject(link, {"name": name}, name)
    elif kind == "value":
        try:
            ns[name] = link.result(link.request("get", target={"name": name}), name)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the tests that use it fail
            ns[name] = Unreadable(name, str(exc)[:200])
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


class JudgeRun:
    """One notebook's judge, started early so that the lessons it replays before the first
    answer run while the learner's notebook still runs in its kernel.

    Forked from this worker's warm judge (:func:`serve`), which has imported
    :data:`PRELOAD` once; where ``fork`` is missing, a fresh ``python -m grader.judge`` runs
    it all in :meth:`finish`. ``timeout`` bounds each call into the learner's kernel;
    ``folder`` is one the kernel sees too (the judge's socket goes there).
    """

    def __init__(
        self, script: JudgeScript, connection: dict, *, timeout: float, folder: str | None = None
    ) -> None:
        self.request = {
            "script": script.to_dict(),
            "connection": {
                k: (v.decode() if isinstance(v, bytes) else v) for k, v in connection.items()
            },
            "timeout": timeout,
            "folder": folder,
        }
        self.forked = hasattr(os, "fork")
        self.open = False
        if self.forked:
            self.open = _send(json.dumps(self.request).encode() + b"\n")

    def finish(self, limit: float, lesson_errors: list[str] | None = None) -> list[Verdict]:
        """The verdicts, once the learner's notebook has run. The errors of lesson cells in
        the judge are appended to ``lesson_errors``. Raises :class:`JudgeError` if the judge
        itself fails (not a verdict: a grader problem)."""
        if not self.forked:
            line = _ask_process(self.request, limit)
        elif not (self.open and _send(b"go\n")):
            raise JudgeError("the judge could not be started")
        else:
            self.open = False
            line = _receive(limit)
        try:
            found = json.loads(line)
            verdicts = [Verdict(**verdict) for verdict in found["verdicts"]]
        except (ValueError, KeyError, TypeError):
            raise JudgeError(f"the judge failed: {line[-200:] or 'no output'}") from None
        if lesson_errors is not None:
            lesson_errors += [str(e) for e in found.get("lesson_errors", [])]
        return verdicts

    def cancel(self) -> None:
        """The notebook could not be run: let the judge go without a verdict."""
        if self.open:
            self.open = False
            if _send(b"stop\n"):
                with contextlib.suppress(JudgeError):
                    _receive(30.0)


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


def _send(data: bytes) -> bool:
    """Write to this worker's warm judge, started (or restarted) if needed."""
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
    try:
        _server.stdin.write(data)
        _server.stdin.flush()
    except OSError:
        _stop_server()
        return False
    return True


def _receive(limit: float) -> str:
    """The warm judge's reply line; it is stopped if it died or took longer than ``limit``."""
    server = _server
    if server is None:
        raise JudgeError("the judge is not running")
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


def _judge(request: dict, ready: Callable[[], bool] = lambda: True) -> str:
    """Judge one request in this process; the reply line (``{"verdicts": ...}``)."""
    script = JudgeScript.from_dict(request["script"])

    def connect() -> KernelLink:
        return KernelLink(
            request["connection"],
            float(request["timeout"]),
            tuple(script.lend_types),
            request.get("folder"),
        )

    lesson_errors: list[str] = []
    verdicts = run_script(script, connect, lesson_errors, ready)
    return json.dumps({"verdicts": [asdict(v) for v in verdicts], "lesson_errors": lesson_errors})


def _waiter(fd: int) -> Callable[[], bool]:
    """In a forked judge: wait for the worker's word, relayed on ``fd`` (``go``: the notebook
    has run; anything else: grading was abandoned)."""

    def ready() -> bool:
        with os.fdopen(fd, "rb") as words:
            return words.readline().strip() == b"go"

    return ready


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
        words, relay = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.close(relay)
                os.chdir(scratch)
                reply = _judge(json.loads(line), _waiter(words))
            except BaseException as exc:  # noqa: BLE001 - reported, then the child exits
                reply = f"{type(exc).__name__}: {exc}"[:300].replace("\n", " ")
            os.write(out, reply.encode() + b"\n")
            os._exit(0)
        os.close(words)
        os.write(relay, sys.stdin.buffer.readline() or b"stop\n")  # the worker's go, or stop
        os.close(relay)
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
