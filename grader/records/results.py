"""The class's results as they stand, read from ``gradebook.db`` through nbgrader's API.

Every score comes from nbgrader's own tables (``Grade.auto_score``, ``manual_score``,
``extra_credit``; the same ``Grade.score`` formgrader shows), so a written answer graded in
formgrader, or a comment typed there, reaches ``grades.csv``, the report and the export at
once, without autograding again. What nbgrader cannot tell (a submission that could not be
graded, and why; the seconds spent) comes from :mod:`grader.records.ledger`.

A grade is *pending* while it has neither an automatic nor a manual score: its points are
still to be graded by hand. Pending points are not part of ``score``, and they are reported
beside it rather than as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..authoring.lint import GRADE_ID_RE
from .grades import GradeRow
from .ledger import Ledger

__all__ = ["CellGrade", "NotebookGrades", "class_rows", "notebook_grades", "pending_note"]


@dataclass
class CellGrade:
    """One graded cell of one submitted notebook."""

    name: str  # the cell's grade_id
    score: float | None  # None while pending
    max_score: float
    comment: str = ""  # the manual grader's comment ("" when none)

    @property
    def pending(self) -> bool:
        """True while the cell awaits a grade by hand."""
        return self.score is None


@dataclass
class NotebookGrades:
    """Scores of one submitted notebook, summed from its cells."""

    student: str
    assignment: str
    notebook: str
    cells: list[CellGrade] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Points given so far (automatic and manual, extra credit included)."""
        return sum(c.score or 0.0 for c in self.cells)

    @property
    def max_score(self) -> float:
        """The notebook's points."""
        return sum(c.max_score for c in self.cells)

    @property
    def pending(self) -> float:
        """Points still to be graded by hand."""
        return sum(c.max_score for c in self.cells if c.pending)

    def exercises(self) -> dict[str, float]:
        """``{"ex1": points given, ...}`` (cells outside the naming scheme under ``other``)."""
        found: dict[str, float] = {}
        for cell in self.cells:
            match = GRADE_ID_RE.match(cell.name)
            key = f"ex{match.group(1)}" if match else "other"
            found[key] = found.get(key, 0.0) + (cell.score or 0.0)
        return found


def pending_note(points: float) -> str:
    """The reason text for points awaiting manual grading."""
    return f"{points:g} point(s) await manual grading"


def _db_url(db: Path) -> str:
    return f"sqlite:///{db}"


def notebook_grades(db: Path) -> dict[tuple[str, str, str], NotebookGrades]:
    """Every submitted notebook in the gradebook at ``db``, keyed (student, assignment, notebook).

    One query over nbgrader's ORM classes for the grades and one for the comments, so a class
    of hundreds reads in well under a second.
    """
    from nbgrader.api import (
        Assignment,
        BaseCell,
        Comment,
        Grade,
        Gradebook,
        Notebook,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    found: dict[tuple[str, str, str], NotebookGrades] = {}
    if not db.is_file():
        return found
    with Gradebook(_db_url(db)) as gb:

        def joined(query):
            return (
                query.join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
                .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                .join(
                    SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id
                )
                .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                .join(Student, Student.id == SubmittedAssignment.student_id)
                .join(BaseCell, BaseCell.id == Grade.cell_id)
            )

        grades = joined(
            gb.db.query(
                Student.id,
                Assignment.name,
                Notebook.name,
                BaseCell.name,
                Grade.auto_score,
                Grade.manual_score,
                Grade.score,
                Grade.max_score,
            )
        ).all()
        comments = (
            gb.db.query(
                Student.id, Assignment.name, Notebook.name, BaseCell.name, Comment.manual_comment
            )
            .join(SubmittedNotebook, SubmittedNotebook.id == Comment.notebook_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
            .join(Student, Student.id == SubmittedAssignment.student_id)
            .join(BaseCell, BaseCell.id == Comment.cell_id)
            .filter(Comment.manual_comment.isnot(None))
            .all()
        )
        notebooks = (
            gb.db.query(Student.id, Assignment.name, Notebook.name)
            .select_from(SubmittedNotebook)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
            .join(Student, Student.id == SubmittedAssignment.student_id)
            .all()
        )
    said = {(s, a, n, c): text for s, a, n, c, text in comments if text and text.strip()}
    for student, assignment, notebook in notebooks:
        found[(student, assignment, notebook)] = NotebookGrades(student, assignment, notebook)
    for student, assignment, notebook, cell, auto, manual, score, top in grades:
        key = (student, assignment, notebook)
        pending = auto is None and manual is None
        found[key].cells.append(
            CellGrade(
                cell,
                None if pending else float(score),
                float(top or 0.0),
                said.get((*key, cell), ""),
            )
        )
    for item in found.values():
        item.cells.sort(key=lambda c: c.name)
    return found


def class_rows(work: Path) -> list[GradeRow]:
    """One row per student and notebook known in ``work/gradebook.db``, as they stand now.

    Rows are sorted by student, assignment and notebook; ``status`` and ``reason`` come from
    the ledger (``graded`` with no reason for a notebook graded by other means, such as
    plain ``nbgrader autograde``); pending points are named in ``reason`` and ``pending``;
    ``submitted`` is when the submission was received, "" when unverified.
    """
    db = work / "gradebook.db"
    grades = notebook_grades(db)
    ledger = Ledger(db)
    outcomes = ledger.outcomes()
    times = ledger.times()
    rows: list[GradeRow] = []
    for key in sorted(set(grades) | set(outcomes)):
        student, assignment, notebook = key
        outcome = outcomes.get(key)
        graded = grades.get(key)
        row = GradeRow(student, assignment, notebook, 0.0, 0.0, "graded")
        row.submitted = (times.get((student, assignment)) or ("", ""))[0] or ""
        if graded is not None:
            row.max_score = graded.max_score
        if outcome is not None:
            row.status, row.reason, row.seconds = outcome.status, outcome.reason, outcome.seconds
        if row.status == "graded" and graded is None:
            row.status, row.reason = "error", "nbgrader recorded no grade for this notebook"
        if row.status == "graded" and graded is not None:
            row.score, row.exercises, row.pending = (
                graded.score,
                graded.exercises(),
                graded.pending,
            )
            if graded.pending:
                row.reason = "; ".join(x for x in (row.reason, pending_note(graded.pending)) if x)
        rows.append(row)
    return rows
