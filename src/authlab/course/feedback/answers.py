"""Answers not given yet: an empty written answer, and demos that wait for an exercise.

An unanswered code exercise raises ``NotImplementedError`` (nbgrader's stub); a written one
still says ``YOUR ANSWER HERE``. :func:`check_written` makes Validate name an empty written
answer; :class:`needs_answers` turns a demo cell's ``NotImplementedError`` into one line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .checks import CheckFailed
from .saved import saved_cells

__all__ = [
    "UNANSWERED",
    "awaiting_answer",
    "check_written",
    "needs_answers",
    "raises_not_implemented",
]


UNANSWERED = "YOUR ANSWER HERE"
"""What nbgrader leaves in a written answer's cell until the learner writes."""


def check_written(cell_id: str, exercise: str, folder: Path | None = None) -> None:
    """Fail unless the written answer in cell ``cell_id`` holds an answer.

    nbgrader's Validate scores written answers by hand only, so it says nothing of a blank
    one; this check (a 0-point test cell after the answer) makes Validate name it. It reads
    the saved notebook in ``folder`` (the kernel's working folder: Validate saves first); if
    no notebook there has that cell, there is nothing to check and it passes.
    """
    for cell, source in saved_cells(folder):
        if cell.get("id") != cell_id:
            continue
        if not source.strip() or UNANSWERED in source:
            raise CheckFailed(
                f"{exercise}: your written answer is still empty.",
                hint="Double-click the cell that says YOUR ANSWER HERE, write your answer, "
                "press Shift+Enter and save; your instructor grades it by hand.",
            )
        return


class needs_answers:  # noqa: N801 - used like a function: ``with needs_answers("exercise 2"):``
    """Run a demo cell that uses the learner's answers; if one is missing, say so and go on.

    An unanswered exercise raises ``NotImplementedError``; inside this block that becomes one
    friendly line instead of an error, so lesson cells after an exercise still run.
    """

    def __init__(self, exercises: str) -> None:
        self.exercises = exercises

    def __enter__(self) -> needs_answers:
        return self

    def __exit__(self, etype: type | None, value: BaseException | None, tb: object) -> bool:
        if etype is not None and issubclass(etype, NotImplementedError):
            print(f"⏸ This demo runs once you have answered {self.exercises}.")
            return True
        return False


def raises_not_implemented(source: str) -> bool:
    """Whether a code cell still raises ``NotImplementedError`` at its top level: nbgrader's
    stub of an exercise whose answer is a value (``# YOUR CODE HERE`` then ``raise
    NotImplementedError()``), left in place. Read from the source, never run."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                return True
    return False


def awaiting_answer(name: str, folder: Path | None = None) -> bool:
    """Whether ``name`` is the answer of an exercise not answered yet, in the saved notebook of
    ``folder`` (the kernel's working folder): an answer cell that still raises
    ``NotImplementedError`` follows an exercise text that names it (`` `NAME` ``)."""
    named = re.compile(rf"`{re.escape(name)}\b")
    prompt: list[str] = []
    for cell, source in saved_cells(folder):
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if meta.get("solution") and cell.get("cell_type") == "code":
            if raises_not_implemented(source) and any(named.search(text) for text in prompt):
                return True
            prompt = []
        elif meta.get("grade") or meta.get("solution"):
            prompt = []
        elif cell.get("cell_type") == "markdown":
            prompt.append(source)
    return False
