"""How long a learner waits: every solution notebook executed headless, one after another.

Prints each notebook's time, the total, and the baseline of the same run: an empty
notebook (kernel start and stop only), so the ratio says how much of each notebook's
time is its own work. Goals: no notebook over 10 s, the whole course under 60 s.

    .venv/bin/python benchmarks/course.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.authoring.run import run_notebook  # noqa: E402
from grader.course import Course  # noqa: E402

PER_NOTEBOOK_GOAL = 10.0
COURSE_GOAL = 60.0


def main() -> int:
    course = Course(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("pass")]
        nbformat.write(nb, empty)
        baseline = run_notebook(empty).seconds
    print(f"{'notebook':<36} {'seconds':>8} {'× empty kernel':>15}")
    print(f"{'(empty notebook: baseline)':<36} {baseline:8.2f} {1:15.1f}")
    total = 0.0
    slow = []
    for assignment in course.assignments():
        seconds = run_notebook(course.source_notebook(assignment)).seconds
        total += seconds
        if seconds > PER_NOTEBOOK_GOAL:
            slow.append(assignment)
        print(f"{assignment:<36} {seconds:8.2f} {seconds / baseline:15.1f}")
    print(f"{'total':<36} {total:8.2f} {total / baseline:15.1f}")
    print(
        f"goal: each notebook ≤ {PER_NOTEBOOK_GOAL:g} s ({'met' if not slow else 'missed: ' + ', '.join(slow)}), "
        f"course ≤ {COURSE_GOAL:g} s ({'met' if total <= COURSE_GOAL else 'missed'})"
    )
    return 0 if not slow and total <= COURSE_GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
