"""The course's gradebook, written by the parent process only (SQLite has one writer).

* :func:`record_assignments` records each assignment as ``nbgrader generate_assignment``
  does, and returns a *template*: a copy of the gradebook holding the assignments and no
  student, which every worker grades against privately.
* :func:`record_result` writes one worker result the way ``nbgrader autograde`` would:
  student, submission (with its timestamp), zero for notebooks not submitted, then
  nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties`` on each autograded
  notebook, which is also saved under ``autograded/`` for formgrader.

Scores are read back by :mod:`grader.results`.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import nbformat

from .course import GraderError
from .ledger import LEDGER_TABLES
from .worker import JobResult

__all__ = ["record_assignments", "record_result"]


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
        else:
            gb.update_or_create_submission(assignment, student)
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
        node, resources = SaveAutoGrades(config=config).preprocess(node, resources)
        node, resources = AssignLatePenalties(config=config).preprocess(node, resources)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{nb.name}.ipynb"
        nbformat.write(node, path)
        path.chmod(0o444)
