"""``python -m grader ingest``: LMS downloads into nbgrader's submitted layout."""

from __future__ import annotations

import zipfile

import pytest

from grader.cli import main
from grader.records.ingest import ingest

from .conftest import COURSE

NB = "01-sessions-vs-tokens"


@pytest.fixture
def export(tmp_path):
    """A flat LMS download: Canvas, Moodle and generic names, a resubmission, strays."""
    notebook = COURSE.student_notebook(NB).read_bytes()
    folder = tmp_path / "export"
    (folder / "frank").mkdir(parents=True)
    (folder / "__MACOSX").mkdir()
    files = {
        f"alice_{NB}.ipynb": notebook,
        f"{NB}-bob.ipynb": notebook,
        f"carol_12345_67890_{NB}.ipynb": b"first",
        f"carol_LATE_12345_67891_{NB}-1.ipynb": b"second",
        f"Dan Smith_4242_assignsubmission_file_{NB}.ipynb": notebook,
        "erin.ipynb": notebook,
        "notes.txt": b"hello",
        f"frank/{NB}.ipynb": notebook,
        "__MACOSX/._junk": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _check(report, out):
    placed = {str(path.relative_to(out)) for _, path in report.placed}
    assert placed == {
        f"{student}/{NB}/{NB}.ipynb"
        for student in ("alice", "bob", "carol", "4242", "erin", "frank")
    }
    assert (out / "carol" / NB / f"{NB}.ipynb").read_bytes() == b"second"
    unplaced = dict(report.unplaced)
    assert "superseded" in unplaced[f"carol_12345_67890_{NB}.ipynb"]
    assert "no notebook or assignment" in unplaced["notes.txt"]
    assert len(unplaced) == 2


def test_ingest_a_folder(export, tmp_path):
    out = tmp_path / "submitted"
    _check(ingest(COURSE, export, out), out)


def test_ingest_a_zip(export, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(export.rglob("*")):
            if path.is_file():
                zf.write(path, str(path.relative_to(export)))
    out = tmp_path / "submitted"
    _check(ingest(COURSE, archive, out), out)


def test_cli_ingest_reports_unplaced_files(export, tmp_path, capsys):
    out = tmp_path / "submitted"
    assert main(["ingest", str(export), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Placed 6 file(s)" in text and "notes.txt" in text


def test_links_and_oversized_files_are_reported_never_read(tmp_path, monkeypatch):
    import os

    from grader import staging

    monkeypatch.setattr(staging, "MAX_NOTEBOOK_BYTES", 1000)
    folder = tmp_path / "export"
    folder.mkdir()
    os.symlink(COURSE.source_notebook(NB), folder / f"mallory_{NB}.ipynb")
    with open(folder / f"oscar_{NB}.ipynb", "wb") as handle:
        handle.truncate(40 * 2**30)  # sparse: nothing on disk
    report = ingest(COURSE, folder, tmp_path / "out")
    assert report.placed == []
    assert dict(report.unplaced) == {
        f"mallory_{NB}.ipynb": "a symbolic link, not read",
        f"oscar_{NB}.ipynb": "40.0 GiB, over the 50.0 MiB limit, not read",
    }
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr(f"zoe_{NB}.ipynb", b"{" + b" " * 5000 + b"}")  # small packed, big unpacked
    report = ingest(COURSE, archive, tmp_path / "out")
    assert report.placed == []
    assert dict(report.unplaced) == {
        f"zoe_{NB}.ipynb": "4.9 KiB unpacked, over the 1000 bytes limit, not read"
    }


def test_a_name_carrying_another_students_moodle_id_never_files_as_theirs(tmp_path):
    """Item 8: a second ``_<id>_assignsubmission_`` and a ``-99`` revision in a name a
    student writes (a Moodle display name, an uploaded file's name, a Canvas upload) never
    files the file as another student's, nor supersedes that student's real file."""
    real = COURSE.student_notebook(NB).read_bytes()
    folder = tmp_path / "export"
    folder.mkdir()
    dan = f"Dan Smith_4242_assignsubmission_file_{NB}.ipynb"
    forged = {
        # Eve (666) named herself "x_4242_assignsubmission_file_y" in Moodle
        f"x_4242_assignsubmission_file_y_666_assignsubmission_file_{NB}-99.ipynb": b"eve 1",
        # Eve uploaded a file named after Dan's Moodle export
        f"Eve_666_assignsubmission_file_Dan_4242_assignsubmission_file_{NB}-99.ipynb": b"eve 2",
        # Mallory uploaded the same name to Canvas
        f"mallory_1001_2002_x_4242_assignsubmission_file_{NB}-99.ipynb": b"mallory",
    }
    (folder / dan).write_bytes(real)
    for name, data in forged.items():
        (folder / name).write_bytes(data)
    out = tmp_path / "submitted"
    report = ingest(COURSE, folder, out)
    assert (out / "4242" / NB / f"{NB}.ipynb").read_bytes() == real
    placed = {name: str(path.relative_to(out)) for name, path in report.placed}
    assert placed == {dan: f"4242/{NB}/{NB}.ipynb"}
    unplaced = dict(report.unplaced)
    assert set(unplaced) == set(forged)
    assert all("reads as more than one student" in why for why in unplaced.values())
    assert "4242, 666" in unplaced[next(iter(forged))]


def test_a_revision_number_never_replaces_another_lms_users_file(tmp_path):
    """Two Canvas users behind one name: the second file (whatever its ``-N``) is named,
    never filed over the first; one user's own resubmissions still supersede each other."""
    folder = tmp_path / "export"
    folder.mkdir()
    first = f"smithjohn_111_900_{NB}.ipynb"
    again = f"smithjohn_111_901_{NB}-1.ipynb"
    other = f"smithjohn_222_902_{NB}-99.ipynb"
    for name, data in ((first, b"one"), (again, b"two"), (other, b"other user")):
        (folder / name).write_bytes(data)
    out = tmp_path / "submitted"
    report = ingest(COURSE, folder, out)
    assert (out / "smithjohn" / NB / f"{NB}.ipynb").read_bytes() == b"two"
    unplaced = dict(report.unplaced)
    assert "superseded" in unplaced[first]
    assert "user 222's: not placed" in unplaced[other] and "LMS user 111" in unplaced[other]


def test_ingest_refuses_formula_ids(tmp_path):
    """Item 7: ingest's id rule (shared with autograde) refuses what a spreadsheet runs."""
    folder = tmp_path / "export"
    folder.mkdir()
    for name in (f"=2+3_{NB}.ipynb", f"@SUM(1+9)_{NB}.ipynb", f"{NB}-+cmd.ipynb"):
        (folder / name).write_bytes(b"{}")
    report = ingest(COURSE, folder, tmp_path / "submitted")
    assert report.placed == []
    assert all("no usable student id" in why for _, why in report.unplaced)
    assert len(report.unplaced) == 3


def test_ingest_records_when_each_submission_was_received(export, tmp_path):
    """Item 5: the time comes from the export (a file's time in it), kept outside the
    student folders with the hash of the files as placed; never from the student's files."""
    import json
    import os

    from grader.records.ledger import folder_hash
    from grader.records.receipts import read_receipts

    os.utime(export / f"alice_{NB}.ipynb", (1772366400, 1772366400))
    out = tmp_path / "submitted"
    report = ingest(COURSE, export, out)
    assert report.receipts == out / "received.json"
    receipts = read_receipts(out)
    assert set(receipts) == {(s, NB) for s in ("alice", "bob", "carol", "4242", "erin", "frank")}
    alice = receipts[("alice", NB)]
    assert alice.time == "2026-03-01T12:00:00+00:00"
    assert alice.source == "the file's time in the export"
    assert alice.sha256 == folder_hash(out / "alice" / NB)
    # A second ingest adds to the receipts; a broken or linked file counts as none.
    ingest(COURSE, export, out)
    assert set(read_receipts(out)) == set(receipts)
    (out / "received.json").write_text(json.dumps({"alice": "2000-01-01"}))
    assert read_receipts(out) == {}
    (out / "received.json").unlink()
    os.symlink(tmp_path / "elsewhere.json", out / "received.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps({f"alice/{NB}": alice.__dict__}))
    assert read_receipts(out) == {}


def test_a_zip_export_gives_the_lms_zips_time(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo(f"alice_{NB}.ipynb", (2026, 3, 1, 12, 0, 0)), b"{}")
    out = tmp_path / "submitted"
    ingest(COURSE, archive, out)
    from grader.records.receipts import read_receipts

    receipt = read_receipts(out)[("alice", NB)]
    assert receipt.time == "2026-03-01T12:00:00+00:00" and "zip" in receipt.source


def test_the_receipts_file_name_is_no_student_id(tmp_path):
    """A student folder named like ingest's receipts file gets a row with the reason from
    autograde (never silently skipped), and ingest never places a student under that name."""
    from grader.autograde import _scan
    from grader.course import RECEIPTS_FILE, student_id_problem
    from grader.records.ledger import Ledger

    assert "reserved" in student_id_problem(RECEIPTS_FILE)
    submissions = tmp_path / "submitted"
    (submissions / RECEIPTS_FILE / NB).mkdir(parents=True)
    (submissions / "alice" / NB).mkdir(parents=True)
    ledger = Ledger(tmp_path / "ledger.db")
    found = _scan(submissions, {NB}, ledger)
    assert [student for student, _, _ in found] == ["alice"]
    outcome = ledger.outcomes()[(RECEIPTS_FILE, NB, "")]
    assert outcome.status == "error" and "reserved" in outcome.reason

    folder = tmp_path / "export"
    folder.mkdir()
    (folder / f"{RECEIPTS_FILE}_{NB}.ipynb").write_bytes(b"{}")
    report = ingest(COURSE, folder, tmp_path / "placed")
    assert report.placed == [] and len(report.unplaced) == 1
