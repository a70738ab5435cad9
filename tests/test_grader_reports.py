"""Feedback pages and the class report, from one small graded class."""

from __future__ import annotations

import csv
import os
import re
import shutil
from datetime import datetime

import nbformat
import pytest

from grader.autograde import autograde
from grader.cli import main
from grader.records.feedback import write_feedback
from grader.records.grades import GradeRow, read_csv, write_csv
from grader.records.ingest import ingest
from grader.records.report import write_report

from .conftest import COURSE, ROOT

NB = "01-sessions-vs-tokens"
UNVERIFIED = "time_unverified"


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
    assert header[7:] == ["pending", "ex1", "ex2", "ex3", "seconds", "submitted"]
    rows = {r.student_id: r for r in read_csv(graded / "grades.csv")}
    assert (rows["perfect"].score, rows["perfect"].pending) == (5.0, 3.0)
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
        # The page shows the student's own answers: a hidden test line they wrote is theirs.
        submitted = ROOT / "data" / "submissions" / page.parts[-3] / NB / f"{NB}.ipynb"
        own = "\n".join(c.source for c in nbformat.read(submitted, as_version=4).cells)
        leaked = [
            line
            for line in hidden
            if (line in text or line.replace('"', "&quot;") in text) and line not in own
        ]
        assert not leaked, (page, leaked)
    perfect = (graded / "feedback" / "perfect" / NB / f"{NB}.html").read_text()
    assert "visible and hidden checks" in perfect and "awaits grading" in perfect


def test_report_has_distribution_pass_rates_slowest_and_errors(graded, tmp_path):
    page, table = write_report(COURSE, graded, tmp_path)
    text = page.read_text()
    assert "data:image/png;base64," in text
    assert "Could not be graded (1)" in text and "not valid JSON" in text
    rows = list(csv.DictReader(table.open()))
    rates = {r["item"]: r["detail"] for r in rows if r["section"] == "pass_rate"}
    assert rates == {"ex1": "2/3", "ex2": "1/3"}
    assert sum(r["section"] == "slowest" for r in rows) == 4
    assert [r["item"] for r in rows if r["section"] == "ungraded"] == ["broken"]
    students = {r["item"]: r for r in rows if r["section"] == "student"}
    assert students["partial"]["detail"] == "2 / 8"
    assert students["perfect"]["detail"] == "5 / 8, 3 pending"
    assert students["perfect"]["value"] == ""  # pending is not a grade yet
    assert students["broken"]["detail"].startswith("error: ")
    # The legend sits beside the histogram, and each written answer's rubric is one click away.
    assert "<h2>Students</h2>" in text and f"href='rubrics/{NB}.html'" in text
    rubric = (tmp_path / "rubrics" / f"{NB}.html").read_text()
    assert "ex3_explain" in rubric and "Rubric (3 points)" in rubric


def test_pending_points_are_not_a_zero_in_the_mean(graded):
    from grader.records.report import summarise
    from grader.records.results import class_rows

    info = summarise(class_rows(graded), COURSE)["assignments"][NB]
    # perfect 5 of the 5 graded points (3 pending), partial 2/8, blank 0/8: pending is not 0.
    assert info["pending"] == 1 and info["pending_points"] == 3
    assert info["mean"] == pytest.approx((100 + 25 + 0) / 3)


def test_cli_feedback_and_report(graded, tmp_path, capsys):
    assert main(["feedback", "--workdir", str(graded), "--student", "blank"]) == 0
    assert "Wrote 1 feedback page(s)" in capsys.readouterr().out
    out = tmp_path / "rep"
    assert main(["report", "--workdir", str(graded), "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.csv").is_file()
    assert main(["rubrics", "--out", str(tmp_path / "rub"), NB]) == 0
    assert "Wrote 1 rubric page(s)" in capsys.readouterr().out
    assert main(["rubrics", "--out", str(tmp_path / "rub"), "99-nope"]) == 2
    assert "No assignment '99-nope'" in capsys.readouterr().err


def test_report_and_export_without_a_gradebook_say_so(tmp_path, capsys):
    for command in ("report", "export"):
        assert main([command, "--workdir", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
        assert "No gradebook" in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def _grade_by_hand(work, student: str, points: float, comment: str) -> None:
    """What formgrader does when a grader scores ex3_explain and writes a comment."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        grade = gb.find_grade("ex3_explain", NB, NB, student)
        grade.manual_score = points
        grade.needs_manual_grade = False
        gb.find_comment("ex3_explain", NB, NB, student).manual_comment = comment
        gb.db.commit()


@pytest.fixture
def hand_graded(graded, tmp_path):
    """A copy of the graded class in which perfect's written answer got 2 of 3 by hand."""
    work = tmp_path / "work"
    shutil.copytree(graded, work)
    _grade_by_hand(work, "perfect", 2.0, "Good; name a mitigation for revocation.")
    return work


def test_export_is_wide_and_leaves_pending_grades_empty(graded, tmp_path, capsys):
    out = tmp_path / "lms.csv"
    assert main(["export", "--workdir", str(graded), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "1 grade(s) left empty" in said and "perfect/01-sessions-vs-tokens: 3 point(s)" in said
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert list(next(iter(rows.values()))) == ["student_id", NB, "total", "time_unverified"]
    # copied by hand, not ingested: no record the student does not write gives the time
    assert rows["perfect"] == {"student_id": "perfect", NB: "", "total": "", UNVERIFIED: NB}
    assert rows["partial"] == {"student_id": "partial", NB: "2", "total": "2", UNVERIFIED: NB}
    assert rows["broken"][NB] == "0"
    maxima = list(csv.reader((tmp_path / "lms.max.csv").open()))
    assert maxima == [["assignment", "max_score"], [NB, "8"], ["total", "8"]]
    assert (
        main(["export", "--workdir", str(graded), "--out", str(out), "--pending", "partial"]) == 0
    )
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert rows["perfect"][NB] == "5" and rows["perfect"]["total"] == "5"


def test_a_manual_grade_reaches_report_export_and_csv_without_regrading(
    hand_graded, tmp_path, capsys
):
    from grader.records.results import class_rows

    row = {r.student_id: r for r in class_rows(hand_graded)}["perfect"]
    assert (row.score, row.pending, row.reason) == (7.0, 0.0, "")
    out = tmp_path / "lms.csv"
    assert main(["export", "--workdir", str(hand_graded), "--out", str(out)]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert rows["perfect"] == {"student_id": "perfect", NB: "7", "total": "7", UNVERIFIED: NB}
    page, table = write_report(COURSE, hand_graded, tmp_path / "rep")
    students = {r["item"]: r for r in csv.DictReader(table.open()) if r["section"] == "student"}
    assert students["perfect"]["detail"] == "7 / 8" and students["perfect"]["value"] == "7"


def test_csv_round_trip_with_exercises_and_seconds(tmp_path):
    rows = [
        GradeRow("s1", "01-x", "01-x", 2.0, 8.0, "graded", "", {"ex1": 2.0, "ex2": 0.0}, 1.5),
        GradeRow("s2", "01-x", "01-x", 0.0, 8.0, "error", "bad", {}, 0.25),
    ]
    write_csv(rows, tmp_path / "g.csv")
    assert read_csv(tmp_path / "g.csv") == rows


def test_feedback_shows_the_answers_and_the_points_still_to_grade_by_hand(graded):
    write_feedback(graded, student="perfect")
    page = (graded / "feedback" / "perfect" / NB / f"{NB}.html").read_text()
    assert "5 / 8</b>" in page and "3 points still to be graded by hand" in page
    assert "Your answer" in page and "def issue_token" in page  # the student's own code
    assert "awaits grading by hand" in page
    write_feedback(graded, student="blank")
    blank = (graded / "feedback" / "blank" / NB / f"{NB}.html").read_text()
    assert "not answered: 0 of 3 points" in blank and "graded by hand" not in blank


def test_feedback_carries_the_manual_grade_and_comment(hand_graded):
    write_feedback(hand_graded, student="perfect")
    page = (hand_graded / "feedback" / "perfect" / NB / f"{NB}.html").read_text()
    assert "7 / 8</b>" in page and "still to be graded by hand" not in page
    assert "graded by hand: 2 of 3 points" in page
    assert "Good; name a mitigation for revocation." in page


def _graded_cell(source: str, outputs: list, grade_id: str, points: float):
    cell = nbformat.v4.new_code_cell(source, outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points}
    return cell


def test_feedback_rows_partial_credit_and_visible_checks_never_in_red():
    from grader.records.feedback import cell_outcomes, render_feedback

    stream = nbformat.v4.new_output(
        "stream", name="stdout", text="✔ Visible checks passed. More checks run when graded.\n"
    )
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="exp is checked")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _graded_cell('"""Checks exp."""\n### BEGIN HIDDEN TESTS\nx\n', [stream, error], "ex1_t", 2),
        _graded_cell('"""Checks three things."""\n', [], "ex2_t", 3),
    ]
    outcomes = cell_outcomes(nb, {"ex1_t": (0.0, 2.0, ""), "ex2_t": (2.0, 3.0, "")})
    page = render_feedback("s", "01-x", "01-x", outcomes, 2.0, 5.0)
    assert "2 of 3 points" in page and "not passed" in page
    red = re.findall(r"<span class='failed'>(.*?)</span>", page)
    assert red == ["not passed"]
    assert "<div class='note'>The visible checks passed; a hidden check did not.</div>" in page
    assert "✔ Visible checks passed" not in page
    assert "exp is checked" in page


def test_a_test_cell_claiming_to_be_an_answer_is_never_shown_as_one():
    from grader.records.feedback import answer_cells

    nb = nbformat.v4.new_notebook()
    forged = _graded_cell("### BEGIN HIDDEN TESTS\nsecret\n", [], "ex1_test_x", 1)
    forged.metadata["nbgrader"]["solution"] = True
    answer = nbformat.v4.new_code_cell("mine = 1")
    answer.metadata["nbgrader"] = {"solution": True, "grade_id": "ex1_answer", "grade": False}
    nb.cells = [answer, forged]
    shown = answer_cells(nb, {}, solution_ids={"ex1_answer"})
    assert [a["text"] for a in shown] == ["mine = 1"]


def test_a_failed_zero_point_check_is_shown_failed_not_passed():
    """The check that a written answer is not blank is worth 0: 0 of 0 must not read as passed."""
    from grader.records.feedback import cell_outcomes

    error = nbformat.v4.new_output(
        "error", ename="CheckFailed", evalue="Exercise 3: your written answer is still empty."
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _graded_cell('"""Checks the written answer."""\n', [error], "ex3_written", 0),
        _graded_cell('"""Checks the written answer."""\n', [], "ex4_written", 0),
    ]
    rows = cell_outcomes(nb, {"ex3_written": (0.0, 0.0, ""), "ex4_written": (0.0, 0.0, "")})
    assert [row["outcome"] for row in rows] == ["failed", "passed"]
    assert "still empty" in rows[0]["message"]


# --- round 2, item 5: the submission time is never the student's word -------------------

LMS_TIME = 1772366400  # 2026-03-01 12:00:00 UTC: the export's own time for the files
FORGED = "2000-01-01 00:00:00.000000 UTC"


@pytest.fixture(scope="module")
def received(tmp_path_factory):
    """alice and bob ingested from an LMS export, mallory copied by hand; alice's and
    mallory's folders hold a forged timestamp.txt, and bob's notebook changed after ingest."""
    root = tmp_path_factory.mktemp("received")
    export = root / "export"
    export.mkdir()
    blank = (ROOT / "data" / "submissions" / "blank" / NB / f"{NB}.ipynb").read_bytes()
    for student in ("alice", "bob"):
        path = export / f"{student}_{NB}.ipynb"
        path.write_bytes(blank)
        os.utime(path, (LMS_TIME, LMS_TIME))
    submitted = root / "submitted"
    (submitted / "alice" / NB).mkdir(parents=True)
    (submitted / "alice" / NB / "timestamp.txt").write_text(FORGED)
    report = ingest(COURSE, export, submitted)
    assert report.receipts == submitted / "received.json"
    (submitted / "bob" / NB / f"{NB}.ipynb").write_bytes(blank + b"\n")  # edited afterwards
    (submitted / "mallory" / NB).mkdir(parents=True)
    (submitted / "mallory" / NB / f"{NB}.ipynb").write_bytes(blank)
    (submitted / "mallory" / NB / "timestamp.txt").write_text(FORGED)
    work = root / "work"
    out = work / "grades.csv"
    args = ["autograde", str(submitted), "--workdir", str(work), "--out", str(out)]
    assert main([*args, "--jobs", "2", "--no-progress"]) == 0
    return work


def test_the_gradebook_takes_the_time_from_the_export_never_timestamp_txt(received):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{received / 'gradebook.db'}") as gb:
        stamps = {s: gb.find_submission(NB, s).timestamp for s in ("alice", "bob", "mallory")}
    assert stamps["alice"].replace(tzinfo=None) == datetime(2026, 3, 1, 12, 0)
    assert stamps["bob"] is None and stamps["mallory"] is None  # never 2000-01-01
    rows = {r.student_id: r for r in read_csv(received / "grades.csv")}
    assert rows["alice"].submitted == "2026-03-01T12:00:00+00:00"
    assert rows["bob"].submitted == rows["mallory"].submitted == ""
    assert (received / "grades.csv").read_text().count(",time unverified") == 2


def test_the_report_and_the_export_say_time_unverified(received, tmp_path, capsys):
    page, table = write_report(COURSE, received, tmp_path / "rep")
    said = {
        r["item"]: r["value"] for r in csv.DictReader(table.open()) if r["section"] == "submitted"
    }
    assert said == {
        "alice": "2026-03-01T12:00:00+00:00",
        "bob": "time unverified",
        "mallory": "time unverified",
    }
    assert "2 submission(s): time unverified" in page.read_text()
    out = tmp_path / "lms.csv"
    assert main(["export", "--workdir", str(received), "--out", str(out)]) == 0
    assert "time unverified for 2 grade(s): bob/" in capsys.readouterr().out
    rows = {r["student_id"]: r for r in csv.DictReader(out.open())}
    assert {s: r[UNVERIFIED] for s, r in rows.items()} == {"alice": "", "bob": NB, "mallory": NB}


def test_every_csv_writer_escapes_formulas(tmp_path):
    """Item 7: grades.csv (and so every writer: they share grader.records.safecsv) never holds a
    formula, and reads back what it was given."""
    from grader.records.safecsv import escape_cell, read_rows, unescape_cell, write_rows

    rows = [
        GradeRow('=HYPERLINK("x","ok")', "01-x", "", 0.0, 0.0, "error", "@SUM(1+9) refused"),
        GradeRow("-2+3", "01-x", "01-x", 1.0, 8.0, "graded", "'quoted", {"ex1": 1.0}, 0.5),
    ]
    write_csv(rows, tmp_path / "g.csv")
    text = (tmp_path / "g.csv").read_text()
    assert "'=HYPERLINK" in text and "'@SUM" in text and "'-2+3" in text and "''quoted" in text
    assert read_csv(tmp_path / "g.csv") == rows
    assert [escape_cell(v) for v in ("-1", "2.5", "+3", "\t=1", "a=b", None)] == [
        "-1",
        "2.5",
        "+3",
        "'\t=1",
        "a=b",
        "",
    ]
    assert unescape_cell("'=1") == "=1" and unescape_cell("'plain") == "'plain"
    write_rows(tmp_path / "r.csv", [["=h"], ["+x"]])
    assert read_rows(tmp_path / "r.csv") == [{"=h": "+x"}]
