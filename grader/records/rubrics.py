"""Rubric pages: each written answer's question, model answer and rubric, for the grader's eyes.

The rubric of a written answer lives only in its solution cell under ``solutions/``, after
a ``**Rubric`` heading (``grader release`` strips it with the rest of the solution). While
grading in formgrader, open the assignment's rubric page beside it: one section per written
answer, named by its ``grade_id`` as formgrader names the cell, with its points, the
question as the student saw it, the model answer and the rubric.

``grader report`` writes them under ``report/rubrics/`` and links them from the report;
``python -m grader rubrics`` writes them alone. These pages hold solutions: they are for
graders, never for students.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..course import Course, solution_text

__all__ = ["WrittenAnswer", "rubric_text", "write_rubrics", "written_answers"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border-top:2px solid #ddd;margin-top:1.5rem}.rubric{background:#fff8e6;padding:.2rem 1rem}
.question{background:#f3f6fb;padding:.2rem 1rem}.warning{color:#a61b1b}
"""


@dataclass(frozen=True)
class WrittenAnswer:
    """One manually graded answer cell of a source notebook."""

    notebook: str
    grade_id: str
    points: float
    question: str  # the markdown cell just above the answer, as students see it
    model_answer: str
    rubric: str  # "" when the source has no rubric section


def rubric_text(source: str) -> str:
    """The ``**Rubric`` section of a written answer's source ("" when there is none)."""
    text = source.replace("### END SOLUTION", "")
    return text[text.index("**Rubric") :].strip() if "**Rubric" in text else ""


def written_answers(course: Course, assignment: str) -> list[WrittenAnswer]:
    """The written (manually graded) answers of ``assignment``, in notebook order."""
    found = []
    for source in course.source_notebooks(assignment):
        cells = nbformat.read(source, as_version=4).cells
        for index, cell in enumerate(cells):
            meta = cell.metadata.get("nbgrader", {})
            if not (meta.get("solution") and meta.get("grade") and cell.cell_type == "markdown"):
                continue
            above = (
                cells[index - 1].source
                if index and cells[index - 1].cell_type == "markdown"
                else ""
            )
            found.append(
                WrittenAnswer(
                    source.stem,
                    meta["grade_id"],
                    float(meta.get("points", 0)),
                    above,
                    solution_text(cell.source).strip(),
                    rubric_text(cell.source),
                )
            )
    return found


def _markdown(text: str) -> str:
    import mistune

    return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])(text)


def render_rubric_page(assignment: str, answers: list[WrittenAnswer]) -> str:
    """The HTML rubric page of one assignment."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Rubrics: {esc(assignment)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Rubrics: {esc(assignment)}</h1>",
        "<p class='warning'>For graders only: this page holds model answers.</p>",
        "<p>Open it beside formgrader; each section is named by the cell's grade id.</p><ul>",
    ]
    parts += [
        f"<li><a href='#{esc(a.grade_id)}'><code>{esc(a.grade_id)}</code></a> "
        f"({a.points:g} points)</li>"
        for a in answers
    ]
    parts.append("</ul>")
    for a in answers:
        parts.append(
            f"<section id='{esc(a.grade_id)}'><h2><code>{esc(a.grade_id)}</code> "
            f"({a.points:g} points, notebook {esc(a.notebook)})</h2>"
        )
        if a.question:
            parts.append(f"<h3>Question</h3><div class='question'>{_markdown(a.question)}</div>")
        rubric = a.rubric or "_No rubric in the source: grade against the model answer._"
        parts.append(f"<h3>Rubric</h3><div class='rubric'>{_markdown(rubric)}</div>")
        parts.append(f"<h3>Model answer</h3>{_markdown(a.model_answer)}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_rubrics(
    course: Course, out: Path, assignments: list[str] | None = None
) -> dict[str, Path]:
    """Write ``out/<assignment>.html`` for each assignment with written answers; return them."""
    known = course.assignments()
    written: dict[str, Path] = {}
    for assignment in assignments if assignments is not None else known:
        if assignment not in known:
            continue
        answers = written_answers(course, assignment)
        if not answers:
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{assignment}.html"
        path.write_text(render_rubric_page(assignment, answers), encoding="utf-8")
        written[assignment] = path
    return written
