"""``python -m grader export``: the class's grades as one wide CSV an LMS gradebook imports.

One row per student, one column per assignment (points, as in the gradebook now: manual
grades included), then ``total``; a second header-like row is not written, so any LMS
that maps columns by name (Canvas, Moodle, Blackboard) can import it. The maximum of each
column is written to a sibling file, ``<name>.max.csv``, for setting up the LMS columns.

What a cell holds:

* the points given, when the submission is fully graded (a broken submission is graded 0);
* empty while points are still to be graded by hand, so the LMS shows "not graded yet"
  rather than a wrong number (``--pending partial`` writes the points so far instead);
* ``0`` when the student submitted nothing for an assignment others submitted.

``total`` is empty when any of the student's cells is.

The last column, ``time_unverified``, names the student's assignments whose time of
submission comes from no record the student does not write (see :mod:`grader.records.receipts`):
their late penalties, if any, are not to be trusted. Every cell is escaped against
spreadsheet formulas (:mod:`grader.records.safecsv`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .grades import GradeRow

__all__ = ["PENDING_CHOICES", "UNVERIFIED_COLUMN", "ExportSummary", "export_grades", "wide_table"]

UNVERIFIED_COLUMN = "time_unverified"
"""The last column: the student's assignments whose time of submission no record the student
does not write gives (``; ``-separated; empty when every time is verified)."""

PENDING_CHOICES = ("blank", "partial")
"""How a cell with points still to be graded by hand is written."""


@dataclass
class ExportSummary:
    """What was exported: the CSV, its students and assignments, the cells left empty."""

    path: Path
    maxima: Path
    students: int
    assignments: list[str]
    pending: list[tuple[str, str, float]] = field(default_factory=list)  # student, assignment, pts
    unverified: list[tuple[str, str]] = field(default_factory=list)  # student, assignment


def wide_table(
    rows: list[GradeRow], pending: str = "blank"
) -> tuple[list[str], list[dict[str, str]], dict[str, float], list[tuple[str, str, float]]]:
    """``(columns, records, maxima, pending cells)`` of the wide table from per-notebook rows."""
    if pending not in PENDING_CHOICES:
        raise ValueError(f"pending must be one of {PENDING_CHOICES}, not {pending!r}")
    assignments = sorted({r.assignment for r in rows if r.notebook})
    sums: dict[tuple[str, str], list[float]] = {}
    maxima: dict[str, float] = {}
    per_assignment: dict[tuple[str, str], float] = {}
    for r in rows:
        if not r.notebook:  # an unknown assignment: nothing to export
            continue
        total = sums.setdefault((r.student_id, r.assignment), [0.0, 0.0])
        total[0] += r.score
        total[1] += r.pending
        per_assignment[(r.student_id, r.assignment)] = (
            per_assignment.get((r.student_id, r.assignment), 0.0) + r.max_score
        )
    for (_, assignment), top in per_assignment.items():
        maxima[assignment] = max(maxima.get(assignment, 0.0), top)
    unverified: dict[str, set[str]] = {}
    for r in rows:
        if r.notebook and not r.submitted:
            unverified.setdefault(r.student_id, set()).add(r.assignment)
    students = sorted({student for student, _ in sums})
    columns = ["student_id", *assignments, "total", UNVERIFIED_COLUMN]
    records, waiting = [], []
    for student in students:
        record = {"student_id": student}
        total, complete = 0.0, True
        for assignment in assignments:
            score, left = sums.get((student, assignment), [0.0, 0.0])
            if left:
                waiting.append((student, assignment, left))
            if left and pending == "blank":
                record[assignment] = ""
                complete = False
                continue
            record[assignment] = f"{score:g}"
            total += score
        record["total"] = f"{total:g}" if complete else ""
        record[UNVERIFIED_COLUMN] = "; ".join(sorted(unverified.get(student, ())))
        records.append(record)
    return columns, records, maxima, waiting


def export_grades(work: Path, out: Path, pending: str = "blank") -> ExportSummary:
    """Write the wide CSV of the gradebook in ``work`` to ``out`` (see the module)."""
    from .results import class_rows

    columns, records, maxima, waiting = wide_table(class_rows(work), pending)
    from .safecsv import write_rows

    write_rows(out, [columns, *([record.get(c, "") for c in columns] for record in records)])
    assignments = columns[1 : columns.index("total")]
    maxima_path = out.with_name(f"{out.stem}.max.csv")
    write_rows(
        maxima_path,
        [
            ["assignment", "max_score"],
            *([name, f"{maxima[name]:g}"] for name in assignments),
            ["total", f"{sum(maxima[n] for n in assignments):g}"],
        ],
    )
    unverified = [
        (record["student_id"], name)
        for record in records
        for name in record[UNVERIFIED_COLUMN].split("; ")
        if name
    ]
    return ExportSummary(out, maxima_path, len(records), assignments, waiting, unverified)
