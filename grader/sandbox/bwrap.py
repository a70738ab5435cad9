"""The OS sandbox of one graded notebook: a bubblewrap (``bwrap``) command line, and a probe.

:class:`Sandbox` wraps a kernel's command so that it runs

* as an unprivileged user of its own: uid 1000 inside a new user namespace, mapped to an
  unprivileged uid outside (when the grader runs as root, the ``bwrap`` process itself is
  started as ``SANDBOX_UID_BASE + worker pid``, a uid no other process uses, so that
  ``RLIMIT_NPROC`` counts only this sandbox); no capabilities; no further user namespaces;
* in new pid, network, ipc, mount, uts and cgroup namespaces: no network interface but
  loopback, its own ``/proc`` that shows only its own processes, a new session;
* seeing only, read-only: ``/usr``, the interpreter (``sys.base_prefix``), the virtual
  environment (``sys.prefix``), the course library (the ``authlab`` package folder),
  the course's ``pyproject.toml`` and ``data/`` (without ``data/submissions``), and a few
  generated ``/etc`` files (passwd, group, hosts, nsswitch.conf);
* writing only to two size-capped tmpfs (``/home/student``, which holds the student's files
  in ``/home/student/work``, the working directory, and ``/tmp``) and to the job's private
  folder of Unix sockets (jupyter's ``ipc`` transport), bound at the same path;
* under rlimits inherited by every process it starts: memory a process allocates
  (``RLIMIT_DATA``: its heap, private mappings and thread stacks, not the address space it
  merely reserves, so an honest kernel's threads and malloc arenas are not counted as
  memory in use), a generous address-space backstop (``RLIMIT_AS``, :data:`AS_FACTOR`
  times the memory limit plus :data:`AS_HEADROOM_MB`), processes and threads
  (``RLIMIT_NPROC``, only when it has a uid of its own: the count is per real uid), CPU
  seconds (``RLIMIT_CPU``), file size (``RLIMIT_FSIZE``), no core files; and, as root where
  cgroups v1 are mounted, in cgroups of its own (:mod:`grader.sandbox.cgroups`: resident memory of
  all its processes together, tasks, one CPU);
* killed as a whole: the pid namespace dies with its first process, and everything in it
  with ``bwrap``'s parent (``--die-with-parent``).

Everything is passed to ``bwrap`` as open file descriptors, so the unprivileged ``bwrap``
never needs to traverse the grader's own (possibly private) folders.

:func:`probe` checks once per process that such a sandbox really starts here (it runs
``true`` in one); :func:`require` turns a failure into an instructor-facing message.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..course import GraderError

__all__ = [
    "AS_FACTOR",
    "CPU_GRACE_SECONDS",
    "AS_HEADROOM_MB",
    "HOME",
    "INSIDE_UID",
    "INSTALL_HINT",
    "SANDBOX_UID_BASE",
    "STARTUP_DIR",
    "WORKDIR",
    "Limits",
    "Sandbox",
    "SandboxUnavailable",
    "outside_uid",
    "probe",
    "require",
]

INSIDE_UID = 1000
"""The student's uid (and gid) inside the sandbox."""

SANDBOX_UID_BASE = 1_900_000_000
"""When the grader runs as root, ``bwrap`` runs as this uid plus the worker's pid."""

HOME = "/home/student"
"""The student's home inside the sandbox (a tmpfs)."""

WORKDIR = f"{HOME}/work"
"""The kernel's working directory inside the sandbox: the student's files."""

STARTUP_DIR = "/opt/grader-site"
"""A read-only folder inside the sandbox holding ``Sandbox.startup`` files (the kernel's
``PYTHONPATH``: :mod:`grader.sandbox.kernel` puts its ``sitecustomize.py`` there)."""

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: 'sudo apt-get install bubblewrap'; Fedora: "
    "'sudo dnf install bubblewrap'; it needs Linux with unprivileged user namespaces, "
    "e.g. 'sysctl kernel.unprivileged_userns_clone=1'), or grade trusted work with "
    "--no-sandbox"
)
"""What an instructor can do when the sandbox cannot start."""


class SandboxUnavailable(GraderError):
    """The OS sandbox cannot start on this machine (no bwrap, no user namespaces, not Linux)."""


AS_FACTOR = 4
"""The address-space backstop is this many times the memory limit (plus the headroom)."""

AS_HEADROOM_MB = 4096
"""MiB of address space on top of ``AS_FACTOR`` times the memory limit: thread stacks and
malloc arenas are reserved, not used, and must never stop an honest kernel."""

CPU_GRACE_SECONDS = 5
"""``RLIMIT_CPU``'s hard limit is this far above its soft one: a process over the limit gets
``SIGXCPU`` (its exit code says so), and ``SIGKILL`` only if it ignores that."""

NPROC_MARGIN = 16
"""``RLIMIT_NPROC`` sits this far above the cgroup's task limit, so that where cgroups
work the cgroup refuses first and its count names the process limit."""


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use; each applies to every process in it.

    ``memory_mb`` is resident memory: of the whole sandbox where cgroups work
    (:mod:`grader.sandbox.cgroups`), and of what each process allocates (``RLIMIT_DATA``) everywhere,
    so that one runaway allocation ends in ``MemoryError``.
    """

    memory_mb: int = 4096  # the sandbox's memory cgroup, and RLIMIT_DATA of each process (0: none)
    processes: int = 256  # processes and threads: the pids cgroup, RLIMIT_NPROC of its uid
    cpu_seconds: int = 900  # RLIMIT_CPU of each process
    disk_mb: int = 512  # size of each tmpfs, and RLIMIT_FSIZE

    def rlimits(self) -> list[tuple[int, int]]:
        """``(resource, value)`` pairs to set (soft and hard) before ``bwrap`` starts."""
        import resource

        mib = 2**20
        found = [
            (resource.RLIMIT_CPU, max(1, self.cpu_seconds)),
            (resource.RLIMIT_FSIZE, self.disk_mb * mib),
            (resource.RLIMIT_CORE, 0),
        ]
        if self.memory_mb > 0:
            found.append((resource.RLIMIT_DATA, self.memory_mb * mib))
            space = AS_FACTOR * self.memory_mb + AS_HEADROOM_MB
            found.append((resource.RLIMIT_AS, space * mib))
        else:  # no limit: not even the grading worker's own (grader.pool)
            found.append((resource.RLIMIT_DATA, resource.RLIM_INFINITY))
        if outside_uid() is not None:  # a uid of its own: the count is this sandbox's
            found.append((resource.RLIMIT_NPROC, self.processes + NPROC_MARGIN))
        return found


def outside_uid() -> int | None:
    """The uid ``bwrap`` runs as when the grader is root (``None``: the grader's own uid)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    return SANDBOX_UID_BASE + os.getpid()


def _course_paths() -> tuple[Path, Path, Path]:
    """The course library's package folder, the course root, and its data folder."""
    import authlab

    package = Path(authlab.__file__).resolve().parent
    from authlab.data import project_root

    root = project_root()
    return package, root, root / "data"


_ETC = {
    "passwd": (
        f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{INSIDE_UID}:{INSIDE_UID}:student:{HOME}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": f"root:x:0:\nstudent:x:{INSIDE_UID}:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}


@dataclass
class Sandbox:
    """One sandbox: the ``bwrap`` command around a kernel, and the files it carries in.

    ``files`` (path relative to the working folder -> bytes) are copied into the tmpfs, and
    ``home_files`` (path relative to the home folder -> bytes, e.g. the grader's matplotlib
    font list, which saves every kernel a scan of the fonts) into the home folder; ``startup``
    (file name -> bytes) into :data:`STARTUP_DIR`, read-only; ``ipc_dir`` is bound read-write at its own path (the kernel's connection file and
    sockets); ``readonly`` adds folders bound read-only at their own path; ``capabilities``
    are kept in the sandbox's user namespace (none but the warm kernel's, which drops them
    before a kernel runs: :mod:`grader.sandbox.zygote`); ``read_only_root`` makes ``/`` and
    ``/dev`` read-only (the warm kernel's: every kernel it forks shares them).
    """

    ipc_dir: Path
    files: Mapping[str, bytes] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    readonly: tuple[Path, ...] = ()
    cgroup_fds: tuple[int, ...] = ()  # ``cgroup.procs`` of its groups (grader.sandbox.cgroups)
    home_files: Mapping[str, bytes] = field(default_factory=dict)
    startup: Mapping[str, bytes] = field(default_factory=dict)  # name -> bytes, in STARTUP_DIR
    capabilities: tuple[str, ...] = ()  # kept in its user namespace (grader.sandbox.zygote)
    read_only_root: bool = False  # / and /dev read-only (the zygote's: its kernels share them)
    _fds: list[int] = field(default_factory=list, init=False, repr=False)

    def _data_fd(self, data: bytes) -> int:
        fd = os.memfd_create("sandbox-file", os.MFD_CLOEXEC)
        self._fds.append(fd)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    def command(self, cmd: list[str]) -> list[str]:
        """The ``bwrap`` command line that runs ``cmd`` in the sandbox (opens descriptors)."""
        argv = [
            shutil.which("bwrap") or "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--uid",
            str(INSIDE_UID),
            "--gid",
            str(INSIDE_UID),
            "--hostname",
            "sandbox",
        ]
        for name in self.capabilities:
            argv += ["--cap-add", name]
        argv += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "lib", "lib64", "sbin"):
            link = Path("/", name)
            if link.is_symlink():
                argv += ["--symlink", os.readlink(link), str(link)]
            elif link.is_dir():
                argv += ["--ro-bind", str(link), str(link)]
        size = str(self.limits.disk_mb * 2**20)
        argv += ["--size", size, "--tmpfs", "/tmp"]  # first: a checkout under /tmp binds on it
        for path in self.readonly:
            argv += ["--ro-bind", str(path), str(path)]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--size", size, "--perms", "0700", "--tmpfs", HOME]
        argv += ["--perms", "0700", "--dir", WORKDIR]
        made = {WORKDIR}
        placed = [(WORKDIR, rel, data) for rel, data in sorted(self.files.items())]
        placed += [(HOME, rel, data) for rel, data in sorted(self.home_files.items())]
        for folder, rel, data in placed:
            target = PurePosixPath(folder, rel)
            for parent in reversed(target.parents):
                if str(parent).startswith(folder + "/") and str(parent) not in made:
                    made.add(str(parent))
                    argv += ["--dir", str(parent)]
            argv += ["--file", str(self._data_fd(data)), str(target)]
        for name, text in _ETC.items():
            argv += ["--ro-bind-data", str(self._data_fd(text.encode())), f"/etc/{name}"]
        if self.startup:
            argv += ["--dir", STARTUP_DIR]
        for name, data in sorted(self.startup.items()):
            argv += ["--ro-bind-data", str(self._data_fd(data)), f"{STARTUP_DIR}/{name}"]
        argv += ["--bind", str(self.ipc_dir), str(self.ipc_dir)]
        if self.read_only_root:
            argv += ["--remount-ro", "/", "--remount-ro", "/dev"]
        argv += ["--chdir", WORKDIR, "--"]
        return argv + list(cmd)

    def popen_kwargs(self) -> dict:
        """``subprocess.Popen`` arguments: descriptors to pass, limits, the user to become.

        As root, the child first joins the sandbox's cgroups (``cgroup_fds``), makes the
        bound folders reachable by the sandbox's uid (:func:`_reveal`, in a private mount
        namespace of that child only), then sets the limits and drops to
        :func:`outside_uid` with no supplementary groups, then runs ``bwrap``. (``Popen``'s ``user=`` is not used: it switches before ``preexec_fn``.)
        """
        limits = self.limits.rlimits()
        uid = outside_uid()
        reveal = _reveal_plan([*self.readonly, self.ipc_dir]) if uid is not None else None
        groups = self.cgroup_fds

        def prepare() -> None:  # in the child, before exec
            import resource

            for fd in groups:  # join the sandbox's cgroups while still root
                os.write(fd, b"0")
            if reveal is not None:
                _reveal(reveal)
            for what, value in limits:
                hard = resource.getrlimit(what)[1]
                if hard != resource.RLIM_INFINITY and uid is None:  # cannot raise: keep it
                    value = hard if value == resource.RLIM_INFINITY else min(value, hard)
                top = value
                if what == resource.RLIMIT_CPU:  # SIGXCPU first: its exit code names the limit
                    top = value + CPU_GRACE_SECONDS
                    if hard != resource.RLIM_INFINITY and uid is None:
                        top = min(top, hard)
                resource.setrlimit(what, (value, top))
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)

        return {"pass_fds": tuple(self._fds), "preexec_fn": prepare}

    def close(self) -> None:
        """Close the descriptors opened for :meth:`command` (after ``bwrap`` has started)."""
        while self._fds:
            try:
                os.close(self._fds.pop())
            except OSError:
                pass


def course_readonly() -> tuple[Path, ...]:
    """The folders a notebook needs, read-only: interpreter, venv, course library, data."""
    package, root, data = _course_paths()
    found = [Path(sys.base_prefix), Path(sys.prefix), package, root / "pyproject.toml"]
    if data.is_dir():
        found += [p for p in sorted(data.iterdir()) if p.name != "submissions"]
    unique: list[Path] = []
    for path in found:
        if path.exists() and path not in unique:
            unique.append(path)
    return tuple(unique)


def _hidden(path: Path) -> Path | None:
    """The topmost folder above ``path`` that other users cannot traverse, if any."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def _reveal_plan(paths: list[Path]) -> tuple[list[str], list[tuple[str, bool]]]:
    """The untraversable folders above ``paths`` (to cover with a tmpfs), and the paths
    behind them (to bind back), each with whether it is a folder."""
    covered: list[str] = []
    binds: list[tuple[str, bool]] = []
    for path in paths:
        top = _hidden(path)
        if top is None:
            continue
        if str(top) not in covered:
            covered.append(str(top))
        binds.append((str(path), path.is_dir()))
    return covered, binds


_libc = None


def _reveal(plan: tuple[list[str], list[tuple[str, bool]]]) -> None:
    """In a child running as root: a private mount namespace where the planned paths are
    reachable (each untraversable folder covered by a tmpfs, the paths bound back)."""
    import ctypes

    libc = _libc or ctypes.CDLL(None, use_errno=True)
    ms_bind, ms_rec, ms_private = 4096, 16384, 1 << 18

    def check(result: int, what: str) -> None:
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what} failed")

    covered, binds = plan
    check(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
    check(libc.mount(None, b"/", None, ms_rec | ms_private, None), "mount --make-rprivate /")
    held = [(path, os.open(path, os.O_PATH | os.O_CLOEXEC), is_dir) for path, is_dir in binds]
    for top in covered:
        check(libc.mount(b"tmpfs", top.encode(), b"tmpfs", 0, b"mode=0755"), "tmpfs")
    for path, fd, is_dir in held:
        if is_dir:
            os.makedirs(path, 0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        source = f"/proc/self/fd/{fd}".encode()
        check(libc.mount(source, path.encode(), None, ms_bind | ms_rec, None), "bind")
        os.close(fd)


def grant_ipc_dir(path: Path) -> None:
    """Give ``path`` (the job's socket folder, or its connection file) to the sandbox's user
    alone."""
    uid = outside_uid()
    if uid is not None:
        os.chown(path, uid, uid, follow_symlinks=False)
    os.chmod(path, 0o700 if path.is_dir() else 0o600)


@functools.cache
def probe() -> str | None:
    """``None`` when a sandbox starts here (checked once per process), else why not."""
    if not sys.platform.startswith("linux"):
        return f"the grading sandbox needs Linux (this is {sys.platform})"
    if not shutil.which("bwrap"):
        return "bubblewrap (bwrap) is not installed"
    import tempfile

    ipc = Path(tempfile.mkdtemp(prefix="probe-"))
    sandbox = Sandbox(ipc, limits=Limits(memory_mb=0), readonly=(Path(sys.base_prefix),))
    try:
        grant_ipc_dir(ipc)
        done = subprocess.run(
            sandbox.command(["/usr/bin/env", "true"]),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            **sandbox.popen_kwargs(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start: {exc}"
    finally:
        sandbox.close()
        shutil.rmtree(ipc, ignore_errors=True)
    if done.returncode != 0:
        said = (done.stderr or "").strip().splitlines()
        return f"bubblewrap could not start a sandbox: {said[-1] if said else done.returncode}"
    return None


def require() -> None:
    """Raise :class:`SandboxUnavailable` (naming the fix) unless :func:`probe` succeeds."""
    problem = probe()
    if problem:
        raise SandboxUnavailable(
            f"Cannot grade in a sandbox: {problem}. To grade untrusted submissions, "
            f"{INSTALL_HINT} (it says so in every output)."
        )
