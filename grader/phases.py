"""Where a graded notebook's seconds go: named phases, timed in the worker and the judge.

Grading a notebook passes through phases (the sandbox starting, the kernel starting, the
lesson and answer cells running in it, the judge replaying the instructor's notebook and
running the tests, nbgrader scoring the cells …). The worker's code adds each one's seconds
with :func:`timed` or :func:`add` (:class:`TimedExecute` times the executor's phases, and
adds the judge's own, which it reports as data); the worker takes the totals once a notebook
is done (:func:`take`). Timing changes nothing a notebook does and costs a clock read per
phase.

When the environment variable :data:`PHASES_ENV` names a file, the worker appends one JSON
line per graded notebook to it (``benchmarks/grading.py`` reads them into its per-notebook
table); otherwise the totals are dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator

from jupyter_core.utils import run_sync

from .judge.execute import JudgedExecute

__all__ = ["PHASES_ENV", "TimedExecute", "add", "record", "take", "timed"]

PHASES_ENV = "GRADER_PHASES"
"""The environment variable naming the file the worker appends its timings to."""

_totals: dict[str, float] = {}


def add(phase: str, seconds: float) -> None:
    """Count ``seconds`` more in ``phase`` for the notebook being graded."""
    _totals[phase] = _totals.get(phase, 0.0) + seconds


@contextlib.contextmanager
def timed(phase: str) -> Iterator[None]:
    """Count the time the ``with`` block takes in ``phase``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        add(phase, time.perf_counter() - started)


def take() -> dict[str, float]:
    """The seconds per phase since the last call; then forget them."""
    found = dict(_totals)
    _totals.clear()
    return found


def record(**fields: object) -> None:
    """Append ``fields`` as one JSON line to the file :data:`PHASES_ENV` names, if any."""
    path = os.environ.get(PHASES_ENV)
    if not path:
        return
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as out:  # noqa: PTH123
        out.write(json.dumps(fields) + "\n")


class TimedExecute(JudgedExecute):
    """:class:`~grader.judge.execute.JudgedExecute`, its phases timed: the sandbox and the
    kernel starting, the lesson and answer cells, the wait for the judge (whose own phases
    are added as ``judge: …``) and the kernel stopping."""

    def preprocess(self, nb, resources=None, km=None):
        """Execute and judge the notebook (timed as ``execute (total)``)."""
        self._first_ran = False
        try:
            with timed("execute (total)"):
                return super().preprocess(nb, resources, km)
        finally:
            for phase, seconds in self.judge_phases.items():
                add(f"judge: {phase}", seconds)

    async def async_start_new_kernel(self, **kwargs):
        """Start the sandbox and the kernel process in it (timed)."""
        with timed("sandbox start"):
            return await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self):
        """Connect to the kernel and wait until it answers (timed)."""
        with timed("kernel start"):
            return await super().async_start_new_kernel_client()

    async def _async_cleanup_kernel(self) -> None:
        with timed("kernel stop"):
            return await super()._async_cleanup_kernel()

    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)
    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    def preprocess_cell(self, cell, resources, index):
        """Run one cell (timed by kind: the first lesson cell, lessons, answers)."""
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            kind = "kernel: test cells (not sent)"
        elif meta.get("solution"):
            kind = "kernel: answers"
        else:
            kind = "kernel: lessons" if self._first_ran else "kernel: first lesson cell"
        self._first_ran = True
        started, judged = time.perf_counter(), _totals.get("judge wait", 0.0)
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:  # the judge, waited for after the last cell, is a phase of its own
            waited = _totals.get("judge wait", 0.0) - judged
            add(kind, time.perf_counter() - started - waited)

    def _judge(self) -> None:
        with timed("judge wait"):
            super()._judge()
