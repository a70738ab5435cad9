"""The time each notebook states is honest: it covers reading, running the code and the exercises.

The estimate is deliberately simple and written down here, so that a notebook that grows (or a
stated time that shrinks) fails this test instead of quietly misleading learners:

- reading: lesson Markdown at 130 words a minute (technical text read with code beside it);
- code: three quarters of a minute to run and look at each lesson code cell;
- exercises: 8 minutes for each code answer cell, 10 for each written answer.

A stated time must be within 20 % (or 5 minutes) of the estimate; `00-start-here` lists every
notebook's time, and its total, consistently.

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
STATED = re.compile(r"\*\*Time:\*\* about (\d+) minutes(?: \(plus about (\d+) optional\))?")
OPTIONAL = "(optional, not graded)"


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
            minutes[0] += 10 if cell["cell_type"] == "markdown" else 8
        elif cell["cell_type"] == "markdown":
            minutes[optional] += len(re.sub(r"\(https?://[^)]*\)", "", source).split()) / 130
        elif not grading.get("grade"):
            minutes[optional] += 0.75
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_each_stated_time_covers_reading_code_and_exercises(path):
    core, optional = estimates(path)
    said, said_optional = stated_pair(path)
    assert abs(said - core) <= max(5, 0.2 * core), (
        f"{path.parent.name} says {said} minutes; reading, code and exercises take about {core:.0f}"
    )
    assert abs(said_optional - optional) <= max(3, 0.25 * optional), (
        f"{path.parent.name} says {said_optional} optional minutes; its optional parts take "
        f"about {optional:.0f}"
    )


def test_the_start_notebook_lists_the_same_times_and_an_honest_total():
    start = next(p for p in NOTEBOOKS if p.parent.name == "00-start-here")
    text = "".join(
        "".join(c["source"]) for c in json.loads(start.read_text(encoding="utf-8"))["cells"]
    )
    total = 0
    for path in NOTEBOOKS:
        if path == start:
            continue
        row = re.search(rf"\| `{re.escape(path.parent.name)}` \|[^\n]*\| (\d+) min \|", text)
        assert row, f"00-start-here has no time for {path.parent.name}"
        assert int(row.group(1)) == stated(path), path.parent.name
        total += stated(path)
    hours = re.search(r"about (\d+)(½)? hours in all", text)
    assert hours, "00-start-here states no total ('about N hours in all')"
    said = int(hours.group(1)) * 60 + (30 if hours.group(2) else 0)
    assert abs(said - total) <= 15, (said, total)
