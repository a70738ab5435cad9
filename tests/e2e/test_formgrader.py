"""Formgrader's Generate Feedback and Autograde buttons refuse, naming the course's commands.

A throwaway course copy holds one submission of 01, graded by ``python -m grader autograde`` and
given its page by ``python -m grader feedback``, as an instructor would have it; JupyterLab runs
on it as `make lab` does. Clicking nbgrader's buttons in formgrader must leave ``feedback/`` and
``autograded/`` as they were (no page shows a hidden test) and show the instructor the message
of ``grader/guard.py``. Screenshots: ``build/e2e/formgrader-*.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from grader.autograde import autograde
from grader.course import Course
from grader.guard import (
    AUTOGRADE_REFUSED,
    AUTOGRADE_REFUSED_LINE,
    FEEDBACK_REFUSED,
    FEEDBACK_REFUSED_LINE,
)
from grader.records.feedback import write_feedback

from ..conftest import ROOT
from .conftest import Lab, serve_lab

pytestmark = pytest.mark.e2e

NB = "01-sessions-vs-tokens"
STUDENT = "partial"


@pytest.fixture(scope="module")
def graded_lab(tmp_path_factory) -> Iterator[Lab]:
    """JupyterLab on a course copy whose one submission is graded and has its feedback page."""
    root = tmp_path_factory.mktemp("graded-course")
    for folder in ("notebooks", "solutions"):
        shutil.copytree(ROOT / folder, root / folder)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    submitted = root / "submitted" / STUDENT / NB
    shutil.copytree(ROOT / "data" / "submissions" / STUDENT / NB, submitted)
    # As `nbgrader collect` leaves a submission: Release Feedback names the page by the secret.
    (submitted / "timestamp.txt").write_text("2026-11-30 08:00:00.000000 UTC")
    (submitted / "submission_secret.txt").write_text("e2e-secret")
    course = Course(root)
    rows = autograde(course, root / "submitted", jobs=1)
    assert [(r.student_id, r.status) for r in rows] == [(STUDENT, "graded")]
    assert write_feedback(root)
    with serve_lab(root, tmp_path_factory.mktemp("graded-lab-state")) as lab:
        yield lab


def hidden_test_lines() -> list[str]:
    """The lines of 01's hidden tests that its partial submission does not itself contain."""
    source = nbformat.read(ROOT / "solutions" / NB / f"{NB}.ipynb", as_version=4)
    submitted = ROOT / "data" / "submissions" / STUDENT / NB / f"{NB}.ipynb"
    own = "\n".join(c.source for c in nbformat.read(submitted, as_version=4).cells)
    lines = []
    for cell in source.cells:
        for block in re.findall(
            r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S
        ):
            lines += [x.strip() for x in block.splitlines() if len(x.strip()) >= 12]
    return [line for line in lines if line not in own]


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder``, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_no_page_shows_hidden_tests(root: Path) -> None:
    """No HTML page under feedback/ holds a hidden test's delimiter or one of its lines."""
    hidden = hidden_test_lines()
    assert hidden, f"{NB} has hidden tests"
    pages = sorted((root / "feedback").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "HIDDEN TESTS" not in text.upper(), page
        leaked = [line for line in hidden if line in text]
        assert not leaked, (page, leaked[:3])


def open_formgrader(page, lab: Lab):
    """Nbgrader > Formgrader in JupyterLab; return the formgrader's frame."""
    page.goto(lab.open())
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()
    frame = page.frame_locator("iframe").first
    frame.get_by_text("Manage Assignments").first.wait_for()
    return frame


def dialog_text(page, frame, kind: str = "error") -> str:
    """The text of formgrader's error (or success) dialog once it shows, spaces collapsed."""
    dialog = frame.locator(f"#{kind}-modal.in .modal-body")
    dialog.wait_for(state="visible", timeout=120_000)
    page.wait_for_timeout(500)  # Bootstrap's fade-in, for the screenshot
    return flat(dialog.inner_text())


def flat(text: str) -> str:
    """``text`` with every run of white space one space (dialogs wrap long lines)."""
    return " ".join(text.split())


def close_dialog(page, frame, kind: str = "error") -> None:
    """Press the dialog's OK and wait until it is gone."""
    frame.locator(f"#{kind}-modal .modal-footer button").click()
    frame.locator(f"#{kind}-modal").wait_for(state="detached")


def test_generate_feedback_refuses_and_no_page_shows_hidden_tests(page, graded_lab, screenshot_dir):
    """Manage Assignments > Generate Feedback: the message, and feedback/ left as it was."""
    before = files_under(graded_lab.root / "feedback")
    assert_no_page_shows_hidden_tests(graded_lab.root)
    frame = open_formgrader(page, graded_lab)
    row = frame.locator(f"#main-table tr:has(td.name[data-order='{NB}'])")
    row.locator("td.num-submissions a", has_text="1").wait_for(timeout=60_000)
    row.locator("td.generate-feedback a").click()
    text = dialog_text(page, frame)
    assert flat(FEEDBACK_REFUSED) in text, text[:2000]
    assert flat(FEEDBACK_REFUSED_LINE) in text and "Traceback (most recent" not in text, text
    page.screenshot(path=screenshot_dir / "formgrader-generate-feedback-refused.png")
    assert files_under(graded_lab.root / "feedback") == before
    assert_no_page_shows_hidden_tests(graded_lab.root)


def test_autograde_refuses_and_leaves_the_grades(page, graded_lab, screenshot_dir):
    """Manage Submissions > Autograde: the message, and autograded/ left as it was."""
    before = files_under(graded_lab.root / "autograded")
    frame = open_formgrader(page, graded_lab)
    row = frame.locator(f"#main-table tr:has(td.name[data-order='{NB}'])")
    row.locator("td.num-submissions a", has_text="1").click()
    submission = frame.locator(f"#main-table tr:has(td.student-id[data-order='{STUDENT}'])")
    submission.locator("td.autograde a").click()
    text = dialog_text(page, frame)
    assert flat(AUTOGRADE_REFUSED) in text, text[:2000]
    assert flat(AUTOGRADE_REFUSED_LINE) in text and "Traceback (most recent" not in text, text
    assert "NbGraderException" not in text and 'File "' not in text, text
    page.screenshot(path=screenshot_dir / "formgrader-autograde-refused.png")
    assert files_under(graded_lab.root / "autograded") == before
    assert_no_page_shows_hidden_tests(graded_lab.root)


def test_release_feedback_publishes_grader_pages_only(page, graded_lab, screenshot_dir):
    """Release Feedback refuses a page showing hidden tests, then releases grader's page."""
    feedback = graded_lab.root / "feedback" / STUDENT / NB / f"{NB}.html"
    exchange = graded_lab.root / ".exchange"
    ours = feedback.read_text(encoding="utf-8")
    feedback.write_text("<pre>### BEGIN HIDDEN TESTS\nassert secret</pre>", encoding="utf-8")
    try:
        frame = open_formgrader(page, graded_lab)
        row = frame.locator(f"#main-table tr:has(td.name[data-order='{NB}'])")
        row.locator("td.release-feedback a").click()
        text = dialog_text(page, frame)
        assert "shows hidden tests" in text and "python -m grader feedback" in text, text[:2000]
        page.screenshot(path=screenshot_dir / "formgrader-release-feedback-refused.png")
        assert not list(exchange.rglob("*.html"))
        close_dialog(page, frame)
    finally:
        feedback.write_text(ours, encoding="utf-8")
    row.locator("td.release-feedback a").click()
    text = dialog_text(page, frame, "success")
    assert "Successfully released feedback" in text, text[:2000]
    released = list(exchange.rglob("*.html"))
    assert [p.read_text(encoding="utf-8") for p in released] == [ours]
    assert_no_page_shows_hidden_tests(graded_lab.root)
