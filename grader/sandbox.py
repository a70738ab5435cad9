"""The kernel each student's notebook is graded in, and what it can reach.

By default (``sandbox=True``) every kernel runs in an OS sandbox of its own,
:class:`grader.bwrap.Sandbox` (bubblewrap): its own unprivileged uid in a user namespace
(and, when the grader runs as root, an unprivileged uid outside too), new pid, network,
ipc, mount and uts namespaces (loopback only: a moto server on 127.0.0.1 works, nothing
else is reachable), read-only views of only the interpreter, the virtual environment, the
course library and ``data/`` (not ``solutions/``, the gradebook, other students, the
checkout or anyone's home), a size-capped tmpfs holding that student's files (its working
folder and home), rlimits on memory, processes, CPU time and file size that every child
inherits, and the whole pid namespace killed when the kernel is shut down, when it dies, or
when the worker that started it dies. The grader talks to the kernel over Unix sockets
(jupyter's ``ipc`` transport) in a folder that only this kernel's sandbox sees, bound at
the same path; the kernel is interrupted by a message on its control channel.

Also, for every kernel:

* **environment**: rebuilt from an allowlist (``PATH``, locale …); everything else, and
  anything that looks like a secret (``AWS_*``, ``*TOKEN*``, ``*SECRET*`` …), is dropped;
* **output**: a cell's captured output stops growing past :data:`MAX_OUTPUT_CHARS`;
* **the notebook itself** is executed from outside the sandbox (:mod:`grader.worker`):
  the restored hidden tests are not a file the student's code can open.

Nothing written inside the sandbox reaches the grader except what the kernel sends over its
sockets; scores are computed in the parent from the gradebook (:mod:`grader.gradebook`).

With ``sandbox=False`` (``autograde --no-sandbox``, for trusted work only, and labelled
so in every output) a kernel is an ordinary child process of the worker, as the same user:
the old safety belts apply (a scratch working folder and ``HOME``, ``RLIMIT_AS`` and a
Python-level loopback-only socket guard from ``sandbox_site/sitecustomize.py``), and they
stop mistakes, not an attacker.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode

__all__ = [
    "MAX_OUTPUT_CHARS",
    "SITE_DIR",
    "SandboxExecute",
    "SandboxKernelManager",
    "sandbox_env",
    "scrub_env",
    "take_stopped",
]

SITE_DIR = Path(__file__).with_name("sandbox_site")
"""The folder put first on the kernel's ``PYTHONPATH`` (it holds ``sitecustomize.py``)."""

MAX_OUTPUT_CHARS = 2_000_000
"""Characters of output kept per cell while it runs (nbgrader's LimitOutput trims further)."""

_KEEP = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "JPY_*",
    "PYTHONHASHSEED",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING",
    "MPLBACKEND",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "AUTHLAB_*",
    "NBGRADER_EXECUTION",
)
_SECRET = ("AWS_*", "*TOKEN*", "*SECRET*", "*KEY*", "*PASSW*", "*CREDENTIAL*", "*AUTH*")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.upper(), pattern) for pattern in patterns)


def scrub_env(
    env: Mapping[str, str],
    *,
    home: str | None = None,
    memory_mb: int = 0,
    network: str = "loopback",
) -> dict[str, str]:
    """The environment a sandboxed kernel gets: allowlisted names, no secrets, sandbox switches.

    ``AUTHLAB_AWS`` survives (it selects the local AWS); any other name that looks like a
    secret is dropped even when allowlisted.
    """
    clean = {
        name: value
        for name, value in env.items()
        if _matches(name, _KEEP) and (name == "AUTHLAB_AWS" or not _matches(name, _SECRET))
    }
    clean["GRADER_SANDBOX"] = "1"
    clean["GRADER_MEMORY_MB"] = str(int(memory_mb))
    clean["GRADER_NETWORK"] = network
    clean["PYTHONPATH"] = str(SITE_DIR)
    if home:
        clean["HOME"] = home
        clean["USERPROFILE"] = home
    # matplotlib's font cache lives with the grading user; sharing it saves seconds per kernel.
    cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    if cache.is_dir():
        clean["MPLCONFIGDIR"] = str(cache)
    return clean


def sandbox_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a kernel inside the OS sandbox: :func:`scrub_env`, with the
    sandbox's home and temp folder, and no grader paths."""
    from .bwrap import HOME

    clean = scrub_env(env, home=HOME)
    for name in ("PYTHONPATH", "MPLCONFIGDIR"):
        clean.pop(name, None)
    clean.update(GRADER_SANDBOX="bwrap", TMPDIR="/tmp", PYTHONDONTWRITEBYTECODE="1", USER="student")
    # ipykernel watches its parent unless told it is pid 1: inside the sandbox pid 1 *is* its
    # parent (bwrap's init), and the sandbox dies with the worker anyway.
    clean["JPY_PARENT_PID"] = "1"
    return clean


_stopped = threading.local()


def take_stopped() -> list[str]:
    """What the cgroups of the kernels this thread shut down since the last call saw
    (``"memory limit (2 process(es) killed)"``, ``"process limit"``); then forgets it."""
    found = list(getattr(_stopped, "seen", []))
    _stopped.seen = []
    return found


def _note_stopped(stats: dict[str, int]) -> None:
    seen = getattr(_stopped, "seen", [])
    if stats.get("oom_kill"):
        seen.append(f"memory limit ({stats['oom_kill']} process(es) killed)")
    if stats.get("pids_refused"):
        seen.append("process limit")
    _stopped.seen = seen


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts each kernel in its own OS sandbox (see the module)."""

    sandbox = Bool(True, help="run the kernel in bubblewrap (False: trusted work only)").tag(
        config=True
    )
    memory_mb = Integer(0, help="address-space limit of each process in MiB (0: none)").tag(
        config=True
    )
    processes = Integer(256, help="processes and threads the sandbox may run at once").tag(
        config=True
    )
    cpu_seconds = Integer(900, help="CPU seconds each process of the sandbox may use").tag(
        config=True
    )
    disk_mb = Integer(512, help="size of the sandbox's home and /tmp, and of any file").tag(
        config=True
    )
    network = Unicode("loopback", help="without the sandbox: 'loopback' or 'open'").tag(config=True)
    home = Unicode("", help="without the sandbox: HOME for the kernel (a scratch folder)").tag(
        config=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ipc_dir: Path | None = None
        self._group = None  # grader.cgroups.Group, when cgroups v1 are usable here
        if self.sandbox:
            from .bwrap import grant_ipc_dir

            self._ipc_dir = Path(tempfile.mkdtemp(prefix="kernel-"))
            grant_ipc_dir(self._ipc_dir)
            self.transport = "ipc"
            self.ip = str(self._ipc_dir / "k")
            self.connection_file = str(self._ipc_dir / "kernel.json")

    def limits(self):
        """This kernel's :class:`grader.bwrap.Limits`."""
        from .bwrap import Limits

        return Limits(self.memory_mb, self.processes, self.cpu_seconds, self.disk_mb)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if not self.sandbox:
            kw["env"] = scrub_env(
                kw.get("env") or os.environ,
                home=self.home or kw.get("cwd"),
                memory_mb=self.memory_mb,
                network=self.network,
            )
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        from .bwrap import Sandbox, course_readonly, grant_ipc_dir, require
        from .staging import read_submission

        require()  # once per process: on a Dask worker, its own machine is checked here
        assert self.kernel_spec is not None and self._ipc_dir is not None
        self.kernel_spec.interrupt_mode = "message"  # signals cannot cross the pid namespace
        grant_ipc_dir(Path(self.connection_file))  # written by us: the kernel must read it
        cwd = kw.get("cwd")
        files = read_submission(Path(cwd)).files if cwd else {}
        from . import cgroups

        if self._group is None:
            self._group = cgroups.create(self.memory_mb, self.processes)
        fds = tuple(self._group.join_fds()) if self._group else ()
        sandbox = Sandbox(self._ipc_dir, files, self.limits(), course_readonly(), fds)
        kw["env"] = sandbox_env(kw.get("env") or os.environ)
        kw["independent"] = True  # keeps our JPY_PARENT_PID=1 (see sandbox_env)
        try:
            command = sandbox.command(kernel_cmd)
            kw.update(sandbox.popen_kwargs())
            await super()._async_launch_kernel(command, **kw)
        finally:
            sandbox.close()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        if not restart and self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None
        if not restart and self._group is not None:
            _note_stopped(self._group.stats())
            self._group.remove()
            self._group = None

    cleanup_resources = _async_cleanup_resources


class SandboxExecute(Execute):
    """nbgrader's Execute preprocessor, with the sandboxed kernel and bounded output."""

    max_output_chars = Integer(MAX_OUTPUT_CHARS, help="output characters kept per cell").tag(
        config=True
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._sizes: dict[int, int] = {}

    def output(
        self, outs: list[NotebookNode], msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        size = self._sizes.get(cell_index, 0)
        if size > self.max_output_chars:
            return None
        content = msg.get("content", {})
        size += len(str(content.get("text", ""))) + len(str(content.get("data", "")))
        self._sizes[cell_index] = size
        if size > self.max_output_chars:
            note = new_output(
                "stream",
                name="stdout",
                text=f"\n[grader] output cut after {self.max_output_chars:,} characters\n",
            )
            outs.append(note)
            return note
        return super().output(outs, msg, display_id, cell_index)
