"""Sample submissions made from the sources: perfect, partial and blank.

``python -m grader samples`` writes ``data/submissions/<kind>/<assignment>/<notebook>.ipynb``
for every assignment with graded cells. A *perfect* submission is the student notebook
with every answer cell filled from the solution; *partial* answers exercise 1 only;
*blank* is the student notebook untouched. The expected scores live beside them in
``data/submissions/expected_scores.csv``, written by hand and checked by the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat

from ..course import Course, notebook_points, solution_text
from .lint import GRADE_ID_RE

__all__ = ["KINDS", "fill_answers", "write_samples"]


def fill_answers(
    source: Path, student: Path, answered: Callable[[str], bool]
) -> nbformat.NotebookNode:
    """The student notebook with the answer cells whose grade_id ``answered`` accepts filled in."""
    solutions = {
        cell.metadata["nbgrader"]["grade_id"]: solution_text(cell.source)
        for cell in nbformat.read(source, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.read(student, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id in solutions and answered(grade_id):
            cell.source = solutions[grade_id]
    return nb


def _exercise(grade_id: str) -> int:
    match = GRADE_ID_RE.match(grade_id)
    return int(match.group(1)) if match else 0


KINDS: dict[str, Callable[[str], bool]] = {
    "perfect": lambda grade_id: True,
    "partial": lambda grade_id: _exercise(grade_id) == 1,
    "blank": lambda grade_id: False,
}
"""Which answer cells each kind of sample fills, by grade_id."""


def write_samples(course: Course, target: Path | None = None) -> list[Path]:
    """Write the samples of every graded assignment under ``target`` (default data/submissions)."""
    target = target or course.root / "data" / "submissions"
    written: list[Path] = []
    for assignment in course.assignments():
        for source in course.source_notebooks(assignment):
            if notebook_points(source) == 0:
                continue
            student = course.release_dir / assignment / source.name
            for kind, answered in KINDS.items():
                out = target / kind / assignment / source.name
                out.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(fill_answers(source, student, answered), out)
                written.append(out)
    return written
