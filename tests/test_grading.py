"""The grading pipeline: sample submissions through the real nbgrader autograde."""

from __future__ import annotations

import csv
import shutil

import pytest

from grader.autograde import autograde
from grader.cli import main
from grader.records.grades import read_csv, write_csv

from .conftest import COURSE, ROOT

SAMPLES = ROOT / "data" / "submissions"


def _expected() -> dict[tuple[str, str], float]:
    with (SAMPLES / "expected_scores.csv").open() as handle:
        return {
            (r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(handle)
        }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The samples plus two broken submissions, autograded once for this module."""
    submissions = tmp_path_factory.mktemp("submitted")
    shutil.copytree(SAMPLES, submissions, dirs_exist_ok=True)
    broken = submissions / "broken-json" / "01-sessions-vs-tokens"
    broken.mkdir(parents=True)
    (broken / "01-sessions-vs-tokens.ipynb").write_text('{"cells": [', encoding="utf-8")
    (submissions / "no-notebook" / "01-sessions-vs-tokens").mkdir(parents=True)
    work = tmp_path_factory.mktemp("work")
    return {(r.student_id, r.assignment): r for r in autograde(COURSE, submissions, workdir=work)}


@pytest.mark.notebooks
def test_samples_autograde_to_their_expected_scores(graded):
    expected = _expected()
    assert expected, "data/submissions/expected_scores.csv lists no sample"
    for key, score in expected.items():
        row = graded[key]
        assert row.status == "graded", row
        assert row.score == score, row
        assert row.max_score == COURSE.max_points(key[1])


@pytest.mark.notebooks
def test_perfect_sample_reports_points_awaiting_manual_grading(graded):
    row = graded[("perfect", "01-sessions-vs-tokens")]
    assert row.reason == "3 point(s) await manual grading"


@pytest.mark.notebooks
def test_broken_submissions_get_a_recorded_zero_with_a_reason(graded):
    bad_json = graded[("broken-json", "01-sessions-vs-tokens")]
    assert (bad_json.status, bad_json.score) == ("error", 0.0)
    assert "not valid JSON" in bad_json.reason
    missing = graded[("no-notebook", "01-sessions-vs-tokens")]
    assert (missing.status, missing.score, missing.max_score) == ("error", 0.0, 8.0)
    assert "missing notebook" in missing.reason


def test_samples_are_in_sync_with_the_sources(tmp_path):
    """data/submissions is what ``python -m grader samples`` writes from the current notebooks."""
    from grader.authoring.samples import write_samples

    for path in write_samples(COURSE, tmp_path):
        committed = SAMPLES / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), f"{committed} is stale"


def test_csv_round_trip_keeps_the_columns(tmp_path):
    from grader.records.grades import GradeRow

    rows = [
        GradeRow("s1", "01-x", "01-x", 2.0, 8.0, "graded", ""),
        GradeRow("s2", "01-x", "01-x", 0.0, 8.0, "error", 'bad, "JSON"'),
    ]
    write_csv(rows, tmp_path / "g.csv")
    header = (tmp_path / "g.csv").read_text().splitlines()[0]
    assert header == "student_id,assignment,notebook,score,max_score,status,reason,submitted"
    assert read_csv(tmp_path / "g.csv") == rows


def test_cli_autograde_reports_a_missing_folder(tmp_path, capsys):
    code = main(["autograde", str(tmp_path / "nope"), "--out", str(tmp_path / "g.csv")])
    assert code == 2
    assert "No submissions folder" in capsys.readouterr().err


def test_cli_lint_passes_on_the_course(capsys):
    """The rules read from the notebooks (the memorizer check, which grades every solution
    in the judge, is tests/test_grader_memorize.py's)."""
    assert main(["lint", "--static"]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
