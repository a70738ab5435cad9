"""The kernel each student's notebook is graded in, and what it can reach.

By default (``sandbox=True``) every kernel runs in an OS sandbox of its own,
:class:`grader.sandbox.bwrap.Sandbox` (bubblewrap): its own unprivileged uid in a user namespace
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
* **output**: what the kernel sends is bounded before the grader holds it: each message
  part at :data:`MAX_MESSAGE_BYTES` on the wire (a larger one is never buffered: the
  connection is reset and the output dropped, with a note), at most
  :data:`MAX_QUEUED_MESSAGES` messages queued, each output over :data:`MAX_OUTPUT_BYTES`
  dropped without being decoded, a cell's output cut past :data:`MAX_OUTPUT_CHARS` and a
  notebook's past :data:`MAX_NOTEBOOK_OUTPUT_CHARS`; every drop leaves a ``[grader]``
  note in the cell's output;
* **the notebook itself** is executed from outside the sandbox (:mod:`grader.worker`):
  the restored hidden tests are not a file the student's code can open.

Nothing written inside the sandbox reaches the grader except what the kernel sends over its
sockets; scores are computed in the parent from the gradebook (:mod:`grader.gradebook`).

With ``sandbox=False`` (``autograde --no-sandbox``, for trusted work only, and labelled
so in every output) a kernel is an ordinary child process of the worker, as the same user:
the old safety belts apply (a scratch working folder and ``HOME``, ``RLIMIT_AS`` and a
Python-level loopback-only socket guard from ``grader/sandbox/site/sitecustomize.py``), and they
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

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_NOTEBOOK_OUTPUT_CHARS",
    "MAX_OUTPUT_BYTES",
    "MAX_OUTPUT_CHARS",
    "MAX_QUEUED_MESSAGES",
    "CappedKernelClient",
    "SITE_DIR",
    "SandboxExecute",
    "SandboxKernelManager",
    "sandbox_env",
    "scrub_env",
    "take_peak_mb",
    "take_stopped",
]

SITE_DIR = Path(__file__).with_name("site")
"""The folder put first on the kernel's ``PYTHONPATH`` without the sandbox (it holds
``sitecustomize.py``)."""

STARTUP_SITE = Path(__file__).with_name("startup") / "sitecustomize.py"
"""The ``sitecustomize.py`` of every Python process in the sandbox (it defers a grammar
that no lesson uses, and changes no result: see the file)."""

MAX_OUTPUT_CHARS = 2_000_000
"""Characters of output kept per cell while it runs (nbgrader's LimitOutput trims further)."""

MAX_NOTEBOOK_OUTPUT_CHARS = 8_000_000
"""Characters of output kept per notebook (comm and display updates count too)."""

MAX_OUTPUT_BYTES = 2 * 2**20
"""Bytes of one output as the kernel sends it (its JSON content); a larger one is dropped
without being decoded."""

MAX_MESSAGE_BYTES = 8 * 2**20
"""Bytes of one part of a message the grader's sockets accept from a kernel (ZeroMQ's
``MAXMSGSIZE``): a larger one resets the connection before it is buffered."""

MAX_QUEUED_MESSAGES = 16
"""Messages from a kernel queued per socket before ZeroMQ stops reading (``RCVHWM``)."""

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
    sandbox's home and temp folder, and no grader paths (``PYTHONPATH`` is the sandbox's own
    :data:`~grader.sandbox.bwrap.STARTUP_DIR`)."""
    from .bwrap import HOME, STARTUP_DIR

    clean = scrub_env(env, home=HOME)
    for name in ("PYTHONPATH", "MPLCONFIGDIR"):
        clean.pop(name, None)
    clean["PYTHONPATH"] = STARTUP_DIR  # the sandbox's own sitecustomize (Sandbox.startup)
    clean.update(GRADER_SANDBOX="bwrap", TMPDIR="/tmp", PYTHONDONTWRITEBYTECODE="1", USER="student")
    # ipykernel watches its parent unless told it is pid 1: inside the sandbox pid 1 *is* its
    # parent (bwrap's init), and the sandbox dies with the worker anyway.
    clean["JPY_PARENT_PID"] = "1"
    return clean


def _home_files() -> dict[str, bytes]:
    """Files the grader puts in a sandbox's home: matplotlib's font list, built once by the
    grading user (``fontlist-*.json`` of its cache), so that a kernel that draws does not
    scan every font first. Its copy is the student's own: changing it changes only their
    drawings."""
    cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    found = {}
    for path in sorted(cache.glob("fontlist-v*.json"))[-1:]:
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 2**20:
                found[f".cache/matplotlib/{path.name}"] = path.read_bytes()
        except OSError:
            pass
    return found


_stopped = threading.local()


def take_stopped() -> list[str]:
    """What stopped the kernels this thread shut down since the last call, each with its
    limit (``"memory limit (1024 MiB; 2 process(es) killed)"``, ``"process limit (256
    processes and threads)"``, ``"CPU time limit (900 s of CPU per process)"``), as their
    cgroups and exit codes tell; then forgets it."""
    found = list(getattr(_stopped, "seen", []))
    _stopped.seen = []
    return found


def take_peak_mb() -> int | None:
    """The most resident memory (MiB) one sandbox of this thread held since the last call,
    where its memory cgroup tells (else ``None``); then forgets it."""
    found = getattr(_stopped, "peak", None)
    _stopped.peak = None
    return found


def _note_stopped(stats: dict[str, int], limits, exit_code: int | None) -> None:
    import signal

    seen = getattr(_stopped, "seen", [])
    if stats.get("oom_kill"):
        seen.append(
            f"memory limit ({limits.memory_mb} MiB; {stats['oom_kill']} process(es) killed)"
        )
    if stats.get("pids_refused"):
        seen.append(f"process limit ({limits.processes} processes and threads)")
    if exit_code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        seen.append(f"CPU time limit ({limits.cpu_seconds} s of CPU per process)")
    if exit_code in (128 + signal.SIGXFSZ, -signal.SIGXFSZ):
        seen.append(f"disk limit ({limits.disk_mb} MiB per file)")
    _stopped.seen = seen
    if "peak_bytes" in stats:
        peak = -(-stats["peak_bytes"] // 2**20)
        _stopped.peak = max(peak, getattr(_stopped, "peak", None) or 0)


class _Sized(dict):
    """A message part decoded from JSON, with its size as sent (``nbytes``)."""

    nbytes = 0


_DROPPED = "__grader_dropped_bytes__"


def _guarded(unpack):
    """``unpack`` that decodes a part only up to :data:`MAX_OUTPUT_BYTES` (JSON can grow
    twentyfold in memory); a larger part becomes ``{_DROPPED: its size}``."""

    def guarded(data):
        size = len(data)
        if size > MAX_OUTPUT_BYTES:
            found = _Sized({_DROPPED: size})
        else:
            value = unpack(data)
            if not isinstance(value, dict):
                return value
            found = _Sized(value)
        found.nbytes = size
        return found

    return guarded


class CappedKernelClient(AsyncKernelClient):
    """The worker's client of a graded kernel: its sockets take parts of at most
    :data:`MAX_MESSAGE_BYTES` and queue at most :data:`MAX_QUEUED_MESSAGES` messages, and
    it counts the times the kernel's output connection was reset (:meth:`take_resets`)."""

    def _create_connected_socket(self, channel: str, identity: bytes | None = None):
        import zmq
        from jupyter_client.connect import channel_socket_types

        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.RCVHWM, MAX_QUEUED_MESSAGES)
        if identity:
            sock.identity = identity
        if getattr(self, "curve_publickey", None) is not None:  # as jupyter_client does
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        if channel == "iopub":
            self._close_monitor()
            monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            self._monitor = zmq.Socket.shadow(monitor.underlying)
            self._monitor_owner = monitor
        sock.connect(self._make_url(channel))
        return sock

    def reconnect_iopub(self) -> None:
        """Connect the output channel again: ZeroMQ closes it for good when a part is over
        :data:`MAX_MESSAGE_BYTES` (a protocol error), so later cells would show nothing."""
        channel, self._iopub_channel = self._iopub_channel, None
        if channel is not None:
            channel.close()
        self.iopub_channel  # noqa: B018 - the property connects a new socket

    def _close_monitor(self) -> None:
        owner = getattr(self, "_monitor_owner", None)
        self._monitor = self._monitor_owner = None
        if owner is not None:
            owner.close(linger=0)

    def stop_channels(self) -> None:
        """Stop the channels and close the reset counter's socket."""
        super().stop_channels()
        self._close_monitor()

    def take_resets(self) -> int:
        """Times the kernel's output connection was reset since the last call (a message
        part over :data:`MAX_MESSAGE_BYTES`, or a kernel gone)."""
        import zmq

        monitor = getattr(self, "_monitor", None)
        count = 0
        while monitor is not None:
            try:
                monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:
                break
            count += 1
        return count


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts each kernel in its own OS sandbox (see the module)."""

    sandbox = Bool(True, help="run the kernel in bubblewrap (False: trusted work only)").tag(
        config=True
    )
    memory_mb = Integer(
        0, help="resident memory of the sandbox, and what each process allocates, in MiB (0: none)"
    ).tag(config=True)
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
        self._group = None  # grader.sandbox.cgroups.Group, when cgroups v1 are usable here
        self._exit_code: int | None = None  # the kernel's, when it ended on its own
        self._exit_polled = False
        self.client_factory = CappedKernelClient
        self.session.unpack = _guarded(self.session.unpack)
        if self.sandbox:
            from . import zygote
            from .bwrap import grant_ipc_dir

            env = sandbox_env(os.environ)
            startup = {"sitecustomize.py": STARTUP_SITE.read_bytes()}
            warm = zygote.socket_folder(self.limits(), env, startup)
            # Short names under the zygote's folder: a socket's path holds 108 bytes at most.
            prefix = "k" if warm is not None else "kernel-"
            self._ipc_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=warm))
            grant_ipc_dir(self._ipc_dir)
            self.transport = "ipc"
            self.ip = str(self._ipc_dir / "k")
            self.connection_file = str(self._ipc_dir / "kernel.json")

    def limits(self):
        """This kernel's :class:`grader.sandbox.bwrap.Limits`."""
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
        from ..staging import read_submission
        from .bwrap import Sandbox, course_readonly, grant_ipc_dir, require

        require()  # once per process: on a Dask worker, its own machine is checked here
        assert self.kernel_spec is not None and self._ipc_dir is not None
        self.kernel_spec.interrupt_mode = "message"  # signals cannot cross the pid namespace
        grant_ipc_dir(Path(self.connection_file))  # written by us: the kernel must read it
        cwd = kw.get("cwd")
        files = read_submission(Path(cwd)).files if cwd else {}
        from ..sandbox import cgroups

        if self._group is None:
            self._group = cgroups.create(self.memory_mb, self.processes)
        fds = tuple(self._group.join_fds()) if self._group else ()
        sandbox = Sandbox(
            self._ipc_dir,
            files,
            self.limits(),
            course_readonly(),
            fds,
            _home_files(),
            {"sitecustomize.py": STARTUP_SITE.read_bytes()},
        )
        kw["env"] = sandbox_env(kw.get("env") or os.environ)
        kw["independent"] = True  # keeps our JPY_PARENT_PID=1 (see sandbox_env)
        from . import zygote

        forked = None
        # jupyter_client's own steps after a launch; a release without them starts it cold
        if hasattr(self, "_reconcile_connection_info") and self.provisioner is not None:
            forked = zygote.launch(
                self._ipc_dir,
                kernel_cmd,
                env=kw["env"],
                files=files,
                home_files=_home_files(),
                cgroup_fds=fds,
            )
        if forked is not None:  # as LocalProvisioner.launch_kernel, with a forked kernel
            provisioner = self.provisioner
            provisioner.process, provisioner.pid, provisioner.pgid = forked, forked.pid, None
            provisioner.cwd = cwd
            self._reconcile_connection_info(provisioner.connection_info)
            return
        try:
            command = sandbox.command(kernel_cmd)
            kw.update(sandbox.popen_kwargs())
            await super()._async_launch_kernel(command, **kw)
        finally:
            sandbox.close()

    def _note_exit(self) -> None:
        """Keep the kernel's exit code if it ended on its own (before we stop it)."""
        process = getattr(self.provisioner, "process", None)
        if not self._exit_polled and process is not None:
            self._exit_code = process.poll()
        self._exit_polled = True

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        self._note_exit()  # before we stop it: a code now is the kernel's own
        await super()._async_shutdown_kernel(now=now, restart=restart)

    shutdown_kernel = _async_shutdown_kernel

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        self._note_exit()  # nbclient cleans up a dead kernel without shutting it down
        await super()._async_cleanup_resources(restart)
        if not restart and self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None
        if not restart and self.sandbox:
            stats = self._group.stats() if self._group is not None else {}
            _note_stopped(stats, self.limits(), self._exit_code)
            self._exit_code, self._exit_polled = None, False
        if not restart and self._group is not None:
            self._group.remove()
            self._group = None

    cleanup_resources = _async_cleanup_resources


class SandboxExecute(Execute):
    """nbgrader's Execute preprocessor, with the sandboxed kernel and bounded output."""

    max_output_chars = Integer(MAX_OUTPUT_CHARS, help="output characters kept per cell").tag(
        config=True
    )

    max_notebook_output_chars = Integer(
        MAX_NOTEBOOK_OUTPUT_CHARS, help="output characters kept per notebook"
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._sizes: dict[int, int] = {}
        self._total = 0
        self._noted: set[tuple[int, str]] = set()

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        """Execute the notebook, its output budget starting afresh."""
        self._sizes, self._total, self._noted = {}, 0, set()
        return super().preprocess(nb, resources, km)

    def _note(self, cell_index: int, kind: str, text: str) -> None:
        """Say once per cell and kind, in the cell's output, that output was dropped."""
        if (cell_index, kind) in self._noted or not 0 <= cell_index < len(self.nb.cells):
            return
        self._noted.add((cell_index, kind))
        cell = self.nb.cells[cell_index]
        cell.setdefault("outputs", []).append(
            new_output("stream", name="stdout", text=f"\n[grader] {text}\n")
        )

    def process_message(self, msg: dict, cell: NotebookNode, cell_index: int):
        """nbclient's handling of one message from the kernel, within the output budgets."""
        content = msg.get("content")
        msg_type = msg.get("msg_type", "")
        if not isinstance(content, dict):
            return None
        if _DROPPED in content:
            if msg_type in _COUNTED or msg_type.startswith("comm"):
                self._note(
                    cell_index,
                    "one",
                    f"an output of {content[_DROPPED]:,} bytes was dropped: one output may "
                    f"hold at most {MAX_OUTPUT_BYTES:,} bytes",
                )
            return None
        if msg_type in _COUNTED or msg_type.startswith("comm"):
            size = getattr(content, "nbytes", 0) + sum(len(b) for b in msg.get("buffers") or ())
            display = (content.get("transient") or {}).get("display_id")
            if display:  # an update rewrites every output showing this display
                shown = self._display_id_map.get(display, {})
                size *= max(1, sum(len(found) for found in shown.values()))
            if self._total + size > self.max_notebook_output_chars:
                self._note(
                    cell_index,
                    "notebook",
                    f"output dropped: a notebook's output may hold at most "
                    f"{self.max_notebook_output_chars:,} characters",
                )
                return None
            self._total += size
        return super().process_message(msg, cell, cell_index)

    def _take_resets(self) -> int:
        take = getattr(getattr(self, "kc", None), "take_resets", None)
        self._resets = getattr(self, "_resets", 0) + (take() if take is not None else 0)
        return self._resets

    @property
    def raise_on_iopub_timeout(self) -> bool:
        """nbgrader's choice (a cell whose output never ends fails), except after the
        kernel's output connection was reset: the messages lost then are not the cell's."""
        return not self._take_resets()

    @raise_on_iopub_timeout.setter
    def raise_on_iopub_timeout(self, value: bool) -> None:
        pass

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        """Run one cell; say so when an output over the wire's limit was dropped."""
        self._resets = 0
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            if self._take_resets():
                self._resets = 0
                reconnect = getattr(self.kc, "reconnect_iopub", None)
                if reconnect is not None:
                    reconnect()
                self._note(
                    index,
                    "wire",
                    f"an output was dropped: a message from the kernel may hold at most "
                    f"{MAX_MESSAGE_BYTES:,} bytes",
                )

    def output(
        self, outs: list[NotebookNode], msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        size = self._sizes.get(cell_index, 0)
        if size > self.max_output_chars:
            return None
        content = msg.get("content", {})
        size += getattr(content, "nbytes", 0) or len(str(content.get("text", "")))
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


_COUNTED = frozenset({"stream", "display_data", "execute_result", "error", "update_display_data"})
"""Message types whose content lands in the notebook (with ``comm_*``, in its metadata)."""
