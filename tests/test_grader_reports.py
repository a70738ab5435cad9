"""Feedback pages and the class report, from one small graded class."""

from __future__ import annotations

import csv
import re
import shutil

import nbformat
import pytest

from grader.autograde import GradeRow, autograde, read_csv, write_csv
from grader.cli import main
from grader.feedback import write_feedback
from grader.report import write_report

from .conftest import COURSE, ROOT

NB = "01-sessions-vs-tokens"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """perfect, partial, blank and a broken notebook of 01, autograded into a workdir."""
    submissions = tmp_path_factory.mktemp("class")
    for kind in ("perfect", "partial", "blank"):
        shutil.copytree(ROOT / "data" / "submissions" / kind / NB, submissions / kind / NB)
    (submissions / "broken" / NB).mkdir(parents=True)
    (submissions / "broken" / NB / f"{NB}.ipynb").write_text("{", encoding="utf-8")
    work = tmp_path_factory.mktemp("work")
    rows = autograde(COURSE, submissions, workdir=work, jobs=2)
    write_csv(rows, work / "grades.csv")
    return work


def _hidden_lines() -> list[str]:
    lines = []
    for cell in nbformat.read(COURSE.source_notebook(NB), as_version=4).cells:
        block = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        if block:
            lines += [x.strip() for x in block.group(1).splitlines() if len(x.strip()) >= 12]
    return lines


pytestmark = pytest.mark.notebooks


def test_grades_csv_has_a_column_per_exercise_and_the_time(graded):
    header = (graded / "grades.csv").read_text().splitlines()[0].split(",")
    assert header[:7] == [
        "student_id",
        "assignment",
        "notebook",
        "score",
        "max_score",
        "status",
        "reason",
    ]
    assert header[7:] == ["ex1", "ex2", "ex3", "seconds"]
    rows = {r.student_id: r for r in read_csv(graded / "grades.csv")}
    assert rows["partial"].exercises == {"ex1": 2.0, "ex2": 0.0, "ex3": 0.0}
    assert rows["broken"].exercises == {} and rows["broken"].status == "error"


def test_feedback_shows_results_and_messages_but_no_hidden_test(graded):
    pages = write_feedback(graded)
    assert {p.parts[-3] for p in pages} == {"perfect", "partial", "blank"}
    partial = (graded / "feedback" / "partial" / NB / f"{NB}.html").read_text()
    assert "ex1_test_issue_token" in partial and "not passed" in partial
    assert "Traceback" not in partial and "BEGIN HIDDEN" not in partial
    hidden = _hidden_lines()
    assert hidden, "01 has hidden tests"
    for page in pages:
        text = page.read_text()
        leaked = [line for line in hidden if line in text or line.replace('"', "&quot;") in text]
        assert not leaked, (page, leaked)
    perfect = (graded / "feedback" / "perfect" / NB / f"{NB}.html").read_text()
    assert "visible and hidden checks" in perfect and "awaits grading" in perfect


def test_report_has_distribution_pass_rates_slowest_and_errors(graded, tmp_path):
    page, table = write_report(COURSE, graded / "grades.csv", tmp_path)
    text = page.read_text()
    assert "data:image/png;base64," in text
    assert "Could not be graded (1)" in text and "not valid JSON" in text
    rows = list(csv.DictReader(table.open()))
    rates = {r["item"]: r["detail"] for r in rows if r["section"] == "pass_rate"}
    assert rates == {"ex1": "2/3", "ex2": "1/3"}
    assert sum(r["section"] == "slowest" for r in rows) == 4
    assert [r["item"] for r in rows if r["section"] == "ungraded"] == ["broken"]


def test_cli_feedback_and_report(graded, tmp_path, capsys):
    assert main(["feedback", "--workdir", str(graded), "--student", "blank"]) == 0
    assert "Wrote 1 feedback page(s)" in capsys.readouterr().out
    out = tmp_path / "rep"
    assert main(["report", "--grades", str(graded / "grades.csv"), "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.csv").is_file()


def test_csv_round_trip_with_exercises_and_seconds(tmp_path):
    rows = [
        GradeRow("s1", "01-x", "01-x", 2.0, 8.0, "graded", "", {"ex1": 2.0, "ex2": 0.0}, 1.5),
        GradeRow("s2", "01-x", "01-x", 0.0, 8.0, "error", "bad", {}, 0.25),
    ]
    write_csv(rows, tmp_path / "g.csv")
    assert read_csv(tmp_path / "g.csv") == rows
