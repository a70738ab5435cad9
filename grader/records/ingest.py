"""``python -m grader ingest EXPORT``: a learning-management-system download into ``submitted/``.

An LMS export is a folder or a zip of flat files named after the student. Recognised names:

* Canvas: ``<student>_[LATE_]<user id>_<submission id>_<original name>`` (a resubmission's
  original name gains ``-1``, ``-2``…);
* Moodle: ``<Full Name>_<id>_assignsubmission_file_<original name>`` (the id is the student);
* generic: ``<student>_<notebook>.ipynb``, ``<notebook>-<student>.ipynb``, or
  ``<student>/<notebook>.ipynb``.

The notebook is found by its name in the file name, or else by its cells' ``grade_id``s.
Each file lands at ``<out>/<student>/<assignment>/<notebook>.ipynb``; every file that could
not be placed is reported with the reason (links, and files over the size limits of
:mod:`grader.staging`, are never read). When a student has two files for one notebook,
the later resubmission (higher ``-N``, then the later file) wins and the other is reported.

Both ends of an LMS name can be the student's own text (a display name, an uploaded file's
name): a name that reads as two students (a second ``_<id>_assignsubmission_``) is refused,
and a ``-N`` never lets one LMS user's file replace another's under the same student id.
Student ids follow :func:`grader.course.student_id_problem`, as in ``autograde``.

When each submission was received (the export's own time for its files, else the time
``ingest`` saw them) is written to ``<out>/received.json`` (:mod:`grader.records.receipts`): the
gradebook takes the time from there, never from the student's ``timestamp.txt``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from ..course import Course, GraderError, student_id_problem
from .receipts import iso_utc

__all__ = ["IngestReport", "ingest"]

_CANVAS = re.compile(r"^(?P<student>[^_]+)_(?:LATE_)?(?P<user>\d+)_\d+_(?P<rest>.+)$")
_MOODLE_MARK = re.compile(r"_(?P<student>\d+)_assignsubmission_(?:file|onlinetext)_")
_SKIP = ("__MACOSX/", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints/")


@dataclass
class IngestReport:
    """Where each file went, and which files could not be placed (with the reason)."""

    placed: list[tuple[str, Path]] = field(default_factory=list)
    unplaced: list[tuple[str, str]] = field(default_factory=list)
    receipts: Path | None = None  # received.json: when each placed submission was received


@dataclass
class _Candidate:
    name: str  # the file's name in the export
    student: str
    assignment: str
    target: str  # the file name inside the assignment folder
    revision: int
    order: float
    data: bytes
    owner: str | None = None  # the LMS's user id, when the name carries one
    received: tuple[str, str] = ("", "")  # (ISO time, where it comes from)


def _zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes | str:
    """The bytes of one zip entry, or why it is refused (a link, or too large unpacked)."""
    from ..staging import human_size

    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link, not read"
    too_big = f"over the {human_size(cap)} limit, not read"
    if info.file_size > cap:
        return f"{human_size(info.file_size)} unpacked, {too_big}"
    with archive.open(info) as handle:
        data = handle.read(cap + 1)
    return f"more than declared unpacked, {too_big}" if len(data) > cap else data


def _entries(export: Path):
    """``(name in the export, bytes or why it is refused, order, (time, source) or None)``
    for every file of a folder or zip: the time is the export's own record of the file (a
    zip entry's time, a file's modification time), never the student's. Links are not
    followed; sizes are capped as in :mod:`grader.staging`."""
    from ..staging import MAX_FILE_BYTES, MAX_NOTEBOOK_BYTES, read_submission

    def cap(name: str) -> int:
        return MAX_NOTEBOOK_BYTES if name.endswith(".ipynb") else MAX_FILE_BYTES

    if zipfile.is_zipfile(export):
        with zipfile.ZipFile(export) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    when = datetime(*info.date_time, tzinfo=UTC)
                    yield (
                        info.filename,
                        _zip_entry(archive, info, cap(info.filename)),
                        time.mktime((*info.date_time, 0, 0, -1)),
                        (iso_utc(when), "the LMS zip's time for the file (taken as UTC)")
                        if info.date_time[0] > 1980
                        else None,
                    )
    elif export.is_dir():
        staged = read_submission(export, max_total=2**62)
        for name, why in staged.refused:
            yield name, why, 0.0, None
        for name in sorted(staged.files):
            mtime = os.lstat(export / name).st_mtime
            yield name, staged.files[name], mtime, (iso_utc(mtime), "the file's time in the export")
    else:
        raise GraderError(f"{export} is neither a folder nor a zip file.")


def _by_content(data: bytes, ids: dict[str, tuple[str, set[str]]]) -> tuple[str, str] | None:
    """``(assignment, notebook)`` whose grade_ids a notebook's cells carry, if any."""
    try:
        cells = json.loads(data.decode("utf-8")).get("cells", [])
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    found = {
        str(((c.get("metadata") or {}).get("nbgrader") or {}).get("grade_id", ""))
        for c in cells
        if isinstance(c, dict)
    }
    scores = {key: len(found & known) for key, (_, known) in ids.items()}
    best = max(scores, key=scores.get, default=None)
    return (ids[best][0], best) if best and scores[best] else None


def _place(name: str, data: bytes, notebooks: dict[str, str], ids) -> _Candidate | str:
    """Where one exported file goes, or why it cannot be placed."""
    path = PurePosixPath(name)
    base = path.name
    read = _lms_name(base)
    if isinstance(read, str):
        return read
    student, owner, rest = read
    rest = rest or base
    stem, suffix = PurePosixPath(rest).stem, PurePosixPath(rest).suffix
    lowered = stem.lower()
    hit = max((n for n in notebooks if n in lowered), key=len, default=None)
    revision = 0
    if hit:
        assignment = notebooks[hit]
        before, after = lowered.split(hit, 1)
        tail = re.match(r"^-(\d+)$", after)
        if tail:
            revision, after = int(tail.group(1)), ""
        if student is None:
            left = stem[: len(before)].strip("_- .")
            right = stem[len(before) + len(hit) :].strip("_- .")
            student = left or right or (path.parent.name if len(path.parts) > 1 else "")
        target = f"{hit}{suffix}" if suffix == ".ipynb" else rest
    elif suffix == ".ipynb" and (found := _by_content(data, ids)):
        assignment, hit = found
        student = student or stem.strip("_- .") or path.parent.name
        target = f"{hit}.ipynb"
    else:
        return "no notebook or assignment of the course in its name or cells"
    if not student or student_id_problem(student):
        return f"no usable student id in the name (got {student!r})"
    return _Candidate(name, student, assignment, target, revision, 0.0, data, owner)


def _lms_name(base: str) -> tuple[str | None, str | None, str | None] | str:
    """``(student, LMS user id, the student's original file name)`` read from an LMS file
    name (``(None, None, None)`` when it is not one), or why it cannot be read.

    Both ends of a Moodle or Canvas name can be written by a student (a display name on the
    left, the uploaded file's name on the right), so a name that reads as two different
    students (two Moodle ids, or a Canvas name holding a Moodle id) is refused, never
    guessed: no file of one student can be filed as another's.
    """
    marks = [m for m in _MOODLE_MARK.finditer(base) if m.start() > 0]
    canvas = _CANVAS.match(base)
    readings = {m["student"] for m in marks} | ({canvas["student"]} if canvas else set())
    if len(readings) > 1:
        return (
            f"the name reads as more than one student ({', '.join(sorted(readings))}): "
            "not placed; place it by hand"
        )
    if marks:  # the original name is what follows the last mark (a resubmitted download)
        return marks[-1]["student"], marks[-1]["student"], base[marks[-1].end() :]
    if canvas:
        return canvas["student"], canvas["user"], canvas["rest"]
    return None, None, None


def ingest(course: Course, export: Path, out: Path) -> IngestReport:
    """Copy the files of ``export`` (folder or zip) into ``out`` as nbgrader's submitted layout."""
    notebooks = {n: a for a in course.assignments() for n in course.notebook_names(a)}
    from ..authoring.integrity import notebook_spec

    ids = {
        src.stem: (a, set(notebook_spec(src, src).cell_ids))
        for a in course.assignments()
        for src in course.source_notebooks(a)
    }
    report = IngestReport()
    chosen: dict[tuple[str, str, str], _Candidate] = {}
    seen = iso_utc(datetime.now(UTC))
    for name, data, order, when in _entries(export):
        if any(skip in name for skip in _SKIP) or PurePosixPath(name).name.startswith("."):
            continue
        if isinstance(data, str):
            report.unplaced.append((name, data))
            continue
        placed = _place(name, data, notebooks, ids)
        if isinstance(placed, str):
            report.unplaced.append((name, placed))
            continue
        placed.order = float(order)
        placed.received = when or (seen, "the time ingest saw the file")
        key = (placed.student, placed.assignment, placed.target)
        previous = chosen.get(key)
        if previous is not None and placed.owner != previous.owner:
            # Two LMS users behind one student id: a revision number in a file name (the
            # student's word) never decides between them; the first stays, this is named.
            report.unplaced.append(
                (
                    placed.name,
                    f"student {placed.student!r} is already LMS user {previous.owner or '?'}'s "
                    f"({previous.name}); this file is user {placed.owner or '?'}'s: not "
                    "placed; place it by hand",
                )
            )
            continue
        if previous is None or (placed.revision, placed.order) >= (
            previous.revision,
            previous.order,
        ):
            if previous is not None:
                report.unplaced.append((previous.name, f"superseded by {placed.name}"))
            chosen[key] = placed
        else:
            report.unplaced.append((placed.name, f"superseded by {previous.name}"))
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for (student, assignment, target), candidate in sorted(chosen.items()):
        path = out / student / assignment / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(candidate.data)
        report.placed.append((candidate.name, path))
        key = (student, assignment)
        latest[key] = max(latest.get(key, candidate.received), candidate.received)
    if latest:
        from .ledger import folder_hash
        from .receipts import Receipt, write_receipts

        report.receipts = write_receipts(
            out,
            {
                (s, a): Receipt(when, source, folder_hash(out / s / a))
                for (s, a), (when, source) in latest.items()
            },
        )
    return report
