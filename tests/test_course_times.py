"""The time each notebook states is honest: it covers reading, running the code and the exercises.

The estimate is written down here, so that a notebook that grows (or a stated time that shrinks)
fails this test instead of quietly misleading learners:

- reading: lesson Markdown at 130 words a minute (technical text read with code beside it);
- code: three quarters of a minute to run and look at each lesson code cell;
- exercises: each answer cell (an nbgrader solution cell) states its own minutes in
  ``metadata["authlab"]["minutes"]``, set by the exercise's size and the decisions it asks (writing
  three lines to a given contract is not diagnosing seven tokens from a log); the exercise's text
  is counted as reading.

Each notebook's estimate is at most its budget in ``BUDGET`` (the budgets sum to 8 hours), and
its stated time is within 10 % (or 3 minutes) of the estimate; `00-start-here` lists every
notebook's stated time, and their total, consistently, and the course's estimates add up to at
most 8 hours.

A part headed "… (optional, not graded)" (a level-2 heading) runs to the next level-2 heading; its
minutes are stated apart, as "(plus about M optional)", and not counted in the notebook's time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("solutions/*/*.ipynb"))
RELEASED = ROOT / "notebooks"
STATED = re.compile(r"\*\*Time:\*\* about (\d+) minutes(?: \(plus about (\d+) optional\))?")
OPTIONAL = "(optional, not graded)"
WORDS_PER_MINUTE = 130
MINUTES_PER_CODE_CELL = 0.75
MOST_MINUTES = 8 * 60
# Minutes a notebook's graded path may take at most (issue 22 item 17): they sum to 8 hours.
BUDGET = {
    "00-start-here": 11,
    "01-sessions-vs-tokens": 40,
    "02-jwt-anatomy": 50,
    "03-breaking-jwts": 36,
    "04-managed-identity": 50,
    "05-api-gateway-jwt-authorizer": 54,
    "06-custom-lambda-authorizer": 48,
    "07-federation": 45,
    "08-token-lifecycle": 51,  # a minute from 05 at stop 31: 08's figure got a cell of its own
    "09-cost": 40,
    "10-interview-practice": 55,
}


def exercise_minutes(cell: dict, where: str) -> int:
    """The minutes an answer cell states for its exercise (``metadata["authlab"]["minutes"]``)."""
    minutes = cell.get("metadata", {}).get("authlab", {}).get("minutes")
    assert isinstance(minutes, int) and not isinstance(minutes, bool) and 1 <= minutes <= 60, (
        f"{where}: answer cell {cell.get('id')!r} states no minutes for its exercise "
        f'(metadata["authlab"]["minutes"], a whole number from 1 to 60): {minutes!r}'
    )
    return minutes


def estimates(path: Path) -> tuple[float, float]:
    """Minutes for a first pass through the notebook at ``path``: (core, optional parts)."""
    minutes = [0.0, 0.0]
    optional = False
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and source.startswith("## "):
            optional = OPTIONAL in source.splitlines()[0]
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if grading.get("solution"):
            assert not optional, f"{path.name}: an optional part holds an exercise"
            minutes[0] += exercise_minutes(cell, path.name)
        elif cell["cell_type"] == "markdown":
            words = len(re.sub(r"\(https?://[^)]*\)", "", source).split())
            minutes[optional] += words / WORDS_PER_MINUTE
        elif not grading.get("grade"):
            minutes[optional] += MINUTES_PER_CODE_CELL
    return minutes[0], minutes[1]


def estimate(path: Path) -> float:
    """Minutes for the graded path through the notebook (optional parts left out)."""
    return estimates(path)[0]


def stated_pair(path: Path) -> tuple[int, int]:
    first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
    found = STATED.search(first)
    assert found, f"{path.name} states no time in its first cell"
    return int(found.group(1)), int(found.group(2) or 0)


def stated(path: Path) -> int:
    return stated_pair(path)[0]


def test_the_budgets_cover_every_notebook_and_sum_to_eight_hours():
    assert set(BUDGET) == {p.parent.name for p in NOTEBOOKS}
    assert sum(BUDGET.values()) == MOST_MINUTES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_each_notebook_fits_its_budget(path):
    core = estimate(path)
    assert core <= BUDGET[path.parent.name], (
        f"{path.parent.name} takes about {core:.1f} minutes, more than its budget of "
        f"{BUDGET[path.parent.name]}: move lesson material no exercise needs into an optional "
        "appendix, or say it in fewer words"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_each_stated_time_covers_reading_code_and_exercises(path):
    core, optional = estimates(path)
    said, said_optional = stated_pair(path)
    assert abs(said - core) <= max(3, 0.1 * core), (
        f"{path.parent.name} says {said} minutes; reading, code and exercises take about {core:.0f}"
    )
    assert abs(said_optional - optional) <= max(3, 0.25 * optional), (
        f"{path.parent.name} says {said_optional} optional minutes; its optional parts take "
        f"about {optional:.0f}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_the_student_notebooks_keep_each_exercises_minutes(path):
    """``grader release`` keeps the minutes on the answer cells of notebooks/, so a learner's
    copy (and anyone checking the released course) sees the same estimate."""
    released = RELEASED / path.parent.name / path.name
    if not released.exists():
        pytest.skip(f"{released} is not released")

    def minutes(notebook: Path) -> dict[str, int]:
        return {
            cell["metadata"]["nbgrader"]["grade_id"]: exercise_minutes(cell, notebook.name)
            for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
        }

    assert minutes(released) == minutes(path)


def test_the_start_notebook_lists_the_same_times_and_an_honest_total():
    start = next(p for p in NOTEBOOKS if p.parent.name == "00-start-here")
    text = "".join(
        "".join(c["source"]) for c in json.loads(start.read_text(encoding="utf-8"))["cells"]
    )
    total = stated(start)
    for path in NOTEBOOKS:
        if path == start:
            continue
        row = re.search(rf"\| `{re.escape(path.parent.name)}` \|[^\n]*\| (\d+) min \|", text)
        assert row, f"00-start-here has no time for {path.parent.name}"
        assert int(row.group(1)) == stated(path), path.parent.name
        total += stated(path)
    said = re.search(r"(\d+) minutes, about (\d+)(½|¼|¾)? hours in all", text)
    assert said, "00-start-here states no total ('M minutes, about N hours in all')"
    assert int(said.group(1)) == total, (int(said.group(1)), total)
    fraction = {"": 0, "¼": 15, "½": 30, "¾": 45}[said.group(3) or ""]
    assert abs(int(said.group(2)) * 60 + fraction - total) <= 8, (said.group(0), total)


def test_the_course_states_at_most_eight_hours():
    """Issue 22 item 17: the stated times, 00's included, add up to 8 hours at most."""
    total = sum(stated(path) for path in NOTEBOOKS)
    assert total <= MOST_MINUTES, f"the course states {total} minutes, more than 8 hours"


def test_the_course_takes_at_most_eight_hours():
    """Issue 22 item 17: the estimates themselves, not only the stated times, fit in 8 hours."""
    total = sum(estimate(path) for path in NOTEBOOKS)
    assert total <= MOST_MINUTES, f"the course takes about {total:.0f} minutes, more than 8 hours"
