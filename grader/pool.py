"""Worker pools that run :func:`grader.worker.grade_job` on many jobs.

* :class:`LocalPool`: warm worker processes on this machine (forked once, imports done
  once, one job at a time each). A worker that dies, or runs past a job's time limit, is
  killed with its kernel and replaced; its job gets a recorded failure and the batch goes on.
* :class:`DaskPool`: the same jobs submitted to a Dask cluster (``--dask ADDRESS``); each
  job is plain data, so a worker needs the ``grader`` package, not the course.

Both yield one :class:`~grader.worker.JobResult` per job, in completion order.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from .worker import Job, JobResult, NotebookResult, grade_job

__all__ = ["DaskPool", "LocalPool", "default_workers", "failed", "make_pool", "next_job"]


WORKER_GC_THRESHOLDS = (10_000, 20, 20)
"""The garbage collector's thresholds in a worker, as in the kernels and judges
(``grader/sandbox/startup/sitecustomize.py`` says why): nbgrader's notebooks and gradebook
rows are many long-lived objects that CPython's default (700, 10, 10) scans again and again."""


def failed(job: Job, reason: str, seconds: float = 0.0) -> JobResult:
    """A result saying that none of the job's notebooks could be graded, and why."""
    notebooks = [
        NotebookResult(name, "error", reason, attempted=True) for name in job.spec.notebooks
    ]
    return JobResult(job.student, job.assignment, notebooks, seconds)


def _serve(conn, tmpdir: str) -> None:
    """A worker's loop: receive a job, send its result, until told to stop."""
    import gc

    from .engines import share_engines

    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    share_engines()
    os.environ["TMPDIR"] = tmpdir
    tempfile.tempdir = tmpdir
    if hasattr(os, "fork"):
        from .judge.server import start_warm

        start_warm()  # it imports its modules while this worker sets up its first job
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(grade_job(job))


def compile_course_library() -> None:
    """Write the bytecode of the course library (``authlab``) where Python looks for it, as
    pip does for an installed package: every sandboxed kernel imports it from a read-only
    view and would compile it again each time. Nothing is written where it cannot be."""
    import compileall

    try:
        import authlab
    except ImportError:
        return
    package = Path(authlab.__file__).resolve().parent
    with contextlib.suppress(OSError):
        compileall.compile_dir(package, quiet=2, workers=1)


def _kill_tree(pid: int) -> None:
    """Kill a process and everything it started (kernels start their own sessions)."""
    try:
        import psutil

        parent = psutil.Process(pid)
        for child in parent.children(recursive=True):
            child.kill()
        parent.kill()
    except Exception:  # noqa: BLE001 - already gone, or psutil missing
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def _stop(slot: _Slot) -> None:
    """Stop a worker: it exits on its own once told (``None``), else it is killed."""
    with contextlib.suppress(OSError):
        slot.conn.send(None)
    slot.process.join(timeout=5)
    if slot.process.is_alive():
        _kill_tree(slot.process.pid)


@dataclass
class _Slot:
    process: multiprocessing.Process
    conn: object
    job: Job | None = None
    started: float = 0.0
    deadline: float = 0.0
    assignment: str | None = None  # of the last job it was given in this run


def _freeze(owned: bool) -> bool:
    """Move this process's objects out of the garbage collector's reach before it forks
    workers; ``True`` if they are this pool's to unfreeze (``owned``: it froze them before).
    A forked worker shares this process's memory until either side writes to a page; a full
    collection here, or in a worker, writes to every object it scans, so each worker would
    soon hold its own copy of it all (about 30 MiB a worker, measured). Frozen objects are
    still freed when nothing refers to them; a cycle among them waits for
    :meth:`LocalPool.close` to unfreeze them."""
    import gc

    if gc.get_freeze_count() and not owned:
        return False  # frozen by whoever runs us (a server that forks, too): theirs to undo
    gc.collect()
    gc.freeze()  # what this process made since the last fork too
    return True


def next_job(pending: deque[Job], slot: _Slot, slots: list[_Slot]) -> Job:
    """Take ``slot``'s next job from ``pending`` (in the order given: longest first): one of
    the assignment it graded last while any is left, since its judge has that notebook's
    first lessons run already (:func:`grader.judge.server.serve`); else the first of an
    assignment no other worker is on; else the first. Workers keep to an assignment each
    and end together: a worker that runs out of its own takes another's."""
    others = {other.assignment for other in slots if other is not slot and other.job}
    chosen = None
    for index, job in enumerate(pending):
        if job.assignment == slot.assignment:
            chosen = index
            break
        if chosen is None and job.assignment not in others:
            chosen = index
    job = pending[chosen or 0]
    del pending[chosen or 0]
    slot.assignment = job.assignment
    return job


def default_workers() -> int:
    """Worker processes when none are asked for: one per core, plus one. A worker spends
    part of each notebook waiting (for its kernel to start, for its judge to finish), and
    the extra worker keeps the cores busy meanwhile."""
    return (os.cpu_count() or 1) + 1


class LocalPool:
    """``workers`` warm processes on this machine (default :func:`default_workers`); see
    the module's docstring.

    Its workers (each with its warm judge) outlive one :meth:`run`: the limits check of the
    instructor's solutions and the class are graded by the same workers, which import
    their modules once. :meth:`close` (or leaving a ``with`` block) stops them."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or default_workers())
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._ctx = multiprocessing.get_context(method)
        self._idle: list[_Slot] = []  # workers kept between runs
        self._tmpdir: str | None = None
        self._frozen = False  # this pool froze the garbage collector's objects (_freeze)

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self, tmpdir: str) -> _Slot:
        if self._ctx.get_start_method() == "fork":
            self._frozen = _freeze(self._frozen)
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_serve, args=(child, tmpdir), daemon=True)
        process.start()
        child.close()
        return _Slot(process, parent)

    def _slots(self, wanted: int) -> list[_Slot]:
        """``wanted`` workers: the idle ones kept from the last run (if alive), then new."""
        # Imported once, before forking: each worker would import them for its first job
        # (jupyter_client finds the python3 kernel with ipykernel.kernelspec, and IPython).
        import ipykernel.kernelspec  # noqa: F401
        import nbgrader.converters  # noqa: F401
        import nbgrader.preprocessors  # noqa: F401

        from .sandbox import cgroups, zygote  # noqa: F401

        if self._tmpdir is None:
            compile_course_library()
            self._tmpdir = tempfile.mkdtemp(prefix="grader-pool-")
        kept, self._idle = self._idle, []
        slots = [slot for slot in kept if slot.process.is_alive()][:wanted]
        for slot in kept:
            if slot not in slots:
                _stop(slot)
        while len(slots) < wanted:
            slots.append(self._start(self._tmpdir))
        return slots

    def run(self, jobs: list[Job], limit: Callable[[Job], float]) -> Iterator[JobResult]:
        """Grade ``jobs``; ``limit(job)`` is the job's wall-clock limit in seconds."""
        pending = deque(jobs)
        slots = self._slots(min(self.workers, len(jobs))) if jobs else []
        for slot in slots:
            slot.assignment = None  # a run starts with its longest jobs
        try:
            while pending or any(slot.job for slot in slots):
                for slot in slots:
                    if slot.job is None and pending:
                        slot.job = next_job(pending, slot, slots)
                        slot.started = time.monotonic()
                        slot.deadline = slot.started + limit(slot.job)
                        slot.conn.send(slot.job)
                busy = [slot for slot in slots if slot.job]
                timeout = max(0.0, min(slot.deadline for slot in busy) - time.monotonic())
                ready = wait(
                    [s.conn for s in busy] + [s.process.sentinel for s in busy], timeout=timeout
                )
                for index, slot in enumerate(slots):
                    if slot.job is None:
                        continue
                    result = self._collect(slot, ready)
                    if result is not None:
                        yield result
                        if slot.job is None and not slot.process.is_alive():
                            slots[index] = self._start(self._tmpdir)
        finally:
            for slot in slots:  # a job still running was abandoned: its worker goes with it
                if slot.job is None and slot.process.is_alive():
                    self._idle.append(slot)
                else:
                    _stop(slot)

    def close(self) -> None:
        """Stop the workers kept between runs, and remove their scratch folder."""
        idle, self._idle = self._idle, []
        for slot in idle:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        for slot in idle:
            _stop(slot)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        if self._frozen:  # its workers are gone: nothing left to share them with
            import gc

            gc.unfreeze()
            self._frozen = False

    def _collect(self, slot: _Slot, ready: list) -> JobResult | None:
        job = slot.job
        elapsed = time.monotonic() - slot.started
        if slot.conn in ready:
            try:
                result = slot.conn.recv()
                slot.job = None
                return result
            except (EOFError, OSError):
                pass
        if slot.process.sentinel in ready or not slot.process.is_alive():
            slot.job = None
            code = slot.process.exitcode
            return failed(job, f"the grading worker died (exit code {code})", elapsed)
        if time.monotonic() >= slot.deadline:
            _kill_tree(slot.process.pid)
            slot.process.join(timeout=5)
            slot.job = None
            return failed(job, f"grading took longer than {elapsed:.0f} s and was stopped", elapsed)
        return None


class DaskPool:
    """Jobs sent to the Dask scheduler at ``address`` (needs ``distributed``)."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "--dask needs the 'distributed' package: pip install distributed"
            ) from exc
        self.client = Client(address)

    def run(self, jobs: list[Job], limit: Callable[[Job], float]) -> Iterator[JobResult]:
        """Submit every job; yield results as they complete (a failed task becomes a failure)."""
        from distributed import as_completed

        futures = {
            self.client.submit(grade_job, job, pure=False, key=f"grade-{i}-{job.student}"): job
            for i, job in enumerate(jobs)
        }
        for future in as_completed(futures):
            job = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - reported on the job's rows
                yield failed(job, f"the Dask worker failed: {type(exc).__name__}: {exc}"[:300])

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect from the scheduler."""
        self.client.close()


def make_pool(jobs: int | None = None, dask: str | None = None) -> LocalPool | DaskPool:
    """The pool the command line asked for."""
    return DaskPool(dask) if dask else LocalPool(jobs)
