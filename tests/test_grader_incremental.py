"""Incremental regrades: only new or changed submissions are graded again; the CSV covers all."""

from __future__ import annotations

import shutil
import warnings

import pytest

from grader.autograde import assignment_hash, autograde
from grader.cli import main
from grader.course import Course
from grader.records.grades import read_csv
from grader.records.ledger import Ledger, files_hash, folder_hash

from .conftest import COURSE, ROOT
from .test_grader_sandbox import _shown_as_python_does

NB = "01-sessions-vs-tokens"
SAMPLES = ROOT / "data" / "submissions"


def test_files_hash_ignores_order_and_sees_names_and_contents():
    one = files_hash([("a.ipynb", b"x"), ("b.txt", b"y")])
    assert one == files_hash([("b.txt", b"y"), ("a.ipynb", b"x")])
    assert one != files_hash([("a.ipynb", b"x"), ("b.txt", b"z")])
    assert one != files_hash([("a.ipynb", b"x"), ("c.txt", b"y")])


def test_folder_hash_ignores_editor_caches(tmp_path):
    (tmp_path / "nb.ipynb").write_text("{}")
    before = folder_hash(tmp_path)
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "nb-checkpoint.ipynb").write_text("{ }")
    assert folder_hash(tmp_path) == before
    (tmp_path / "nb.ipynb").write_text("{ }")
    assert folder_hash(tmp_path) != before


def test_changing_an_assignments_sources_changes_its_hash(tmp_path):
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder / NB, tmp_path / folder / NB)
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    course = Course(tmp_path)
    before = assignment_hash(course, NB)
    assert before == assignment_hash(COURSE, NB)
    source = course.source_notebook(NB)
    source.write_text(source.read_text().replace("BEGIN HIDDEN TESTS", "BEGIN HIDDEN TESTS "))
    assert assignment_hash(course, NB) != before


def test_the_ledger_replaces_a_submissions_outcomes(tmp_path):
    from grader.records.ledger import Outcome

    ledger = Ledger(tmp_path / "gradebook.db")
    assert ledger.hashes() == {} and ledger.outcomes() == {}
    ledger.record("s", NB, {NB: Outcome("error", "bad", 1.0)}, ("h1", "h2"))
    ledger.record("s", NB, {NB: Outcome("graded", "", 2.0)}, ("h3", "h2"))
    assert ledger.hashes() == {("s", NB): ("h3", "h2")}
    assert ledger.outcomes() == {("s", NB, NB): Outcome("graded", "", 2.0)}


@pytest.mark.notebooks
def test_a_second_autograde_grades_only_what_changed(tmp_path, capfd):
    submissions = tmp_path / "class"
    for kind in ("partial", "blank"):
        shutil.copytree(SAMPLES / kind / NB, submissions / kind / NB)
    work = tmp_path / "work"
    first = autograde(COURSE, submissions, workdir=work, jobs=2)
    assert (first.regraded, first.unchanged) == (2, 0)
    stamp = (work / "autograded" / "partial" / NB / f"{NB}.ipynb").stat().st_mtime_ns

    # Unchanged: nothing is graded, and the rows still cover the whole class.
    again = autograde(COURSE, submissions, workdir=work, jobs=2)
    assert (again.regraded, again.unchanged) == (0, 2)
    assert [(r.student_id, r.score) for r in again] == [(r.student_id, r.score) for r in first]
    assert (work / "autograded" / "partial" / NB / f"{NB}.ipynb").stat().st_mtime_ns == stamp

    # A changed submission (partial resubmits the perfect answers) is the only one graded.
    shutil.copy(SAMPLES / "perfect" / NB / f"{NB}.ipynb", submissions / "partial" / NB)
    out = tmp_path / "grades.csv"
    capfd.readouterr()
    with warnings.catch_warnings():  # warnings shown as outside pytest, which would hide them
        warnings.simplefilter("default")
        warnings.showwarning = _shown_as_python_does
        assert main(["autograde", str(submissions), "--workdir", str(work), "--out", str(out)]) == 0
    said = capfd.readouterr()
    assert "Warning" not in said.err  # SQLAlchemy's SAWarnings go to the log (grader.console)
    assert "SAWarning" in (work / "autograde.log").read_text()  # they happened: in the log
    assert "Graded 1 notebook(s)" in said.out and "1 unchanged since last graded" in said.out
    # The terminal shows the progress line and the summary; the rest goes to the named log.
    assert f"log: {work / 'autograde.log'}" in said.out
    assert "grading [" in said.err and "IPKernelApp" not in said.err
    assert "Converting notebook" not in said.err
    rows = {r.student_id: r for r in read_csv(out)}
    assert set(rows) == {"partial", "blank"}
    assert (rows["partial"].score, rows["partial"].pending) == (5.0, 3.0)

    # A student graded earlier but absent from this folder stays in the results.
    later = tmp_path / "late"
    shutil.copytree(SAMPLES / "perfect" / NB, later / "late-student" / NB)
    only_late = autograde(COURSE, later, workdir=work, jobs=1)
    assert only_late.regraded == 1
    assert {r.student_id for r in only_late} == {"partial", "blank", "late-student"}

    # A submission whose autograded notebook was deleted is graded again (feedback needs it).
    shutil.rmtree(work / "autograded" / "blank")
    redo = autograde(COURSE, submissions, workdir=work, jobs=2)
    assert (redo.regraded, redo.unchanged) == (1, 1)
    assert (work / "autograded" / "blank" / NB / f"{NB}.ipynb").is_file()

    forced = autograde(COURSE, submissions, workdir=work, jobs=2, force=True)
    assert (forced.regraded, forced.unchanged) == (2, 0)


@pytest.mark.notebooks
def test_a_receipt_dates_a_submission_only_while_its_files_match(tmp_path):
    """Item 5: a new receipt for the same files regrades with the receipt's time; a file
    changed afterwards makes the time unverified again, in the gradebook too."""
    from nbgrader.api import Gradebook

    from grader.records.receipts import Receipt, write_receipts

    submissions = tmp_path / "class"
    shutil.copytree(SAMPLES / "blank" / NB, submissions / "blank" / NB)
    (submissions / "blank" / NB / "timestamp.txt").write_text("2000-01-01 00:00:00 UTC")
    work = tmp_path / "work"

    def stamp():
        with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
            return gb.find_submission(NB, "blank").timestamp

    first = autograde(COURSE, submissions, workdir=work, jobs=1)
    assert first.regraded == 1 and first[0].submitted == "" and stamp() is None
    when = "2026-03-01T12:00:00+00:00"
    folder = submissions / "blank" / NB
    write_receipts(submissions, {("blank", NB): Receipt(when, "test", folder_hash(folder))})
    dated = autograde(COURSE, submissions, workdir=work, jobs=1)
    assert dated.regraded == 1 and dated[0].submitted == when
    assert stamp().replace(tzinfo=None).isoformat() == "2026-03-01T12:00:00"
    (folder / "notes.txt").write_text("added after the receipt")
    again = autograde(COURSE, submissions, workdir=work, jobs=1)
    assert again.regraded == 1 and again[0].submitted == "" and stamp() is None
