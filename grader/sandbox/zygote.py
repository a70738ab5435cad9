"""A warm kernel per worker: each notebook's kernel is forked from it, in namespaces of its own.

A kernel's start (the interpreter, ipykernel, IPython's shell, the course's extension) was
about half of a graded kernel's CPU. So each worker keeps one *zygote*: a process in a
bubblewrap sandbox like a kernel's (:class:`grader.sandbox.bwrap.Sandbox`: the same read-only
views, rlimits, uid and ``--disable-userns``), with no student files, which imports the
kernel's modules once (``grader/sandbox/startup/grader_zygote.py``, carried in read-only).
For each notebook it forks a keeper that gives the kernel what a fresh sandbox gives it.

What it trusts, and what it does not:

* The zygote never runs student code. It holds ``CAP_SYS_ADMIN``, ``CAP_NET_ADMIN`` and
  ``CAP_SETPCAP`` in the sandbox's user namespace only (nothing outside it), runs no
  thread, and is not dumpable. Its ``/`` and ``/dev`` are read-only: its kernels share
  them.
* Each kernel gets new mount, pid, network, ipc and uts namespaces; a tmpfs home with only
  its student's files, a tmpfs ``/tmp`` and ``/dev/shm`` (a checkout under ``/tmp`` is
  bound back read-only, as bubblewrap does); only its own folder of sockets; ``lo`` alone;
  a seccomp filter refusing the kernel keyring (all kernels of a zygote are one user of
  one user namespace, so a key would pass from one student to the next);
  the job's rlimits and, as root, cgroups of its own (the worker moves its keeper in before
  anything is set up); then every capability is dropped and ``no_new_privs`` set before
  the kernel runs. Its pid namespace has a ``/proc`` of its own and a pid 1 that exits
  with the kernel: then everything the student started ends, so nothing outlives one
  student to meet the next. It cannot see or name the zygote or its keeper (their
  pids are outside its namespace and its ``/proc``), read their memory (not dumpable, and
  it has no capability), reach their sockets (socket pairs; abstract sockets are per
  network namespace) or change a mount.
* What the worker takes from the zygote is two pids, as the kernel vouches for them
  (``SCM_CREDENTIALS``) before student code runs, and the kernel's exit code from its
  keeper. A zygote that is gone, slow or refuses is replaced, and that kernel starts cold
  (a sandbox of its own, as before): the only cost is time.
* Unlike a fresh interpreter, a forked kernel shares its hash seed with the worker's other
  kernels (``random`` reseeds itself after ``fork``), and the pages it shares with the
  zygote are not in its memory cgroup: a kernel's peak is measured without the modules it
  did not have to import.

``GRADER_WARM_KERNEL=0`` in the grader's environment turns it off (every kernel cold).
"""

from __future__ import annotations

import array
import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..course import GraderError
from .bwrap import HOME, WORKDIR, Limits, Sandbox, course_readonly, grant_ipc_dir

__all__ = [
    "CAPABILITIES",
    "ENV_SWITCH",
    "ZYGOTE_SCRIPT",
    "KernelProcess",
    "Zygote",
    "ZygoteFailed",
    "enabled",
    "launch",
    "socket_folder",
    "stop",
]

log = logging.getLogger(__name__)

ZYGOTE_SCRIPT = Path(__file__).with_name("startup") / "grader_zygote.py"
"""The zygote's program, carried into its sandbox read-only as ``grader_zygote.py``."""

CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETPCAP")
"""What the zygote holds in its sandbox's user namespace, to set up each kernel's."""

ENV_SWITCH = "GRADER_WARM_KERNEL"
"""Set to ``0`` to start every kernel cold."""

READY_SECONDS = 60.0  # the zygote's imports, on a loaded machine
STEP_SECONDS = 20.0  # each step of a kernel's start
_HEADER = struct.Struct("!I")
_CREDS = struct.Struct("iII")


class ZygoteFailed(GraderError):
    """The warm kernel could not start this kernel (it is started cold instead);
    ``healthy``: it refused this kernel alone (its files did not fit, say) and stays."""

    def __init__(self, message: str, healthy: bool = False) -> None:
        super().__init__(message)
        self.healthy = healthy


def enabled() -> bool:
    """Whether kernels are forked from a warm zygote here (Linux, not switched off)."""
    return sys.platform.startswith("linux") and os.environ.get(ENV_SWITCH, "1") != "0"


def _receive_creds(sock: socket.socket, deadline: float) -> tuple[bytes, int | None]:
    """One tag byte and the pid it came with (as this process sees it)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ZygoteFailed("the warm kernel did not answer in time")
    sock.settimeout(remaining)
    try:
        data, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(_CREDS.size))
    except (OSError, TimeoutError) as exc:
        raise ZygoteFailed(f"the warm kernel did not answer: {exc}") from exc
    pid = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = _CREDS.unpack(payload[: _CREDS.size])[0]
    if data == b"E":
        sock.settimeout(1)
        with contextlib.suppress(OSError):
            data += sock.recv(600)
        said = data[1:].decode(errors="replace")
        raise ZygoteFailed(f"the warm kernel refused: {said}", healthy=True)
    return data, pid


class KernelProcess:
    """A kernel forked by the zygote, as ``subprocess.Popen`` looks to jupyter_client:
    ``pid``, ``poll``, ``wait``, ``send_signal``, ``kill``, ``terminate``."""

    stdin = stdout = stderr = None

    def __init__(self, sock: socket.socket, pid: int, pidfd: int) -> None:
        self._sock = sock
        self.pid = pid
        self._pidfd = pidfd
        self.returncode: int | None = None
        self._said = b""

    def _read(self, timeout: float | None) -> None:
        if self.returncode is not None:
            return
        self._sock.settimeout(timeout)
        try:
            while len(self._said) < 5:
                more = self._sock.recv(5 - len(self._said))
                if not more:  # the keeper is gone without a word: killed with its kernel
                    self._finish(-signal.SIGKILL)
                    return
                self._said += more
        except (BlockingIOError, TimeoutError):
            return
        except OSError:
            self._finish(-signal.SIGKILL)
            return
        if self._said[:1] == b"X":
            self._finish(struct.unpack("!i", self._said[1:5])[0])
        else:
            self._finish(-signal.SIGKILL)

    def _finish(self, code: int) -> None:
        self.returncode = code
        self._sock.close()
        if self._pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = -1

    def poll(self) -> int | None:
        """The exit code if the kernel has ended (``-N``: killed by signal N), else ``None``."""
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the kernel to end; its exit code."""
        self._read(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired("kernel", timeout or 0)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the kernel's pid 1 (SIGKILL ends everything in its namespace)."""
        if self._pidfd < 0:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        """End the kernel and everything it started."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """As :meth:`kill`: pid 1 of the kernel's namespace has no SIGTERM handler."""
        self.send_signal(signal.SIGKILL)


class Zygote:
    """One warm kernel of this worker, in a sandbox with ``limits``; its kernels' socket
    folders are made under :attr:`root`."""

    def __init__(
        self, limits: Limits, env: Mapping[str, str], startup: Mapping[str, bytes]
    ) -> None:
        self.limits = limits
        self.root = Path(tempfile.mkdtemp(prefix="z"))  # short: sockets' paths are short
        grant_ipc_dir(self.root)
        self.root.chmod(0o711)  # the sandbox's user owns it; the kernels' folders inside
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._control = ours
        startup = {**startup, "grader_zygote.py": ZYGOTE_SCRIPT.read_bytes()}
        sandbox = Sandbox(
            self.root, {}, limits, course_readonly(), (), {}, startup, CAPABILITIES, True
        )
        try:
            command = sandbox.command([sys.executable, "-m", "grader_zygote", str(theirs.fileno())])
            kwargs = sandbox.popen_kwargs()
            kwargs["pass_fds"] = (*kwargs["pass_fds"], theirs.fileno())
            self.log_path = self.root.with_name(self.root.name + ".log")
            with open(self.log_path, "ab") as said:
                self._process = subprocess.Popen(
                    command,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=said,
                    start_new_session=True,
                    **kwargs,
                )
        except OSError as exc:
            self.close()
            raise ZygoteFailed(f"the warm kernel could not start: {exc}") from exc
        finally:
            sandbox.close()
            theirs.close()
        self._ready = False

    def alive(self) -> bool:
        """Whether its process is still running."""
        return self._process.poll() is None

    def _wait_ready(self) -> None:
        if self._ready:
            return
        self._control.settimeout(READY_SECONDS)
        try:
            said = self._control.recv(1)
        except (OSError, TimeoutError) as exc:
            raise ZygoteFailed(f"the warm kernel did not start: {exc}") from exc
        if said != b"R":
            raise ZygoteFailed("the warm kernel did not start (it ended)")
        self._ready = True

    def launch(
        self,
        ipc_dir: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        files: Mapping[str, bytes],
        home_files: Mapping[str, bytes],
        cgroup_fds: Sequence[int] = (),
    ) -> KernelProcess:
        """Fork a kernel running ``argv`` (``python -m ipykernel_launcher -f FILE``) with
        ``files`` in its working folder; raise :class:`ZygoteFailed` if it cannot."""
        self._wait_ready()
        request = {
            "home": HOME,
            "workdir": WORKDIR,
            "disk_bytes": self.limits.disk_mb * 2**20,
            "socket_root": str(self.root),
            "ipc_dir": str(ipc_dir),
            "files": {k: base64.b64encode(v).decode() for k, v in files.items()},
            "home_files": {k: base64.b64encode(v).decode() for k, v in home_files.items()},
            "env": dict(env),
            "readonly": [str(path) for path in course_readonly()],
            "argv0": "-m ipykernel_launcher",
            "args": list(argv[3:]),
        }
        body = json.dumps(request).encode()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            self._control.settimeout(STEP_SECONDS)
            fds = array.array("i", [theirs.fileno()])
            self._control.sendmsg(
                [_HEADER.pack(len(body))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)]
            )
            self._control.sendall(body)
        except (OSError, TimeoutError) as exc:
            ours.close()
            raise ZygoteFailed(f"the warm kernel is gone: {exc}") from exc
        finally:
            theirs.close()
        pidfd = -1
        try:
            deadline = time.monotonic() + STEP_SECONDS
            tag, keeper = _receive_creds(ours, deadline)
            if tag != b"P" or keeper is None:
                raise ZygoteFailed("the warm kernel did not fork")
            for fd in cgroup_fds:  # the keeper joins the kernel's cgroups before set-up
                os.write(fd, str(keeper).encode())
            ours.sendall(b"G")
            tag, pid = _receive_creds(ours, deadline)
            if tag != b"K" or pid is None:
                raise ZygoteFailed(f"the warm kernel failed to set up ({tag!r})")
            pidfd = os.pidfd_open(pid)  # before the kernel starts: this pid is still its
            ours.sendall(b"G")
            return KernelProcess(ours, pid, pidfd)
        except OSError as exc:
            if pidfd >= 0:
                os.close(pidfd)
            ours.close()
            raise ZygoteFailed(f"the warm kernel could not start this kernel: {exc}") from exc
        except BaseException:
            if pidfd >= 0:
                os.close(pidfd)
            ours.close()  # the keeper sees the end and exits (its kernel dies with it)
            raise

    def said(self) -> str:
        """The last line the zygote wrote to its log (what went wrong), if any."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except (OSError, AttributeError):
            return ""
        return lines[-1][:300] if lines else ""

    def close(self, keep_folder: bool = False) -> None:
        """Stop the zygote (its sandbox dies with it); remove the socket folder unless a
        kernel's folder in it is still in use (``keep_folder``), and the log."""
        with contextlib.suppress(OSError):
            self._control.close()
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if not keep_folder:
            shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError, AttributeError):
            self.log_path.unlink()


_zygote: Zygote | None = None
_owner = os.getpid()  # a forked child (a pool's worker) leaves its parent's zygote alone
_failures = 0
MAX_FAILURES = 3
"""After this many zygotes in a row fail to start a kernel, a worker starts them all cold."""


def socket_folder(
    limits: Limits, env: Mapping[str, str], startup: Mapping[str, bytes]
) -> Path | None:
    """Where a kernel's socket folder goes so that this worker's zygote can reach it (``None``:
    no zygote here; the folder goes anywhere). Starts the zygote (in ``env``, with the
    ``startup`` files of a kernel's sandbox) if needed, from the main thread only (its
    sandbox dies with the thread that started it)."""
    global _zygote, _failures, _owner
    if _owner != os.getpid():  # forked: the zygote and its socket are the parent's
        _zygote, _failures, _owner = None, 0, os.getpid()
    if not enabled() or _failures >= MAX_FAILURES:
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    if _zygote is not None and (not _zygote.alive() or _zygote.limits != limits):
        stop()
    if _zygote is None:
        try:
            _zygote = Zygote(limits, env, startup)
        except ZygoteFailed as exc:
            _failures += 1
            log.warning("%s; kernels start cold", exc)
            return None
    return _zygote.root


def launch(ipc_dir: Path, argv: Sequence[str], **kwargs) -> KernelProcess | None:
    """A kernel from this worker's zygote (see :meth:`Zygote.launch`), or ``None`` if there is
    none or it failed (then it is stopped, and the caller starts the kernel cold)."""
    global _failures
    zygote = _zygote
    if zygote is None or _owner != os.getpid() or ipc_dir.parent != zygote.root:
        return None
    expected = [sys.executable, "-m", "ipykernel_launcher", "-f"]
    if len(argv) < 5 or list(argv[:4]) != expected:
        return None
    try:
        found = zygote.launch(ipc_dir, argv, **kwargs)
    except ZygoteFailed as exc:
        said = zygote.said()
        log.warning("%s%s; this kernel starts cold", exc, f" ({said})" if said else "")
        if not exc.healthy:  # a refusal of this kernel alone keeps the zygote
            _failures += 1
            stop(keep_folder=True)  # this kernel's socket folder is in it
        return None
    _failures = 0
    return found


def stop(keep_folder: bool = False) -> None:
    """Stop this worker's zygote, if any (see :meth:`Zygote.close`)."""
    global _zygote
    if _zygote is not None and _owner == os.getpid():
        _zygote.close(keep_folder)
    _zygote = None
