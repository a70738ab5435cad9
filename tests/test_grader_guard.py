"""nbgrader's own Autograde and Generate Feedback refuse; Release Feedback checks its pages.

What formgrader's buttons call (``NbGraderAPI``, with the course's nbgrader_config.py) and what
nbgrader's command line does from the course folder: no kernel starts, no file changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from grader.guard import (
    AUTOGRADE_REFUSED,
    AUTOGRADE_REFUSED_LINE,
    FEEDBACK_REFUSED,
    FEEDBACK_REFUSED_LINE,
    SUBMISSION_FILES,
    AutogradeRefused,
    FeedbackRefused,
    pages_with_hidden_tests,
)

from .conftest import COURSE, ROOT

NB = "01-sessions-vs-tokens"
STUDENT = "alice"
GRADER_PAGE = "<html><body><h1>01</h1><p>ex1: not passed. exp is iat plus 3600 s.</p></body></html>"


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    """A course folder holding one submission, its autograded notebook (hidden tests restored,
    as nbgrader leaves it) and the page `grader feedback` wrote for it."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    source = COURSE.source_notebook(NB)
    assert "BEGIN HIDDEN TESTS" in source.read_text(encoding="utf-8")
    for folder in ("submitted", "autograded"):
        target = tmp_path / folder / STUDENT / NB
        target.mkdir(parents=True)
        shutil.copy(source, target / f"{NB}.ipynb")
        (target / "timestamp.txt").write_text("2026-11-30 08:00:00.000000 UTC")
        (target / "submission_secret.txt").write_text("s3cret")
    feedback = tmp_path / "feedback" / STUDENT / NB
    feedback.mkdir(parents=True)
    (feedback / f"{NB}.html").write_text(GRADER_PAGE, encoding="utf-8")
    for name in SUBMISSION_FILES:
        shutil.copy(tmp_path / "autograded" / STUDENT / NB / name, feedback / name)
    return tmp_path


def said(message: str, text: str) -> bool:
    """``message`` is in ``text``, however its lines were wrapped or indented there."""
    return " ".join(message.split()) in " ".join(text.split())


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "exchange" not in p.parts
    }


def _api(root: Path) -> NbGraderAPI:
    """nbgrader's API as formgrader's handlers build it: the course's settings, rooted here."""
    config = COURSE.nbgrader_config(root=root, db_url=f"sqlite:///{root / 'gradebook.db'}")
    (root / "exchange").mkdir(exist_ok=True)
    config.Exchange.root = str(root / "exchange")
    config.Application.log_level = "INFO"
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def test_the_course_settings_name_the_guards():
    config = COURSE.nbgrader_config()
    assert config.Autograde.exporter_class == "grader.guard.AutogradeRefused"
    assert config.GenerateFeedback.exporter_class == "grader.guard.FeedbackRefused"
    assert config.ExchangeFactory.release_feedback == "grader.guard.CheckedReleaseFeedback"
    assert AutogradeRefused.message == AUTOGRADE_REFUSED
    assert FeedbackRefused.message == FEEDBACK_REFUSED


def test_the_messages_name_the_course_commands():
    assert "python -m grader autograde" in AUTOGRADE_REFUSED
    assert "make autograde" in AUTOGRADE_REFUSED
    assert "python -m grader feedback" in FEEDBACK_REFUSED
    for line in (AUTOGRADE_REFUSED_LINE, FEEDBACK_REFUSED_LINE):
        assert "\n" not in line and len(line) <= 80  # one line of formgrader's dialog


def test_other_failures_keep_nbgraders_traceback(course_dir):
    """Only a refusal is shortened: a real problem still shows its traceback."""
    result = _api(course_dir).generate_assignment("00-no-such-assignment")
    assert result["success"] is False, result
    assert "Traceback" in result["error"]


def test_formgraders_autograde_refuses_and_changes_nothing(course_dir):
    before = _snapshot(course_dir)
    result = _api(course_dir).autograde(NB, STUDENT)
    assert result["success"] is False
    assert said(AUTOGRADE_REFUSED, result["log"])
    assert result["error"] == AUTOGRADE_REFUSED_LINE  # the dialog's one line, no traceback
    assert _snapshot(course_dir) == before
    assert not (course_dir / "gradebook.db").exists()


@pytest.mark.parametrize("student", [STUDENT, None], ids=["one student", "whole assignment"])
def test_formgraders_generate_feedback_refuses_and_keeps_the_pages(course_dir, student):
    before = _snapshot(course_dir)
    result = _api(course_dir).generate_feedback(NB, student)
    assert result["success"] is False
    assert said(FEEDBACK_REFUSED, result["log"])
    assert result["error"] == FEEDBACK_REFUSED_LINE
    assert "Traceback" not in result["log"]
    assert _snapshot(course_dir) == before
    page = course_dir / "feedback" / STUDENT / NB / f"{NB}.html"
    assert page.read_text(encoding="utf-8") == GRADER_PAGE


# nbgrader's API passes ReleaseFeedback a misspelt "authentictor", which traitlets warns about.
RELEASE_WARNING = "ignore:Passing unrecognized arguments:DeprecationWarning"


@pytest.mark.filterwarnings(RELEASE_WARNING)
def test_release_feedback_publishes_grader_pages(course_dir):
    result = _api(course_dir).release_feedback(NB, STUDENT)
    assert result["success"] is True, result
    released = list((course_dir / "exchange").rglob("*.html"))
    assert [p.read_text(encoding="utf-8") for p in released] == [GRADER_PAGE]


@pytest.mark.filterwarnings(RELEASE_WARNING)
def test_release_feedback_takes_timestamp_and_secret_from_the_submission(course_dir):
    feedback = course_dir / "feedback" / STUDENT / NB
    for name in SUBMISSION_FILES:
        (feedback / name).unlink()
    result = _api(course_dir).release_feedback(NB)
    assert result["success"] is True, result
    assert (feedback / "submission_secret.txt").read_text() == "s3cret"
    assert len(list((course_dir / "exchange").rglob("*.html"))) == 1


@pytest.mark.filterwarnings(RELEASE_WARNING)
def test_release_feedback_without_the_collected_submission_says_so(course_dir):
    for folder in ("feedback", "submitted"):
        (course_dir / folder / STUDENT / NB / "timestamp.txt").unlink()
    result = _api(course_dir).release_feedback(NB, STUDENT)
    assert result["success"] is False
    assert said("has no timestamp.txt", result["log"])
    assert not list((course_dir / "exchange").rglob("*.html"))


@pytest.mark.filterwarnings(RELEASE_WARNING)
@pytest.mark.parametrize("student", [STUDENT, None], ids=["one student", "whole assignment"])
def test_release_feedback_refuses_a_page_showing_hidden_tests(course_dir, student):
    page = course_dir / "feedback" / STUDENT / NB / f"{NB}.html"
    page.write_text(
        '<pre><span class="c1">### BEGIN HIDDEN TESTS</span>\nassert x</pre>', encoding="utf-8"
    )
    result = _api(course_dir).release_feedback(NB, student)
    assert result["success"] is False
    assert said("shows hidden tests", result["log"])
    assert said("`python -m grader feedback`", result["log"])
    assert not list((course_dir / "exchange").rglob("*.html"))


def test_pages_with_hidden_tests_finds_either_delimiter(tmp_path):
    pages = {
        "clean": "<p>ex1 passed</p>",
        "begin": "### begin hidden tests",
        "end": "<span>### END HIDDEN   TESTS</span>",
    }
    for name, text in pages.items():
        (tmp_path / f"{name}.html").write_text(text, encoding="utf-8")
    found = pages_with_hidden_tests([str(tmp_path / f"{n}.html") for n in pages])
    assert sorted(Path(p).stem for p in found) == ["begin", "end"]


@pytest.mark.parametrize(
    ("command", "message"),
    [("autograde", AUTOGRADE_REFUSED), ("generate_feedback", FEEDBACK_REFUSED)],
)
def test_nbgraders_command_line_refuses_in_the_course_folder(course_dir, command, message):
    before = _snapshot(course_dir)
    nbgrader = Path(sys.executable).with_name("nbgrader")
    done = subprocess.run(
        [str(nbgrader), command, NB, "--force"],
        cwd=course_dir,
        env={**os.environ, "PATH": f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert said(message, done.stderr)
    assert _snapshot(course_dir) == before
