"""``python -m grader autograde``: grade a folder of submissions with nbgrader, into a CSV.

SUBMISSIONS is laid out as nbgrader's ``submitted/`` folder:
``<student_id>/<assignment>/<notebook>.ipynb``. Every expected notebook of every student
gets exactly one row, ``graded`` with its score or ``error`` with a reason an instructor
can act on; a broken or hostile submission never stops the batch.

The grading itself is nbgrader's own ``Autograde`` converter (locked cells restored from
the gradebook, deleted test cells re-inserted, hidden tests run), one job per student and
assignment, run in parallel worker processes (:mod:`grader.pool`) inside a sandbox
(:mod:`grader.sandbox`). Only this process writes the gradebook (:mod:`grader.gradebook`),
so formgrader and manual grading keep working on the results.
"""

from __future__ import annotations

import csv
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .course import ASSIGNMENT_RE, Course, GraderError
from .integrity import AssignmentSpec, notebook_spec

__all__ = ["BASE_COLUMNS", "DEFAULT_MEMORY_MB", "GradeRow", "autograde", "read_csv", "write_csv"]

log = logging.getLogger(__name__)

DEFAULT_MEMORY_MB = 4096
"""Address-space limit of each student's kernel (MiB)."""

MAX_FILE_BYTES = 50 * 2**20
"""Submitted files (other than notebooks) larger than this are not sent to the workers."""

BASE_COLUMNS = ["student_id", "assignment", "notebook", "score", "max_score", "status", "reason"]


@dataclass
class GradeRow:
    """One student's result for one notebook."""

    student_id: str
    assignment: str
    notebook: str
    score: float
    max_score: float
    status: str  # "graded" or "error"
    reason: str = ""
    exercises: dict[str, float] = field(default_factory=dict)  # "ex1" -> points scored
    seconds: float | None = None  # time spent grading this notebook


def _exercise_key(name: str) -> tuple[int, str]:
    digits = name[2:]
    return (int(digits), name) if name.startswith("ex") and digits.isdigit() else (10**6, name)


def write_csv(rows: list[GradeRow], path: Path) -> None:
    """Write ``rows`` as CSV: the base columns, one column per exercise, then ``seconds``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exercises = sorted({key for row in rows for key in row.exercises}, key=_exercise_key)
    timed = any(row.seconds is not None for row in rows)
    columns = BASE_COLUMNS + exercises + (["seconds"] if timed else [])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            record = {name: getattr(row, name) for name in BASE_COLUMNS}
            record.update({key: f"{value:g}" for key, value in row.exercises.items()})
            if timed:
                record["seconds"] = "" if row.seconds is None else f"{row.seconds:.2f}"
            writer.writerow(record)


def read_csv(path: Path) -> list[GradeRow]:
    """Read rows written by :func:`write_csv`."""
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            base = {name: record.pop(name) for name in BASE_COLUMNS}
            seconds = record.pop("seconds", "") or None
            rows.append(
                GradeRow(
                    **{
                        **base,
                        "score": float(base["score"]),
                        "max_score": float(base["max_score"]),
                    },
                    exercises={k: float(v) for k, v in record.items() if v not in ("", None)},
                    seconds=float(seconds) if seconds is not None else None,
                )
            )
    return rows


def assignment_spec(course: Course, assignment: str) -> AssignmentSpec:
    """What a worker needs to know about ``assignment``, read from the course's files."""
    notebooks = {
        source.stem: notebook_spec(course.student_notebook(assignment, source.stem), source)
        for source in course.source_notebooks(assignment)
    }
    others = {}
    for other in course.assignments():
        if other != assignment:
            others[other] = {
                gid
                for source in course.source_notebooks(other)
                for gid in notebook_spec(source, source).cell_ids
            }
    folder = course.source_dir / assignment
    extra = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix != ".ipynb"
        and not {".ipynb_checkpoints", "__pycache__"} & set(p.relative_to(folder).parts)
    }
    return AssignmentSpec(assignment, notebooks, others, extra)


def _worker_config(config, timeout: float | None, memory_mb: int, network: str) -> dict:
    """The part of nbgrader's settings a worker needs, as plain dictionaries."""
    plain: dict[str, dict] = {}
    for section in (
        "Execute",
        "ExecutePreprocessor",
        "LimitOutput",
        "ClearOutput",
        "IgnorePattern",
    ):
        if section in config:
            plain[section] = dict(config[section])
    course = config.get("CourseDirectory", {})
    plain["CourseDirectory"] = {k: course[k] for k in ("course_id", "ignore") if k in course}
    if timeout is not None:
        plain.setdefault("Execute", {})["timeout"] = max(1, round(timeout))
    plain["SandboxKernelManager"] = {"memory_mb": int(memory_mb), "network": network}
    return plain


def autograde(
    course: Course,
    submissions: Path,
    *,
    workdir: Path | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    network: str = "loopback",
    dask: str | None = None,
    progress: bool = False,
) -> list[GradeRow]:
    """Autograde every student and notebook under ``submissions``; return one row each.

    ``workdir`` receives nbgrader's ``submitted/`` (a staged copy), ``autograded/`` and the
    gradebook (default: the course root, as nbgrader itself does). ``jobs`` worker
    processes (default: one per core), or the Dask scheduler at ``dask``; ``timeout`` is
    the per-cell limit in seconds (default: ``Execute.timeout`` from nbgrader_config.py).
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .gradebook import record_assignments, record_result
    from .pool import make_pool
    from .progress import Progress
    from .worker import Job

    submissions = submissions.resolve()
    if not submissions.is_dir():
        raise GraderError(f"No submissions folder at {submissions}.")
    work = (workdir or course.root).resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = work / "gradebook.db"
    db_url = f"sqlite:///{db}"
    config = course.nbgrader_config(
        root=work,
        submitted_directory=work / "submitted",
        autograded_directory=work / "autograded",
        feedback_directory=work / "feedback",
        db_url=db_url,
    )
    known = set(course.assignments())
    rows: list[GradeRow] = []
    found: list[tuple[str, str, Path]] = []
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            student, assignment = student_dir.name, assignment_dir.name
            if assignment in known:
                found.append((student, assignment, assignment_dir))
            elif ASSIGNMENT_RE.match(assignment):
                log.warning("skipping %s/%s: not an assignment of this course", student, assignment)
                reason = f"unknown assignment {assignment!r}"
                rows.append(GradeRow(student, assignment, "", 0.0, 0.0, "error", reason))
    if not found:
        return rows

    needed = sorted({assignment for _, assignment, _ in found})
    template = record_assignments(NbGraderAPI(config=config), needed, work, db)
    specs = {assignment: assignment_spec(course, assignment) for assignment in needed}
    plain = _worker_config(config, timeout, memory_mb, network)
    cell_timeout = float(plain.get("Execute", {}).get("timeout") or 30)
    coursedir = CourseDirectory(config=config)
    job_list, timestamps = [], {}
    for student, assignment, folder in found:
        staged = work / "submitted" / student / assignment
        if staged.resolve() != folder.resolve():
            shutil.rmtree(staged, ignore_errors=True)
            shutil.copytree(folder, staged)
        files = {
            str(p.relative_to(folder)): p.read_bytes()
            for p in folder.rglob("*")
            if p.is_file() and (p.suffix == ".ipynb" or p.stat().st_size <= MAX_FILE_BYTES)
        }
        stamp = files.pop("timestamp.txt", b"").decode("utf-8", "replace").strip() or None
        timestamps[(student, assignment)] = coursedir.get_existing_timestamp(str(folder))
        job_list.append(Job(student, assignment, files, specs[assignment], template, plain, stamp))

    bar = Progress(len(job_list), label="grading ") if progress else None
    results = {}
    for result in make_pool(jobs, dask).run(job_list, lambda job: job.time_limit(cell_timeout)):
        key = (result.student, result.assignment)
        record_result(db_url, config, result, work, timestamps.get(key))
        results[key] = result
        if bar:
            errors = sum(nb.status == "error" for nb in result.notebooks)
            bar.advance(
                note=f"{result.student}/{result.assignment}" + (" (error)" if errors else "")
            )
    rows.extend(_rows(db_url, specs, job_list, results))
    rows.sort(key=lambda r: (r.student_id, r.assignment, r.notebook))
    return rows


def _rows(db_url: str, specs, job_list, results) -> list[GradeRow]:
    """One row per notebook of each job, scores read back from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    from .gradebook import scores

    rows: list[GradeRow] = []
    with Gradebook(db_url) as gb:
        for job in job_list:
            result = results[job.key]
            share = result.seconds / max(1, len(result.notebooks))
            for nb in result.notebooks:
                points = specs[job.assignment].notebooks[nb.name].points
                row = GradeRow(job.student, job.assignment, nb.name, 0.0, points, nb.status)
                row.seconds = share
                notes = list(nb.notes)
                if nb.status == "graded":
                    try:
                        score, top, pending, exercises = scores(
                            gb, nb.name, job.assignment, job.student
                        )
                    except MissingEntry:
                        row.status, row.reason = (
                            "error",
                            "nbgrader recorded no grade for this notebook",
                        )
                        rows.append(row)
                        continue
                    row.score, row.max_score, row.exercises = score, top, exercises
                    if pending:
                        notes.append(f"{pending:g} point(s) await manual grading")
                else:
                    notes.insert(0, nb.reason)
                row.reason = "; ".join(n for n in notes if n)
                rows.append(row)
    return rows
