"""``python -m grader autograde``: grade a folder of submissions with nbgrader, into a CSV.

SUBMISSIONS is laid out as nbgrader's ``submitted/`` folder:
``<student_id>/<assignment>/<notebook>.ipynb``. Every expected notebook of every student
gets exactly one row, ``graded`` with its score or ``error`` with a reason an instructor
can act on; a broken submission never stops the batch.

The grading itself is nbgrader's own ``autograde`` (locked cells restored from the
gradebook, hidden tests run, scores recorded in the gradebook), so formgrader and
manual grading keep working on the results.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError

from .course import ASSIGNMENT_RE, Course, GraderError, notebook_points

__all__ = ["GradeRow", "autograde", "read_csv", "write_csv"]

log = logging.getLogger(__name__)


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


def write_csv(rows: list[GradeRow], path: Path) -> None:
    """Write ``rows`` as CSV with the columns of :class:`GradeRow`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(GradeRow)])
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def read_csv(path: Path) -> list[GradeRow]:
    """Read rows written by :func:`write_csv`."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            GradeRow(**{**r, "score": float(r["score"]), "max_score": float(r["max_score"])})
            for r in csv.DictReader(handle)
        ]


def _check_notebook(path: Path) -> str | None:
    """Why ``path`` cannot be graded, or ``None`` if it is a readable notebook."""
    if not path.is_file():
        return f"missing notebook {path.name}"
    if path.stat().st_size == 0:
        return f"{path.name} is an empty file"
    try:
        nb = nbformat.read(path, as_version=4)
    except (NotJSONError, json.JSONDecodeError, UnicodeDecodeError):
        return f"{path.name} is not valid JSON: re-download the notebook and resubmit"
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        return f"{path.name} is not a readable notebook ({type(exc).__name__}: {exc})"
    if not isinstance(nb.get("cells"), list):
        return f"{path.name} has no cells"
    return None


def _summarise_failure(result: dict) -> str:
    """The most useful line of nbgrader's captured log for a failed autograde."""
    text = "\n".join(str(result.get(k) or "") for k in ("log", "error"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    chosen = (errors or lines or ["nbgrader autograde failed without a message"])[-1]
    return chosen[:300]


def autograde(
    course: Course,
    submissions: Path,
    *,
    workdir: Path | None = None,
) -> list[GradeRow]:
    """Autograde every student and notebook under ``submissions``; return one row each.

    ``workdir`` receives nbgrader's ``autograded/`` folder, a staged copy of the
    submissions and the gradebook (default: the course root, as nbgrader itself does).
    """
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps import NbGraderAPI

    submissions = submissions.resolve()
    if not submissions.is_dir():
        raise GraderError(f"No submissions folder at {submissions}.")
    work = (workdir or course.root).resolve()
    work.mkdir(parents=True, exist_ok=True)
    staged = work / "submitted"
    db_url = f"sqlite:///{work / 'gradebook.db'}"
    config = course.nbgrader_config(
        root=work,
        submitted_directory=staged,
        autograded_directory=work / "autograded",
        feedback_directory=work / "feedback",
        db_url=db_url,
    )
    api = NbGraderAPI(config=config)
    known = set(course.assignments())
    rows: list[GradeRow] = []
    prepared: set[str] = set()

    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        student = student_dir.name
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            assignment = assignment_dir.name
            if assignment not in known:
                log.warning("skipping %s/%s: not an assignment of this course", student, assignment)
                if ASSIGNMENT_RE.match(assignment):
                    rows.append(
                        GradeRow(
                            student,
                            assignment,
                            "",
                            0.0,
                            0.0,
                            "error",
                            f"unknown assignment {assignment!r}",
                        )
                    )
                continue
            if assignment not in prepared:
                _record_assignment(api, course, assignment, work)
                prepared.add(assignment)
            rows.extend(_grade_one(api, course, student, assignment, assignment_dir, staged))

    with Gradebook(db_url) as gradebook:
        for row in rows:
            if row.status != "graded":
                continue
            try:
                graded = gradebook.find_submission_notebook(
                    row.notebook, row.assignment, row.student_id
                )
            except MissingEntry:
                row.status, row.reason = "error", "nbgrader recorded no grade for this notebook"
                continue
            row.score, row.max_score = float(graded.score), float(graded.max_score)
            pending = sum(
                float(g.max_score)
                for g in graded.grades
                if g.auto_score is None and g.manual_score is None
            )
            if pending:
                row.reason = f"{pending:g} point(s) await manual grading"
    return rows


def _record_assignment(api, course: Course, assignment: str, work: Path) -> None:
    from nbgrader.utils import temp_attrs

    """Make sure the gradebook knows ``assignment`` (its cells, points and checksums)."""
    release_dir = work / ".release"
    with temp_attrs(api.coursedir, release_directory=str(release_dir)):
        result = api.generate_assignment(assignment, force=True, create=True)
    shutil.rmtree(release_dir, ignore_errors=True)
    if not result["success"]:
        raise GraderError(
            f"Could not record {assignment} in the gradebook: {_summarise_failure(result)}"
        )


def _grade_one(api, course: Course, student: str, assignment: str, folder: Path, staged: Path):
    """Stage one student's assignment, run nbgrader autograde on it, return provisional rows."""
    max_points = {p.stem: notebook_points(p) for p in course.source_notebooks(assignment)}
    target = staged / student / assignment
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    rows: list[GradeRow] = []
    gradable: list[str] = []
    for name, points in max_points.items():
        problem = _check_notebook(folder / f"{name}.ipynb")
        if problem:
            rows.append(GradeRow(student, assignment, name, 0.0, points, "error", problem))
        else:
            shutil.copy2(folder / f"{name}.ipynb", target / f"{name}.ipynb")
            gradable.append(name)
    if not gradable:
        return rows
    result = api.autograde(assignment, student, force=True, create=True)
    status, reason = ("graded", "") if result["success"] else ("error", _summarise_failure(result))
    rows.extend(
        GradeRow(student, assignment, name, 0.0, max_points[name], status, reason)
        for name in gradable
    )
    return rows
