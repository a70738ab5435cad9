"""The judge as a process: one per graded notebook, forked from a warm judge per worker.

:class:`JudgeRun` starts a notebook's judge (:mod:`grader.judge.script`) as soon as the notebook's
kernel is up, so the lessons it replays before the first answer run while the student's
notebook still runs; :meth:`JudgeRun.finish` says the notebook has run and collects the
verdicts. The warm judge (``python -m grader.judge.server --serve``) has imported
:data:`PRELOAD` once for its worker; the worker's word to go reaches the judge through
pipes of its own, relayed by the processes in between.

Between the warm judge and the notebook's judge stands the notebook's *template*: a process
forked from the warm judge that moved into a network of its own (:mod:`.netns`) and ran the
lessons before the first answer, once. Each student's judge is forked from it, one at a
time, in that network, with its own copy of the lessons' state and working folder: the
local servers the lessons started are paused in the template and bound again, same ports,
in each judge (:mod:`authlab.cloud.serving`). A template whose judges would share something
(a thread, a child process or a file the lessons left, or the machine's network) judges its
first student itself and is not forked from (:func:`_template_main`). The workers keep to one
notebook while any of its students is left (:func:`grader.pool.next_job`), so most
students' judges find the lessons run.
"""

from __future__ import annotations

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .link import JudgeError, KernelLink
from .netns import NetworkIsolationError, isolate
from .script import JudgeScript, Lessons, Verdict, judge_shell, lessons_key, run_lessons, run_script

__all__ = ["PRELOAD", "JudgeRun", "main", "serve", "start_warm"]


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
    # the local AWS services the lessons use: moto imports each on its first request
    "moto.cognitoidp.models",
    "moto.cognitoidp.responses",
    "moto.cognitoidp.urls",
    "moto.dynamodb.models",
    "moto.dynamodb.responses",
    "moto.dynamodb.urls",
    "moto.apigatewayv2.models",
    "moto.apigatewayv2.responses",
    "moto.apigatewayv2.urls",
    # API Gateway v2 requests load v1's backend too, whose OpenAPI validator imports
    # jsonschema and rfc3987_syntax: three Earley grammars built at import, seconds of CPU
    "moto.apigateway.models",
    "moto.apigateway.responses",
    "moto.apigateway.urls",
)
"""Modules the warm judge imports once per worker, before it forks a judge per notebook.

Not ``matplotlib``: no judge draws (a lesson cell that draws is tagged ``figure-only`` and
skipped, :data:`grader.judge.script.FIGURE_ONLY`), and kept warm it would hold about 45 MiB in
every worker (the goal is 512 MiB per worker)."""

_server: subprocess.Popen | None = None


class JudgeRun:
    """One notebook's judge, started early so that the lessons it replays before the first
    answer run while the learner's notebook still runs in its kernel.

    Forked from this worker's warm judge (:func:`serve`), which has imported
    :data:`PRELOAD` once; where ``fork`` is missing, a fresh ``python -m grader.judge.script`` runs
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
        self.phases: dict[str, float] = {}
        """Seconds per phase in the judge (filled by :meth:`finish`)."""
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
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            self.phases = {str(k): float(v) for k, v in found.get("phases", {}).items()}
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
            [sys.executable, "-m", "grader.judge.server"],
            input=json.dumps(request).encode(),
            env=_judge_env(),
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


def start_warm() -> None:
    """Start this worker's warm judge now (it imports :data:`PRELOAD` while the worker sets
    up its first notebook), unless it is running."""
    _start()


def _start() -> None:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, "-m", "grader.judge.server", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=_judge_env(),
            cwd=tempfile.gettempdir(),  # the worker's own folder is a scratch one, soon gone
        )


def _send(data: bytes) -> bool:
    """Write to this worker's warm judge, started (or restarted) if needed."""
    _start()
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


def _isolate(request: dict) -> None:
    """When the kernel is sandboxed (its channels are Unix sockets), move this process into
    a network of its own, loopback only (:func:`grader.judge.netns.isolate`): nothing the
    judge runs or lends can reach another host. Without the sandbox (``--no-sandbox``,
    trusted work) the kernel listens on the machine's loopback and the judge keeps it."""
    if request["connection"].get("transport") == "ipc":
        try:
            isolate()
        except NetworkIsolationError as exc:
            raise JudgeError(
                f"the judge could not get a network of its own ({exc}): it needs what "
                "bubblewrap needs (root, or unprivileged user namespaces)"
            ) from None


def _judge(
    request: dict, ready: Callable[[], bool] = lambda: True, before: Lessons | None = None
) -> str:
    """Judge one request in this process; the reply line (``{"verdicts": ...}``).

    The process is isolated first (:func:`_isolate`), unless ``before`` is given: the
    lessons before the first answer ran in the process this one was forked from, already
    isolated.
    """
    if before is None:
        _isolate(request)
    script = JudgeScript.from_dict(request["script"])

    def connect() -> KernelLink:
        return KernelLink(
            request["connection"],
            float(request["timeout"]),
            tuple(script.lend_types),
            request.get("folder"),
        )

    lesson_errors: list[str] = []
    timings: dict[str, float] = {}
    verdicts = run_script(script, connect, lesson_errors, ready, timings=timings, before=before)
    return json.dumps(
        {
            "verdicts": [asdict(v) for v in verdicts],
            "lesson_errors": lesson_errors,
            "phases": timings,
        }
    )


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


STARTUP_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "sandbox", "startup")
"""The sandboxed kernels' ``sitecustomize`` folder (:data:`grader.sandbox.kernel.STARTUP_SITE`):
the judge's interpreter starts with it first on ``PYTHONPATH`` too, so ``rfc3987_syntax``'s
grammars (built by the ``jsonschema`` that ``nbformat`` and moto's API Gateway import, used by
no lesson) load on first use, before anything here imports them."""


def _judge_env() -> dict[str, str]:
    """The environment of a judge's interpreter: the worker's, with :data:`STARTUP_DIR` first
    on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (STARTUP_DIR, env.get("PYTHONPATH")) if p)
    return env


TEMPLATE_SWITCH = "GRADER_JUDGE_TEMPLATE"
"""``GRADER_JUDGE_TEMPLATE=0`` in the grader's environment: no template is forked from;
every judge runs its lessons itself."""

TEMPLATE_SECONDS = 120.0
"""How long after it started a lesson template (see :func:`serve`) takes requests. Its
lessons ran when it started: a token a lesson issued then, checked by a test against the clock, ages while the
template serves. A fresh judge has such a gap too (its notebook's run); this keeps a
template's within a slow notebook's."""


@dataclass
class _Template:
    """A forked process that ran one script's lessons before the first answer and forks a
    judge per request from there (:func:`_template_main`)."""

    key: str
    pid: int
    commands: int  # request lines and the worker's words, to the template
    replies: io.BufferedReader  # one reply line per request, from the template
    folder: str  # its working folder and its judges' (removed with it)
    started: float = field(default_factory=time.monotonic)
    reusable: bool = True  # it said it takes another request
    exited: bool = False  # reaped

    def reply(self) -> bytes:
        """The reply line to the request just sent (empty: the template is gone)."""
        said = self.replies.read(1)
        self.reusable = said == _MORE
        return self.replies.readline() if said else b""

    def alive(self) -> bool:
        """Whether the process is still running (if not, it is reaped)."""
        if self.exited:
            return False
        try:
            self.exited = os.waitpid(self.pid, os.WNOHANG)[0] != 0
        except ChildProcessError:
            self.exited = True
        return not self.exited

    def close(self) -> None:
        """Kill the template and remove its folders. It is closed between requests, when
        no judge it forked is running."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.exited = True
        with contextlib.suppress(OSError):
            os.close(self.commands)
        self.replies.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_MORE, _LAST = b"+", b"-"  # before each reply line: the template takes another request, or not


def _template_key(request: dict) -> str:
    """Requests with the same key can share a template: the same lessons before the first
    answer, run in the same kind of network."""
    script = JudgeScript.from_dict(request["script"])
    isolated = request["connection"].get("transport") == "ipc"
    return f"{lessons_key(script)}:{isolated}"


def _start_template(key: str, request: dict) -> _Template:
    commands, theirs = os.pipe()
    ours, replies = os.pipe()
    folder = tempfile.mkdtemp(prefix="judge-")
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(theirs)
            os.close(ours)
            sys.stdin.close()
            _template_main(request, commands, replies, folder)
        except BaseException:  # noqa: BLE001 - the worker is told by the missing reply
            code = 1
        os._exit(code)
    os.close(commands)
    os.close(replies)
    return _Template(key, pid, theirs, os.fdopen(ours, "rb"), folder)


def _template_main(first: dict, commands_fd: int, replies_fd: int, folder: str) -> None:
    """The template: isolated once, it runs ``first``'s lessons before the first answer, then
    pauses the local servers they started (:func:`authlab.cloud.serving.pause`) and judges
    each request in a process forked from here, which serves them again from its own copy
    of their state. One reply line per request on ``replies_fd``, after a byte saying
    whether it takes another. It judges ``first`` itself and takes no other when its judges
    would share something: a thread the lessons left, a child process or an open file
    (:func:`_alone`), or the machine's network (the kernel is not sandboxed). After a judge
    that gave no verdicts, it takes no other either."""
    import gc

    from authlab.cloud import serving

    commands = os.fdopen(commands_fd, "rb")
    replies = os.fdopen(replies_fd, "wb", buffering=0)
    lessons_folder = os.path.join(folder, "lessons")
    os.mkdir(lessons_folder)
    os.chdir(lessons_folder)  # the lessons' working folder; each judge gets a copy
    try:
        _isolate(first)
        files = _open_files()
        before = run_lessons(JudgeScript.from_dict(first["script"]))
    except BaseException as exc:  # noqa: BLE001 - the reply says it
        commands.readline()  # the worker's word
        said = f"{type(exc).__name__}: {exc}"[:300].replace("\n", " ")
        replies.write(_LAST + said.encode() + b"\n")
        return
    reusable = (
        os.environ.get(TEMPLATE_SWITCH, "1") != "0"
        and first["connection"].get("transport") == "ipc"  # its ports are its own network's
        and serving.pause()
        and _alone(files)
    )
    if not reusable:  # what its judges would share: this process judges, once
        serving.resume()
        reply = _reply_of(lambda: _judge(first, _word_from(commands), before))
        replies.write(_LAST + reply.encode() + b"\n")
        return
    gc.collect()
    gc.freeze()  # the judges' pages stay shared longer
    request: dict | None = first
    count = 0
    while request is not None:
        count += 1
        scratch = os.path.join(folder, str(count))
        shutil.copytree(lessons_folder, scratch)
        words, relay = os.pipe()
        said, told = os.pipe()
        child = os.fork()
        if child == 0:
            for mine in (relay, said, commands_fd, replies_fd):  # the template's, not a judge's
                with contextlib.suppress(OSError):
                    os.close(mine)
            reply = _reply_of(lambda r=request, w=words, f=scratch: _forked(r, w, f, before))
            os.write(told, reply.encode() + b"\n")
            os._exit(0)
        before.timings = {}  # the first judge reports the lessons' seconds, the others none
        os.close(words)
        os.close(told)
        word = commands.readline() or b"stop\n"  # the worker's go, or stop
        with contextlib.suppress(OSError):  # a judge that failed early reads no word
            os.write(relay, word)
        os.close(relay)
        with os.fdopen(said, "rb") as reading:
            reply_line = reading.readline()
        _, status = os.waitpid(child, 0)
        if status != 0 or not reply_line.endswith(b"\n"):
            reply_line = b"the judge process crashed\n"
        # A judge that could not judge may have met a fault of this template's: no more.
        more = status == 0 and reply_line.startswith(b'{"verdicts"')
        replies.write((_MORE if more else _LAST) + reply_line)
        if not more:
            return
        shutil.rmtree(scratch, ignore_errors=True)
        line = commands.readline()
        request = json.loads(line) if line.strip() else None


def _open_files() -> set[tuple[int, int, int]]:
    """The regular files this process has open: ``(descriptor, device, inode)``."""
    import stat

    found = set()
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError, ValueError):  # the listing's own, closed by now
            info = os.fstat(int(name))
            if stat.S_ISREG(info.st_mode):
                found.add((int(name), info.st_dev, info.st_ino))
    return found


def _alone(files_before: set[tuple[int, int, int]]) -> bool:
    """The lessons left no child process and no regular file open (beyond
    ``files_before``): the judges forked from here would share them (their copies of its
    working folder would not help)."""
    try:
        import psutil

        return not psutil.Process().children() and _open_files() <= files_before
    except Exception:  # noqa: BLE001 - not known to be alone: not forked from
        return False


def _forked(request: dict, words: int, folder: str, before: Lessons) -> str:
    """In a judge forked from a template: its own working folder, the lessons' servers
    serving again from this process, then the request judged."""
    from authlab.cloud import serving

    os.chdir(folder)
    serving.resume()
    return _judge(request, _waiter(words), before)


def _reply_of(judge: Callable[[], str]) -> str:
    """``judge()``'s reply line, or the error it raised as one."""
    try:
        return judge()
    except BaseException as exc:  # noqa: BLE001 - reported, then the process exits
        return f"{type(exc).__name__}: {exc}"[:300].replace("\n", " ")


def _word_from(commands: io.BufferedReader) -> Callable[[], bool]:
    """The worker's word, read where the requests come from (``go``: the notebook has run)."""
    return lambda: commands.readline().strip() == b"go"


def serve() -> None:
    """The warm judge: import :data:`PRELOAD`, then judge each request line in a forked
    process (each is followed by the worker's word: ``go`` once the notebook has run).

    A request goes to the *template* of its script (:func:`_template_main`), a process forked
    from here that ran the script's lessons before the first answer: the first request of a
    script waits for them (they run while the learner's notebook runs), the next ones of the
    same script (the class's other students, when this worker grades them) find them done.
    One template is kept; a request that comes :data:`TEMPLATE_SECONDS` after it started
    gets a new one.
    """
    import gc
    import importlib

    out = _quiet()
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        judge_shell()  # each forked judge finds the shell made, as if it had made it
    gc.collect()
    gc.freeze()
    template: _Template | None = None
    try:
        for line in sys.stdin.buffer:
            try:
                request = json.loads(line)
                key = _template_key(request)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                sys.stdin.buffer.readline()  # the worker's word
                os.write(out, f"unreadable request: {exc}"[:300].encode() + b"\n")
                continue
            if template is not None and (
                template.key != key
                or time.monotonic() - template.started > TEMPLATE_SECONDS
                or not template.reusable
                or not template.alive()
            ):
                template.close()
                template = None
            if template is None:
                template = _start_template(key, request)
                sent = True
            else:
                sent = _write(template.commands, line)
            word = sys.stdin.buffer.readline() or b"stop\n"
            sent = sent and _write(template.commands, word)
            reply = template.reply() if sent else b""
            if not reply.endswith(b"\n"):  # the template is gone
                reply = b"the judge process crashed\n"
                template.reusable = False
            os.write(out, reply)
    finally:
        if template is not None:
            template.close()


def _write(fd: int, data: bytes) -> bool:
    try:
        os.write(fd, data)
    except OSError:
        return False
    return True


def main() -> int:
    """``python -m grader.judge.server``: a request on stdin, the reply line on stdout.

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
