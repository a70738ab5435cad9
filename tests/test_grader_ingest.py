"""``python -m grader ingest``: LMS downloads into nbgrader's submitted layout."""

from __future__ import annotations

import zipfile

import pytest

from grader.cli import main
from grader.ingest import ingest

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
