"""One grading job, run in a worker process: a student's assignment through nbgrader's Autograde.

A :class:`Job` carries everything a worker needs as plain data (the student's files, the
assignment's :class:`~grader.authoring.integrity.AssignmentSpec`, a snapshot of the gradebook holding
the assignment, nbgrader's settings), so the same job runs in a local process or on a
Dask worker with no access to the course. :func:`grade_job`

1. checks each notebook (:mod:`grader.authoring.integrity`); unreadable or foreign ones are not graded;
2. lays out a scratch course in the temp folder: ``submitted/`` with only this student's
   files, ``autograded/`` (the kernel's working directory), and, in a separate folder, a
   private copy of the gradebook;
3. runs nbgrader's own ``Autograde`` converter (locked cells restored, deleted test cells
   re-inserted) with :class:`~grader.judge.execute.JudgedExecute` as the executor: the
   student's notebook runs in the sandboxed kernel without its graded test cells, which
   the judge (:mod:`grader.judge.script`) runs outside it, from the instructor's notebook;
4. returns the autograded notebooks; the parent alone writes the course's gradebook.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import phases
from .authoring.integrity import AssignmentSpec, check_notebook
from .staging import MAX_NOTEBOOK_BYTES, read_regular
from .stopped import judge_stopped, label_stops, what_stopped

__all__ = ["Job", "JobResult", "NotebookResult", "grade_job"]

PLACEHOLDER_STUDENT = "student"
"""The student id inside the scratch course (the real id never reaches the kernel)."""


@dataclass
class Job:
    """One student's submission of one assignment, as plain data."""

    student: str
    assignment: str
    files: dict[str, bytes]  # path relative to the submission folder -> content
    spec: AssignmentSpec
    gradebook: bytes  # an SQLite gradebook that knows the assignment
    config: dict  # nbgrader settings (traitlets Config as nested dicts)
    timestamp: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.student, self.assignment)

    def time_limit(self, timeout: float) -> float:
        """Wall-clock seconds after which the whole job is abandoned."""
        cells = sum(nb.code_cells for nb in self.spec.notebooks.values())
        return 120.0 + timeout * (cells + 5)


@dataclass
class NotebookResult:
    """One notebook's outcome in the worker."""

    name: str
    status: str  # "graded" or "error"
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    autograded: str | None = None  # the autograded notebook as JSON text
    attempted: bool = False  # nbgrader ran on it (False: missing, unreadable or foreign)
    peak_mb: int | None = None  # the most resident memory its sandbox held (cgroups only)


@dataclass
class JobResult:
    """What a worker sends back for a :class:`Job`."""

    student: str
    assignment: str
    notebooks: list[NotebookResult]
    seconds: float
    log: str = ""


def _failure_reason(log: str, stops: list[str] = (), timeout: float | None = None) -> str:
    """The most telling line of nbgrader's log for a submission it could not grade
    (``stops``: what the sandbox's limits stopped, with their values; ``timeout``: the time
    limit per cell)."""
    judged = re.findall(r"^\S*JudgeFailed: (.*)$", log, re.MULTILINE)
    if judged:
        return f"the grader's judge failed: {judged[-1][:250]}"
    if "DeadKernelError" in log or "Kernel died" in log:
        killers = [x for x in stops if x.startswith(("memory limit", "CPU time limit"))]
        if killers:
            return (
                f"the kernel died: stopped at the {' and the '.join(killers)}; no cell after "
                "that point ran"
            )
        return (
            "the kernel died while running the notebook (os._exit, a crash, or the memory "
            "limit): no cell after that point ran"
        )
    if "UnresponsiveKernelError" in log or "became unresponsive" in log:
        limit = f" at the time limit ({timeout:g} s per cell)" if timeout else ""
        return (
            f"the kernel stopped responding{limit} and could not be interrupted (an endless loop?)"
        )
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    raised = [
        line
        for line in lines
        if re.match(r"^[\w.]*(Error|Exception|Interrupt)\b", line)
        and "NbGraderException" not in line
    ]
    if raised:
        return f"nbgrader could not grade it: {raised[-1]}"[:300]
    errors = [line for line in lines if re.search(r"Error|ERROR|Exception", line)]
    chosen = (errors or lines or ["nbgrader autograde failed without a message"])[-1]
    return chosen[:300]


def _config(job: Job, root: Path, db: Path, home: Path):
    from traitlets.config import Config

    from .phases import TimedExecute

    config = Config(job.config)
    course = config.CourseDirectory
    course.root = str(root)
    course.submitted_directory = "submitted"
    course.autograded_directory = "autograded"
    course.source_directory = "source"
    course.db_url = f"sqlite:///{db}"
    config.OverwriteCells.add_missing_cells = False  # done by grader.authoring.integrity, in place
    config.SandboxKernelManager.home = str(home)
    config.Execute.shutdown_kernel = "immediate"  # the notebook is done: no graceful wait
    from nbgrader.converters import Autograde

    chain = list(Autograde.class_traits()["autograde_preprocessors"].default())
    config.Autograde.autograde_preprocessors = [
        TimedExecute if getattr(p, "__name__", "") == "Execute" else p for p in chain
    ]
    config.JudgedExecute.scripts = {
        name: nb.judge for name, nb in job.spec.notebooks.items() if nb.judge
    }
    config.Application.log_level = "WARNING"
    return config


def grade_job(job: Job) -> JobResult:
    """Grade one job in this process (see the module's docstring); never raises."""
    started = time.perf_counter()
    phases.take()
    spec = job.spec
    results: dict[str, NotebookResult] = {}
    gradable: dict[str, bytes] = {}
    with phases.timed("integrity check"):
        for name in spec.notebooks:
            data = job.files.get(f"{name}.ipynb")
            verdict = check_notebook(name, data, spec)
            if verdict.problem:
                results[name] = NotebookResult(name, "error", verdict.problem)
            else:
                results[name] = NotebookResult(name, "graded", notes=verdict.notes, attempted=True)
                gradable[name] = verdict.data or data
    log = ""
    if gradable:
        log = _run_nbgrader(job, gradable, results)
    ordered = [results[name] for name in spec.notebooks]
    seconds = time.perf_counter() - started
    phases.record(
        student=job.student,
        assignment=job.assignment,
        notebooks=len(gradable),
        seconds=seconds,
        pid=os.getpid(),
        phases=phases.take(),
    )
    return JobResult(job.student, job.assignment, ordered, seconds, log)


def _run_nbgrader(job: Job, gradable: dict[str, bytes], results: dict[str, NotebookResult]) -> str:
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    staged = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="grade-"))
    private = _private_folder()
    if os.path.lexists(private):
        _remove(private)
    private.mkdir(mode=0o700)
    try:
        root, home = scratch / "course", scratch / "home"
        submitted = root / "submitted" / PLACEHOLDER_STUDENT / job.assignment
        submitted.mkdir(parents=True)
        (root / "source" / job.assignment).mkdir(parents=True)
        home.mkdir()
        for rel, data in job.files.items():
            if rel.endswith(".ipynb") and Path(rel).stem in job.spec.notebooks:
                if Path(rel).stem not in gradable:
                    continue  # unreadable or foreign: not staged, nbgrader scores it as missing
                data = gradable[Path(rel).stem]
            target = (submitted / rel).resolve()
            if submitted.resolve() not in target.parents:
                continue  # a path escaping the submission folder
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for rel, data in job.spec.extra_files.items():
            target = root / "source" / job.assignment / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if job.timestamp:
            (submitted / "timestamp.txt").write_text(job.timestamp)
        db = private / "gradebook.db"
        db.write_bytes(job.gradebook)
        config = _config(job, root, db, home)
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = job.assignment
        coursedir.student_id = PLACEHOLDER_STUDENT
        app = _sandboxed_autograde(private)(coursedir=coursedir, config=config)
        app.force = True
        app.create_student = True
        logging.getLogger("traitlets").setLevel(logging.ERROR)
        from .sandbox.kernel import take_peak_mb, take_stopped

        take_stopped()
        take_peak_mb()
        phases.add("staging", time.perf_counter() - staged)
        with phases.timed("nbgrader (total)"):
            outcome = capture_log(app)
        log = "\n".join(str(outcome.get(k) or "") for k in ("log", "error"))
        seen = take_stopped()  # what the sandbox's cgroups and exit codes say stopped it
        peak = take_peak_mb()
        limits = _limits(job)
        out_dir = root / "autograded" / PLACEHOLDER_STUDENT / job.assignment
        for name in gradable:
            results[name].peak_mb = peak
            text = _read_back(out_dir / f"{name}.ipynb") if outcome["success"] else None
            if text is not None:
                results[name].autograded = text
                named = {x.split(" (")[0] for x in seen}
                stopped = seen + [x for x in what_stopped(text) if x not in named]
                if stopped:
                    stopped = label_stops(stopped, limits)
                    results[name].notes.append(f"the sandbox stopped: {', '.join(stopped)}")
                refused = judge_stopped(text)
                if refused:
                    results[name].notes.append(refused)
            else:
                results[name].status = "error"
                results[name].reason = _failure_reason(log, seen, limits["timeout"])
                if seen:
                    results[name].reason += f" (the sandbox stopped: {', '.join(seen)})"
        return log
    except Exception as exc:  # noqa: BLE001 - a job never raises: it reports
        for name in gradable:
            results[name].status = "error"
            results[name].reason = f"the grader failed: {type(exc).__name__}: {exc}"[:300]
        return repr(exc)
    finally:
        with phases.timed("cleanup"):
            _remove(scratch)
            _remove(private)


def _limits(job: Job) -> dict:
    """The values of the limits a job's kernels run under, for the ``reason`` column."""
    from .sandbox.bwrap import Limits

    manager = job.config.get("SandboxKernelManager", {})
    default = Limits()
    return {
        "memory_mb": manager.get("memory_mb", default.memory_mb),
        "processes": manager.get("processes", default.processes),
        "cpu_seconds": manager.get("cpu_seconds", default.cpu_seconds),
        "disk_mb": manager.get("disk_mb", default.disk_mb),
        "timeout": job.config.get("Execute", {}).get("timeout") or 30,
    }


def _read_back(path: Path) -> str | None:
    """The graded notebook nbgrader wrote, if it is a regular file of sane size (never a
    FIFO or a link), else ``None``."""
    try:
        return read_regular(path, MAX_NOTEBOOK_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


_private: tuple[int, Path] | None = None


def _private_folder() -> Path:
    """Where a job keeps its copy of the gradebook and its executed notebook: one path for
    every job of this process (so its gradebook's engine is kept: :mod:`grader.engines`),
    inside a folder made once with ``mkdtemp`` (private; removed when the process ends)."""
    global _private
    if _private is None or _private[0] != os.getpid() or not _private[1].is_dir():
        import atexit

        folder = Path(tempfile.mkdtemp(prefix="gradebook-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _private = (os.getpid(), folder)
    return _private[1] / "job"


def _remove(path: Path) -> None:
    """Delete a scratch folder, even one a notebook made read-only (nothing above ``path``
    is ever changed)."""
    top = os.fspath(path)

    def unlock(func, target, exc):
        error = exc[1] if isinstance(exc, tuple) else exc
        if isinstance(error, FileNotFoundError) or os.path.islink(target):
            return
        try:
            if os.fspath(target) != top:
                os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    key = "onexc" if sys.version_info >= (3, 12) else "onerror"
    shutil.rmtree(path, **{key: unlock})


def _sandboxed_autograde(hideout: Path):
    """nbgrader's Autograde, except that the notebook being executed is kept out of the
    kernel's folder (it holds the restored hidden tests); the kernel still runs there."""
    from nbconvert.exporters.exporter import ResourcesDict
    from nbformat import read
    from nbgrader import utils
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import BaseConverter

    class SandboxAutograde(Autograde):
        def convert_single_notebook(self, notebook_filename: str) -> None:
            self._sanitizing = True
            self._init_preprocessors()
            with phases.timed("nbgrader: restore cells"):
                BaseConverter.convert_single_notebook(self, notebook_filename)
            built = os.path.join(self.writer.build_directory, os.path.basename(notebook_filename))
            hidden = hideout / os.path.basename(built)
            shutil.move(built, hidden)
            self._sanitizing = False
            self._init_preprocessors()
            try:
                resources = self.init_single_notebook_resources(built)
                resources["metadata"] = ResourcesDict(
                    name=Path(built).stem, path=os.path.dirname(built)
                )
                nb = read(str(hidden), as_version=4)
                with (
                    utils.setenv(NBGRADER_EXECUTION="autograde"),
                    phases.timed("nbgrader: execute and score"),
                ):
                    output, resources = self.exporter.from_notebook_node(nb, resources=resources)
                with phases.timed("nbgrader: write"):
                    self.write_single_notebook(output, resources)
            finally:
                self._sanitizing = True

    return SandboxAutograde
