"""Hostile and broken submissions: each gets a recorded outcome and the batch never stops.

The fixtures (tests/fixtures/hostile.py) are built from the 01 notebook and graded in ONE
batch for the module, with a short per-cell timeout and a small memory limit.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from grader.autograde import autograde

from .conftest import COURSE
from .fixtures.hostile import ASSIGNMENT, build

FULL = 5.0  # the auto-graded points of 01 (3 more are a written answer)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """``(rows by student, work folder)`` for the whole hostile class, graded once."""
    submissions = tmp_path_factory.mktemp("hostile")
    build(COURSE, submissions)
    work = tmp_path_factory.mktemp("hostile-work")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_SECRET_ACCESS_KEY", "leak-me")
        patch.setenv("MY_API_TOKEN", "leak-me")
        rows = autograde(COURSE, submissions, workdir=work, jobs=2, timeout=10, memory_mb=1536)
    return {row.student_id: row for row in rows}, work


def _outputs(work, student: str) -> str:
    path = work / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(
                str(out.get("text", "")) + f"{out.get('ename', '')}: {out.get('evalue', '')}"
            )
    return "\n".join(texts)


def _row(batch, student):
    rows, _ = batch
    return rows[student]


pytestmark = pytest.mark.notebooks


def test_every_submission_gets_exactly_one_row(batch):
    rows, _ = batch
    assert len(rows) == 15
    assert all(row.status in {"graded", "error"} for row in rows.values())
    assert all(row.status == "graded" or row.reason for row in rows.values())


def test_the_perfect_submission_still_scores_full_marks(batch):
    row = _row(batch, "perfect")
    assert (row.status, row.score, row.exercises["ex1"]) == ("graded", FULL, 2.0)


@pytest.mark.parametrize(
    ("student", "words"),
    [
        ("invalid-json", "not valid JSON"),
        ("empty-file", "empty file"),
        ("missing-notebook", "missing notebook"),
        ("other-assignment", "another assignment"),
        ("kernel-dies", "kernel died"),
    ],
)
def test_ungradable_submissions_are_errors_with_a_reason(batch, student, words):
    row = _row(batch, student)
    assert (row.status, row.score, row.max_score) == ("error", 0.0, 8.0)
    assert words in row.reason


def test_an_infinite_loop_is_interrupted_and_the_rest_is_graded(batch):
    row = _row(batch, "infinite-loop")
    assert (row.status, row.score) == ("graded", FULL)
    assert "CellTimeoutError" in _outputs(batch[1], "infinite-loop")


def test_runaway_memory_ends_in_memory_error_not_a_dead_batch(batch):
    row = _row(batch, "runaway-memory")
    assert row.status == "graded"
    assert "HOG stopped by MemoryError" in _outputs(batch[1], "runaway-memory")


def test_enormous_output_is_cut(batch):
    row = _row(batch, "enormous-output")
    assert (row.status, row.score) == ("graded", FULL)
    path = batch[1] / "autograded" / "enormous-output" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 500_000


def test_edited_test_cells_are_restored_from_the_source(batch):
    row = _row(batch, "edited-tests")
    assert (row.status, row.score) == ("graded", 0.0)
    assert "edited locked cell(s) restored" in row.reason


def test_deleted_test_cells_are_restored_never_a_silent_zero(batch):
    row = _row(batch, "deleted-tests")
    assert (row.status, row.score) == ("graded", FULL)
    assert "ex1_test_issue_token, ex2_test_any_container" in row.reason


def test_duplicated_test_cells_are_graded_once(batch):
    row = _row(batch, "duplicated-test")
    assert (row.status, row.score) == ("graded", FULL)
    assert "duplicated cell(s) graded once: ex1_test_issue_token" in row.reason


def test_added_and_reordered_cells_are_graded(batch):
    assert (_row(batch, "added-reordered").score, _row(batch, "added-reordered").status) == (
        FULL,
        "graded",
    )


def test_snooping_finds_no_solutions_gradebook_or_secrets(batch):
    assert _row(batch, "snooping").score == FULL
    line = next(x for x in _outputs(batch[1], "snooping").splitlines() if x.startswith("SNOOP "))
    seen = json.loads(line.removeprefix("SNOOP "))
    assert seen == {"found": [], "leaks": [], "aws_dir": False, "listing": []}


def test_only_loopback_network_works(batch):
    assert _row(batch, "network").score == FULL
    line = next(x for x in _outputs(batch[1], "network").splitlines() if x.startswith("NET "))
    seen = json.loads(line.removeprefix("NET "))
    assert seen["loopback"] == "ok"
    assert seen["other"].startswith("refused") and "loopback" in seen["other"]


def test_results_land_in_nbgraders_gradebook(batch):
    from nbgrader.api import Gradebook

    _, work = batch
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        assert gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "perfect").score == FULL
        restored = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "deleted-tests")
        assert restored.score == FULL
        students = {s.id for s in gb.students}
    assert "deleted-tests" in students and "invalid-json" in students
