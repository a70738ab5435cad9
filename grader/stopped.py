"""What the sandbox stopped, read from a graded notebook's outputs, for the ``reason`` column.

The sandbox (:mod:`grader.sandbox.bwrap`) does not report to the grader; its limits show up as
errors in the notebook's outputs: ``MemoryError`` (memory limit), "Network is
unreachable" (no network), "Resource temporarily unavailable" from ``fork`` (process
limit), "No such process" from ``kill`` (another process is out of sight), "No space left
on device" or "File too large" (disk limit), ``CellTimeoutError`` (time limit). Naming them
lets an instructor follow up on a submission that tried something. :func:`label_stops`
adds each limit's value; the grader's own record of a kernel stopped at a limit (cgroups,
exit codes) is :func:`grader.sandbox.kernel.take_stopped`.
"""

from __future__ import annotations

import json

__all__ = ["SIGNS", "judge_stopped", "label_stops", "what_stopped"]

SIGNS: dict[str, tuple[str, ...]] = {
    "memory limit": ("MemoryError", "Cannot allocate memory", "Errno 12]"),
    "network unreachable": (
        "Network is unreachable",
        "Errno 101",
        "Temporary failure in name resolution",
        "Name or service not known",
        "Could not resolve host",
        "Couldn't connect to server",
    ),
    "process limit": ("Resource temporarily unavailable", "Errno 11]"),
    "a thread could not start (memory or process limit)": ("can't start new thread",),
    "signal to a process outside the sandbox refused": ("No such process", "Errno 3]"),
    "disk limit": ("No space left on device", "File too large", "Errno 28", "Errno 27"),
    "write to the read-only course refused": ("Read-only file system", "Errno 30"),
    "time limit": ("CellTimeoutError", "Cell execution timed out"),
    "output limit": ("[grader] an output", "[grader] output cut", "[grader] output dropped"),
}
"""Each limit's name, and the texts in an output that show it was hit."""


def _texts(notebook: dict) -> list[str]:
    found = []
    for cell in notebook.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if not isinstance(out, dict):
                continue
            parts = [out.get("ename", ""), out.get("evalue", ""), out.get("text", "")]
            parts += out.get("traceback", []) or []
            found.append(" ".join(p if isinstance(p, str) else "".join(p) for p in parts))
    return found


def what_stopped(notebook: str | dict) -> list[str]:
    """The limits of :data:`SIGNS` that a graded notebook's outputs show were hit."""
    if isinstance(notebook, str):
        try:
            notebook = json.loads(notebook)
        except ValueError:
            return []
    texts = "\n".join(_texts(notebook if isinstance(notebook, dict) else {}))
    return [name for name, signs in SIGNS.items() if any(sign in texts for sign in signs)]


def judge_stopped(notebook: str | dict) -> str:
    """The row's note when the judge refused to finish reading a reply from the kernel (a
    failed check's message starts with :data:`grader.judge.link.STOPPED_REPLY`), else ``""``."""
    from .judge.link import STOPPED_REPLY

    if isinstance(notebook, str):
        try:
            notebook = json.loads(notebook)
        except ValueError:
            return ""
    texts = "\n".join(_texts(notebook if isinstance(notebook, dict) else {}))
    if STOPPED_REPLY not in texts:
        return ""
    return (
        "the judge stopped reading a reply from the kernel (too many values, a key too large "
        "or private, or past the call's time limit): see the failed check"
    )


_VALUES = {
    "memory limit": "{memory_mb} MiB",
    "process limit": "{processes} processes and threads",
    "disk limit": "{disk_mb} MiB",
    "time limit": "{timeout} s per cell",
    "a thread could not start (memory or process limit)": "",
    "output limit": "output over the grader's limits dropped",
}


def label_stops(names: list[str], limits: dict) -> list[str]:
    """``names`` from :func:`what_stopped`, each limit with its value (``"memory limit
    (1024 MiB)"``) from ``limits`` (``memory_mb``, ``processes``, ``disk_mb``, ``timeout``);
    a name that already carries its value is kept as it is."""
    labelled = []
    for name in names:
        pattern = _VALUES.get(name)
        if pattern and "(" not in name:
            try:
                name = f"{name} ({pattern.format(**limits)})"
            except (KeyError, IndexError):
                pass
        labelled.append(name)
    return labelled
