"""What autograde records beside nbgrader's tables in ``gradebook.db``: hashes and outcomes.

nbgrader's gradebook holds scores and comments; it has no place for what ``grader``
needs to decide and to explain, so two tables of our own live in the same SQLite file
(nbgrader ignores tables it does not know, and deleting ``gradebook.db`` forgets both):

* ``grader_submission``: per student and assignment, the SHA-256 of the submitted files
  and of the assignment's sources at the time it was graded. A later ``autograde`` grades
  a submission again only when either hash changed (or with ``--force``).
* ``grader_outcome``: per student, assignment and notebook, ``graded`` or ``error``, the
  reason an instructor can act on, and the seconds spent, so the CSV and the report can
  cover the whole class without grading it again.
* ``grader_received``: per student and assignment, when it was received (ISO 8601 UTC, or
  NULL: *time unverified*) and where that time comes from (:mod:`grader.records.receipts`).

Only the parent process writes here, as for the rest of the gradebook.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LEDGER_TABLES", "Ledger", "Outcome", "files_hash", "folder_hash"]

LEDGER_TABLES = ("grader_submission", "grader_outcome", "grader_received")
"""The tables this module adds to the gradebook (a worker's template copy has them empty)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS grader_submission (
    student TEXT NOT NULL, assignment TEXT NOT NULL,
    submission_sha256 TEXT NOT NULL, assignment_sha256 TEXT NOT NULL,
    PRIMARY KEY (student, assignment));
CREATE TABLE IF NOT EXISTS grader_outcome (
    student TEXT NOT NULL, assignment TEXT NOT NULL, notebook TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', seconds REAL,
    PRIMARY KEY (student, assignment, notebook));
CREATE TABLE IF NOT EXISTS grader_received (
    student TEXT NOT NULL, assignment TEXT NOT NULL, time TEXT, source TEXT NOT NULL,
    PRIMARY KEY (student, assignment));
"""

_SKIPPED_PARTS = {".ipynb_checkpoints", "__pycache__"}


def files_hash(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 over ``(relative path, content)`` pairs, independent of their order."""
    digest = hashlib.sha256()
    for name, content in sorted(files):
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def folder_hash(folder: Path) -> str:
    """SHA-256 of every file under ``folder`` (names and contents; editor caches ignored).

    Files are read by :func:`grader.staging.read_submission` (no link followed, sizes
    capped); a refused file counts by its name and the reason it was refused.
    """
    from ..staging import read_submission

    staged = read_submission(folder)
    pairs = [(name, data) for name, data in staged.files.items()]
    pairs += [(name, f"refused: {why}".encode()) for name, why in staged.refused]
    return files_hash(
        (name, data) for name, data in pairs if not _SKIPPED_PARTS & set(Path(name).parts)
    )


@dataclass(frozen=True)
class Outcome:
    """How one notebook of one submission came out of autograde."""

    status: str  # "graded" or "error"
    reason: str = ""
    seconds: float | None = None


class Ledger:
    """The ``grader_*`` tables of the gradebook at ``db`` (created on first use)."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db, timeout=30)
        conn.executescript(_SCHEMA)
        return conn

    def hashes(self) -> dict[tuple[str, str], tuple[str, str]]:
        """``{(student, assignment): (submission hash, assignment hash)}`` as last graded."""
        if not self.db.is_file():
            return {}
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT student, assignment, submission_sha256, assignment_sha256 "
                "FROM grader_submission"
            ).fetchall()
        finally:
            conn.close()
        return {(s, a): (sub, asg) for s, a, sub, asg in rows}

    def outcomes(self) -> dict[tuple[str, str, str], Outcome]:
        """``{(student, assignment, notebook): Outcome}`` for everything graded here."""
        if not self.db.is_file():
            return {}
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT student, assignment, notebook, status, reason, seconds FROM grader_outcome"
            ).fetchall()
        finally:
            conn.close()
        return {
            (s, a, n): Outcome(status, reason, seconds) for s, a, n, status, reason, seconds in rows
        }

    def record(
        self,
        student: str,
        assignment: str,
        outcomes: dict[str, Outcome],
        hashes: tuple[str, str] | None = None,
    ) -> None:
        """Replace the outcomes of one submission (and its hashes, when given)."""
        conn = self._connect()
        try:
            with conn:
                conn.execute(
                    "DELETE FROM grader_outcome WHERE student = ? AND assignment = ?",
                    (student, assignment),
                )
                conn.executemany(
                    "INSERT INTO grader_outcome VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (student, assignment, name, o.status, o.reason, o.seconds)
                        for name, o in outcomes.items()
                    ],
                )
                if hashes is None:
                    conn.execute(
                        "DELETE FROM grader_submission WHERE student = ? AND assignment = ?",
                        (student, assignment),
                    )
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO grader_submission VALUES (?, ?, ?, ?)",
                        (student, assignment, *hashes),
                    )
        finally:
            conn.close()

    def record_time(self, student: str, assignment: str, time: str | None, source: str) -> None:
        """Record when a submission was received (``None``: no trustworthy record says)."""
        conn = self._connect()
        try:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO grader_received VALUES (?, ?, ?, ?)",
                    (student, assignment, time, source),
                )
        finally:
            conn.close()

    def times(self) -> dict[tuple[str, str], tuple[str | None, str]]:
        """``{(student, assignment): (ISO time or None, its source)}`` as recorded."""
        if not self.db.is_file():
            return {}
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT student, assignment, time, source FROM grader_received"
            ).fetchall()
        finally:
            conn.close()
        return {(s, a): (t, source) for s, a, t, source in rows}
