"""Warm kernels: fork each notebook's kernel from a process that has already imported its stack.

Starting a Python kernel costs the interpreter's start plus the imports of ipykernel,
IPython and the course's libraries, for every notebook graded. A *zygote* pays that once
per worker: it is a fresh interpreter (started with the sandbox's environment, in a neutral
folder) that imports :data:`PRELOAD` and then, for each kernel, forks. The child sets up
exactly what a new kernel process would have (its own session, working directory,
environment, the sandbox's memory limit and network guard) and runs ipykernel's launcher.
The kernel is still a new process that has run no user code: each notebook gets a fresh
kernel, only without paying the imports again.

The kernel is forked twice so that it is re-parented to the worker (made a "child
subreaper" with ``prctl``), which can then wait for it and signal it like any child.
Linux only; elsewhere, and whenever a fork fails, kernels start the ordinary way.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["PRELOAD", "Forked", "available", "spawn"]

PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "IPython.core.interactiveshell",
    "jwt",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "requests",
    "boto3",
    "botocore.session",
)
"""Modules imported once in the zygote (no side effects beyond being imported)."""

_PR_SET_CHILD_SUBREAPER = 36
_zygote: subprocess.Popen | None = None


def available() -> bool:
    """Whether kernels can be forked here (Linux, with ``prctl``)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class Forked:
    """A ``Popen``-like handle on a forked kernel (a child of this process after re-parenting)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 0 if not _alive(self.pid) else None
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _start_zygote(env: dict[str, str]) -> subprocess.Popen:
    _become_subreaper()
    quiet = {**env, "GRADER_SANDBOX": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "grader.zygote"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=quiet,
        cwd=tempfile.gettempdir(),
        start_new_session=True,
    )


def spawn(cmd: list[str], env: dict[str, str], cwd: str) -> Forked | None:
    """Fork a kernel for ``cmd`` (``python -m ipykernel_launcher ...``), or ``None`` if unable."""
    global _zygote
    if not available() or cmd[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    try:
        if _zygote is None or _zygote.poll() is not None:
            _zygote = _start_zygote(env)
        env = {**env, "JPY_PARENT_PID": str(os.getpid())}  # as jupyter_client's launcher sets
        request = {"argv": cmd[3:], "env": env, "cwd": cwd}
        _zygote.stdin.write((json.dumps(request) + "\n").encode())
        _zygote.stdin.flush()
        reply = json.loads(_zygote.stdout.readline() or b"{}")
    except (OSError, ValueError):
        _zygote = None
        return None
    return Forked(int(reply["pid"])) if reply.get("pid") else None


def _become_kernel(request: dict) -> None:
    """In the forked child: turn into a fresh kernel process, then run ipykernel."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import sitecustomize  # grader/sandbox_site: the memory limit and the network guard

    sitecustomize.apply()
    # ipykernel reads JPY_PARENT_PID when it is imported (in the zygote): say it again here, so
    # the kernel watches its parent (the worker) and exits with it, as a launched kernel does.
    argv = [*request["argv"], f"--IPKernelApp.parent_handle={request['env']['JPY_PARENT_PID']}"]
    sys.argv = [sys.executable, *argv]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=argv)


def _serve() -> None:
    """The zygote's loop: one JSON request per line in, the kernel's pid out."""
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.getcwd():
        del sys.path[0]
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    import gc

    gc.collect()
    gc.freeze()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        read, write = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.close(read)
            try:
                kernel = os.fork()
                if kernel:
                    os.write(write, str(kernel).encode())
                    os._exit(0)
                os.close(write)
                try:
                    _become_kernel(request)
                finally:
                    os._exit(0)
            except BaseException:  # noqa: BLE001 - a child must never return into the loop
                os._exit(1)
        os.close(write)
        pid = os.read(read, 32).decode() or "0"
        os.close(read)
        os.waitpid(middle, 0)
        sys.stdout.write(json.dumps({"pid": int(pid)}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
