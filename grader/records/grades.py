"""``grades.csv``: one :class:`GradeRow` per student and notebook, written and read back.

The row is what ``grader`` knows of a graded notebook (score, reason, points per exercise,
seconds, points awaiting a manual grade, when it was received); ``autograde`` writes the
class's rows, ``report`` and ``export`` read them (:mod:`grader.records.results` makes them
from the gradebook as it stands).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BASE_COLUMNS",
    "TIME_UNVERIFIED",
    "UNSANDBOXED_NOTE",
    "GradeRow",
    "read_csv",
    "write_csv",
]

TIME_UNVERIFIED = "time unverified"
"""What the CSVs and the report say where no record the student does not write gives the
time a submission was received (its ``timestamp.txt`` is the student's word, never used)."""

UNSANDBOXED_NOTE = "graded WITHOUT the OS sandbox (--no-sandbox): trusted work only"
"""The note on every row graded with ``sandbox=False``."""

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
    pending: float = 0.0  # points still to be graded by hand (not part of score)
    submitted: str = ""  # when it was received (ISO 8601, UTC), from a record the student
    # does not write; "" when there is none: the time is unverified


def _exercise_key(name: str) -> tuple[int, str]:
    digits = name[2:]
    return (int(digits), name) if name.startswith("ex") and digits.isdigit() else (10**6, name)


def write_csv(rows: list[GradeRow], path: Path) -> None:
    """Write ``rows`` as CSV: the base columns, ``pending`` (when any row has points awaiting
    manual grading), one column per exercise, then ``seconds``; ``sandbox`` (``off``
    on each row graded with ``--no-sandbox``) when any row was; last ``submitted``: when
    the submission was received, or ``time unverified``. No cell is a spreadsheet formula
    (:mod:`grader.records.safecsv`)."""
    from .safecsv import write_rows

    exercises = sorted({key for row in rows for key in row.exercises}, key=_exercise_key)
    timed = any(row.seconds is not None for row in rows)
    pending = any(row.pending for row in rows)
    unsandboxed = any(UNSANDBOXED_NOTE in row.reason for row in rows)
    columns = BASE_COLUMNS + (["pending"] if pending else []) + exercises
    columns += ["seconds"] if timed else []
    columns += ["sandbox"] if unsandboxed else []
    columns += ["submitted"]
    records = []
    for row in rows:
        record = {name: getattr(row, name) for name in BASE_COLUMNS}
        record.update({key: f"{value:g}" for key, value in row.exercises.items()})
        if pending:
            record["pending"] = f"{row.pending:g}"
        if timed:
            record["seconds"] = "" if row.seconds is None else f"{row.seconds:.2f}"
        if unsandboxed:
            record["sandbox"] = "off" if UNSANDBOXED_NOTE in row.reason else "on"
        record["submitted"] = row.submitted or TIME_UNVERIFIED
        records.append([record.get(name, "") for name in columns])
    write_rows(path, [columns, *records])


def read_csv(path: Path) -> list[GradeRow]:
    """Read rows written by :func:`write_csv` (cells unescaped: ``=2+3`` again)."""
    from .safecsv import read_rows

    rows = []
    for record in read_rows(path):
        base = {name: record.pop(name) for name in BASE_COLUMNS}
        seconds = record.pop("seconds", "") or None
        record.pop("sandbox", None)
        pending = record.pop("pending", "") or "0"
        submitted = record.pop("submitted", "")
        rows.append(
            GradeRow(
                **{
                    **base,
                    "score": float(base["score"]),
                    "max_score": float(base["max_score"]),
                },
                exercises={k: float(v) for k, v in record.items() if v not in ("", None)},
                seconds=float(seconds) if seconds is not None else None,
                pending=float(pending),
                submitted="" if submitted == TIME_UNVERIFIED else submitted,
            )
        )
    return rows
