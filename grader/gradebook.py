"""The course's gradebook, written by the parent process only (SQLite has one writer).

* :func:`record_assignments` records each assignment as ``nbgrader generate_assignment``
  does, and returns a *template*: a copy of the gradebook holding the assignments and no
  student, which every worker grades against privately.
* :func:`record_result` writes one worker result the way ``nbgrader autograde`` would:
  student, submission (with the time it was received, from :mod:`grader.records.receipts`, or
  none when unverified: never the student's ``timestamp.txt``), zero for notebooks not submitted, then
  nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties`` on each autograded
  notebook, which is also saved under ``autograded/`` for formgrader.

Nothing in an autograded notebook is trusted for the score: before nbgrader's
``SaveAutoGrades`` each graded cell's ``points`` is reset from the gradebook (which holds
the points of the source notebooks), and afterwards every automatic score is clamped to
``[0, the cell's maximum]`` (:func:`clamp_score`), so a notebook forged in a sandbox that
claims ``points: 100`` still scores at most the cell's points.

Scores are read back by :mod:`grader.records.results`.
"""

from __future__ import annotations

import math
import shutil
import sqlite3
import tempfile
from pathlib import Path

import nbformat

from .course import GraderError
from .records.ledger import LEDGER_TABLES
from .worker import JobResult

__all__ = ["clamp_score", "record_assignments", "record_result"]


def clamp_score(score: float | None, maximum: float) -> float | None:
    """``score`` within ``[0, maximum]`` (``None``, awaiting manual grading, stays ``None``;
    a score that is not a finite number counts as 0)."""
    if score is None:
        return None
    try:
        value = float(score)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(value):
        return 0.0
    return min(max(value, 0.0), max(float(maximum), 0.0))


def _maxima(db_url: str, assignment: str, notebook: str) -> dict[str, float]:
    """Each graded cell's points, as the gradebook holds them (from the source notebook)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        return {cell.name: float(cell.max_score or 0.0) for cell in nb.grade_cells}


def _distrust(node, maxima: dict[str, float]) -> None:
    """Reset the ``points`` of each graded cell of ``node`` from the gradebook, and clamp a
    numeric result (nbgrader's partial credit) to them; a graded cell the gradebook does
    not know loses its grade flag."""
    for cell in node.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if not isinstance(meta, dict) or not meta.get("grade"):
            continue
        name = meta.get("grade_id")
        if name not in maxima:
            meta["grade"] = False
            continue
        meta["points"] = maxima[name]
        for out in cell.get("outputs", []) or []:  # a partial credit beyond the points
            data = out.get("data") or {}
            if out.get("output_type") == "execute_result" and "text/plain" in data:
                try:
                    value = float(str(data["text/plain"]))
                except ValueError:
                    continue
                data["text/plain"] = repr(clamp_score(value, maxima[name]))


def _clamp_saved(db_url: str, assignment: str, notebook: str, student: str) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        submission = gb.find_submission_notebook(notebook, assignment, student)
        for grade in submission.grades:
            grade.auto_score = clamp_score(grade.auto_score, grade.max_score)
        gb.db.commit()


def record_assignments(api, assignments: list[str], work: Path, db: Path) -> bytes:
    """Record ``assignments`` in the gradebook at ``db``; return a student-free copy of it."""
    from nbgrader.utils import temp_attrs

    release_dir = work / ".release"
    for assignment in assignments:
        with temp_attrs(api.coursedir, release_directory=str(release_dir)):
            result = api.generate_assignment(assignment, force=True, create=True)
        shutil.rmtree(release_dir, ignore_errors=True)
        if not result["success"]:
            details = "\n".join(str(result.get(k) or "") for k in ("log", "error")).strip()
            raise GraderError(f"Could not record {assignment} in the gradebook: {details[-500:]}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "template.db"
        source = sqlite3.connect(db)
        target = sqlite3.connect(copy)
        with target:
            source.backup(target)
        source.close()
        with target:
            # Workers see the assignments, never another student's name or grades.
            tables = [
                r[0] for r in target.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in (
                "comment",
                "grade",
                "submitted_notebook",
                "submitted_assignment",
                "student",
                *LEDGER_TABLES,
            ):
                if table in tables:
                    target.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        target.execute("VACUUM")
        target.close()
        return copy.read_bytes()


def record_result(
    db_url: str,
    config,
    result: JobResult,
    work: Path,
    timestamp=None,
) -> None:
    """Write one job's result into the gradebook and ``work/autograded`` (see the module)."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    student, assignment = result.student, result.assignment
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        if timestamp:
            gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:  # no trustworthy time: none, never an earlier one or the student's word
            submission = gb.update_or_create_submission(assignment, student)
            if submission.timestamp is not None:
                submission.timestamp = None
                gb.db.commit()
        for nb in result.notebooks:
            if not nb.attempted:  # not submitted or not a notebook: zero, as nbgrader does
                submission = gb.find_submission_notebook(nb.name, assignment, student)
                for grade in submission.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                gb.db.commit()
    out_dir = work / "autograded" / student / assignment
    shutil.rmtree(out_dir, ignore_errors=True)
    for nb in result.notebooks:
        if nb.autograded is None:
            continue
        node = nbformat.reads(nb.autograded, as_version=4)
        resources = {
            "nbgrader": {
                "student": student,
                "assignment": assignment,
                "notebook": nb.name,
                "db_url": db_url,
            }
        }
        _distrust(node, _maxima(db_url, assignment, nb.name))
        node, resources = SaveAutoGrades(config=config).preprocess(node, resources)
        _clamp_saved(db_url, assignment, nb.name, student)
        node, resources = AssignLatePenalties(config=config).preprocess(node, resources)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{nb.name}.ipynb"
        nbformat.write(node, path)
        path.chmod(0o444)
