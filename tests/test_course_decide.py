"""Notebooks 06, 08, 09 and 10 (issue 22, items 14 and 17): each has an exercise where the learner
decides, closes with a table of what was decided and for how many points, states each answer
cell's minutes, and shows no truth before the learner commits to it."""

from __future__ import annotations

import re

import nbformat
import pytest

from .conftest import COURSE

HIDDEN = "### BEGIN HIDDEN TESTS"
NOTEBOOKS = [
    "06-custom-lambda-authorizer",
    "08-token-lifecycle",
    "09-cost",
    "10-interview-practice",
]


def cells(assignment: str) -> list[nbformat.NotebookNode]:
    return nbformat.read(COURSE.source_notebook(assignment), as_version=4).cells


def by_id(assignment: str) -> dict[str, nbformat.NotebookNode]:
    return {str(cell.id): cell for cell in cells(assignment)}


def grading(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("assignment", NOTEBOOKS)
def test_every_answer_cell_states_its_minutes(assignment):
    for cell in cells(assignment):
        if grading(cell).get("solution"):
            minutes = cell.metadata.get("authlab", {}).get("minutes")
            assert isinstance(minutes, int) and 3 <= minutes <= 20, (cell.id, minutes)


@pytest.mark.parametrize("assignment", NOTEBOOKS)
def test_the_closing_table_lists_each_exercise_with_its_points(assignment):
    """The last table 'exercise | what you decide | points' agrees with the graded cells."""
    points: dict[int, float] = {}
    for cell in cells(assignment):
        found = re.match(r"ex(\d+)_", grading(cell).get("grade_id", ""))
        if found and grading(cell).get("grade"):
            number = int(found.group(1))
            points[number] = points.get(number, 0) + float(grading(cell).get("points") or 0)
    text = "\n".join(cell.source for cell in cells(assignment)[-3:] if cell.cell_type == "markdown")
    assert "| exercise | what you decide | points |" in text
    rows = {
        int(n): float(p)
        for n, p in re.findall(r"^\| (\d+)\D[^\n]*\| (\d+)(?: \(rubric\))? \|$", text, re.M)
    }
    assert set(rows) == set(points), (rows, points)
    for number, said in rows.items():
        assert said == points[number], (number, said, points[number])


def test_06_exercise_1_is_a_repair_from_the_gateways_log():
    nb = by_id("06-custom-lambda-authorizer")
    assert "Repair" in nb["ex1-heading"].source
    assert "def shipped_authorizer(" in nb["acme-keys"].source
    evidence = nb["ex1-evidence"].source
    assert "gateway_log(shipped_authorizer" in evidence
    # the recipe is gone: the heading does not say how to handle the scheme or the scopes
    heading = nb["ex1-heading"].source
    assert "split" not in heading.lower() and "allow_route" not in heading


@pytest.mark.parametrize(
    ("assignment", "cell_id", "giveaways"),
    [
        (
            "06-custom-lambda-authorizer",
            "ex1_test_allows_valid_tokens",
            ("Split", "allow_route", "Use the token's sub", "empty string", "methodArn's"),
        ),
        (
            "06-custom-lambda-authorizer",
            "ex1_test_refuses_bad_tokens",
            ("Catch", "raise Exception"),
        ),
        (
            "08-token-lifecycle",
            "ex1_test_background_refresh",
            ("expires_at -", "Catch", "margin seconds before"),
        ),
        ("08-token-lifecycle", "ex2_test_denylist", ("Compare", "store nothing and return")),
        ("09-cost", "ex1_test_audit", ("Add the pools", "share one allowance")),
    ],
)
def test_hints_say_what_went_wrong_not_how_to_fix_it(assignment, cell_id, giveaways):
    seen = by_id(assignment)[cell_id].source.split(HIDDEN)[0]
    hints = re.findall(r"hint=\(?\s*f?\"([^\"]*)\"", seen)
    assert hints
    for hint in hints:
        assert not any(word in hint for word in giveaways), hint
    assert "share one allowance" not in seen


def test_08_logout_table_shows_what_each_logout_cannot_stop_only_after_exercise_3():
    order = cells("08-token-lifecycle")
    ids = [str(cell.id) for cell in order]
    committed = ids.index("ex3_still_works")
    for cell in order[:committed]:
        assert "cannot stop" not in cell.source, cell.id
        assert "will still be valid" not in cell.source, cell.id
    after = by_id("08-token-lifecycle")["observe-read"].source
    assert "what it cannot stop" in after and "will still be valid" in after
    assert ids.index("observe-read") > ids.index("observe") > committed


def test_09_has_no_transcribed_bill_and_no_plots():
    nb = by_id("09-cost")
    everything = "\n".join(cell.source for cell in nb.values())
    assert "monthly_bill" not in everything
    assert "plt." not in everything
    assert "ex1_audit" in nb and "ex2_explain" in nb


def test_10_has_no_widget():
    everything = "\n".join(cell.source for cell in cells("10-interview-practice"))
    assert "widget(" not in everything
