"""Limits on a sandbox's processes taken together, with cgroups v1 (root, where mounted).

rlimits (:class:`grader.sandbox.bwrap.Limits`) bound each process; a cgroup bounds the sandbox as a
whole: its memory (tmpfs pages included), its number of tasks, and its CPU share (at most
one CPU, so busy loops cannot starve the classmates graded beside it). A group is created
under the grader's own cgroup of each controller (so a container's limits still apply
above it), the ``bwrap`` child joins it before it starts, and it is removed when the kernel
is gone. Where cgroups v1 are not mounted or not writable (not root, cgroups v2 only,
macOS), :func:`create` returns ``None`` and the rlimits alone apply.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CPU_PERIOD_US", "Group", "create"]

CPU_PERIOD_US = 100_000
"""The CFS period; a sandbox's quota is one period per period: one CPU."""

_ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()


def _own_path(controller: str) -> str | None:
    """This process's cgroup path in ``controller``'s v1 hierarchy, if it has one."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return None


@dataclass
class Group:
    """One sandbox's cgroups (one folder per controller)."""

    folders: list[Path] = field(default_factory=list)
    _fds: list[int] = field(default_factory=list, repr=False)

    def join_fds(self) -> list[int]:
        """Descriptors of the groups' ``cgroup.procs``: writing ``b"0"`` to each moves the
        writing process (the ``bwrap`` child, before it starts) into the group."""
        return list(self._fds)

    def stats(self) -> dict[str, int]:
        """What the limits saw: ``oom_kill`` (tasks killed at the memory limit),
        ``pids_refused`` (forks refused at the task limit) and ``peak_bytes`` (the most
        resident memory the group held at once), when readable."""
        found: dict[str, int] = {}
        for folder in self.folders:
            with contextlib.suppress(OSError, ValueError):
                if (folder / "memory.max_usage_in_bytes").exists():
                    text = (folder / "memory.max_usage_in_bytes").read_text()
                    found["peak_bytes"] = int(text.strip())
                if (folder / "memory.oom_control").exists():
                    for line in (folder / "memory.oom_control").read_text().splitlines():
                        if line.startswith("oom_kill "):
                            found["oom_kill"] = int(line.split()[1])
                if (folder / "pids.events").exists():
                    text = (folder / "pids.events").read_text().split()
                    found["pids_refused"] = int(text[1]) if len(text) > 1 else 0
        return found

    def remove(self) -> None:
        """Close the descriptors and remove the groups (once their tasks are gone)."""
        while self._fds:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop())
        for folder in self.folders:
            for _ in range(50):  # the last tasks of a killed sandbox may still be exiting
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    import time

                    time.sleep(0.02)


def create(memory_mb: int, processes: int) -> Group | None:
    """A new group with these limits and one CPU, or ``None`` where cgroups v1 are not
    usable here (see the module)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    name = f"grader-sandbox-{os.getpid()}-{next(_counter)}"
    settings = {
        "memory": {"memory.limit_in_bytes": memory_mb * 2**20} if memory_mb > 0 else {},
        "pids": {"pids.max": processes},
        "cpu": {"cpu.cfs_period_us": CPU_PERIOD_US, "cpu.cfs_quota_us": CPU_PERIOD_US},
    }
    group = Group()
    try:
        for controller, values in settings.items():
            own = _own_path(controller)
            base = _ROOT / controller
            if own is None or not (base / "cgroup.procs").exists():
                raise OSError(f"no cgroup v1 {controller} controller")
            folder = base / own.lstrip("/") / name
            folder.mkdir()
            group.folders.append(folder)
            for key, value in values.items():
                (folder / key).write_text(str(value))
            group._fds.append(os.open(folder / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
    except OSError:
        group.remove()
        return None
    return group
