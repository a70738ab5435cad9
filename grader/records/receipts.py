"""When each submission was received, from a record the student does not write.

A submission's ``timestamp.txt`` is the student's word: written by the student's own
``nbgrader submit``, or by hand in an LMS upload, it can say 2000-01-01. The grader never
uses it. ``grader ingest`` writes ``received.json`` at the top of the submissions folder
(beside the student folders, which only the grader writes): per student and assignment,
the time the LMS export gives the files (a zip entry's time, or a file's time in an
exported folder; else the time ``ingest`` saw them), where that time came from, and the
SHA-256 of the submission's files as placed (:func:`grader.records.ledger.folder_hash`).

``autograde`` trusts a receipt only while the files still hash to it: a file changed or
added by hand afterwards makes the time *unverified*, as is every submission without a
receipt (one collected with nbgrader's exchange, whose times the students' clients write).
An unverified time is recorded as none in the gradebook (no late penalty is computed from
the student's word) and is marked ``time unverified`` in ``grades.csv``, the report and the
LMS export.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..course import RECEIPTS_FILE  # the receipts file: a name no student id may take

__all__ = ["RECEIPTS_FILE", "Receipt", "iso_utc", "read_receipts", "write_receipts"]

log = logging.getLogger(__name__)

_MAX_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Receipt:
    """When one student's submission of one assignment was received, and how it is known."""

    time: str  # ISO 8601, UTC
    source: str  # where the time comes from, in words
    sha256: str  # folder_hash of the submission's files when the receipt was written


def iso_utc(moment: datetime | float) -> str:
    """``moment`` (an aware or UTC datetime, or seconds since the epoch) as ISO 8601 UTC."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def read_receipts(submissions: Path) -> dict[tuple[str, str], Receipt]:
    """The receipts of ``submissions`` (``{}`` when it has none; a file that is a link, too
    large or unreadable counts as none, with a warning: every time is then unverified)."""
    from ..staging import StagingError, read_regular

    path = submissions / RECEIPTS_FILE
    try:
        raw = json.loads(read_regular(path, _MAX_BYTES).decode("utf-8"))
        found = {}
        for key, value in raw.items():
            student, assignment = key.split("/", 1)
            receipt = Receipt(str(value["time"]), str(value["source"]), str(value["sha256"]))
            datetime.fromisoformat(receipt.time)
            found[(student, assignment)] = receipt
        return found
    except FileNotFoundError:
        return {}
    except (StagingError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s not read (%s): every submission time is unverified", path, exc)
        return {}


def write_receipts(submissions: Path, receipts: dict[tuple[str, str], Receipt]) -> Path:
    """Add ``receipts`` to those of ``submissions`` (replacing a submission's older one)."""
    merged = read_receipts(submissions)
    merged.update(receipts)
    path = submissions / RECEIPTS_FILE
    text = json.dumps(
        {f"{s}/{a}": asdict(r) for (s, a), r in sorted(merged.items())}, indent=1, sort_keys=True
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    tmp = path.with_name(f".{RECEIPTS_FILE}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
