"""``python -m grader feedback``: an HTML page per student and notebook, honest and leak-free.

For each graded cell of an autograded notebook the page shows what the cell checks (the
first line of its docstring), the points, the outcome and the message: the exception's name
and text and what the cell printed, never a traceback and never a line of the cell's
source, so hidden tests stay hidden (nbgrader's own feedback shows them: its issue #917).
When a cell also ran hidden checks the page says so. Written answers show their manual
grade and comment, or that they await grading.

Pages go where ``nbgrader generate_feedback`` puts its own,
``feedback/<student>/<assignment>/<notebook>.html``, so ``nbgrader release_feedback`` can
hand them out.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

__all__ = ["cell_outcomes", "render_feedback", "write_feedback"]

_HIDDEN = "### BEGIN HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MESSAGE_LIMIT = 2000

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.5rem;
text-align:left;vertical-align:top}.passed{color:#17663a}.failed{color:#a61b1b}.manual{color:#8a5a00}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem;margin:.25rem 0;font-size:.85rem}
"""


def _first_line(source: str) -> str:
    text = source.lstrip()
    match = re.match(r'^("""|\'\'\')(.+?)\1', text)
    return match.group(2).strip() if match else ""


def _message(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name, value = out.get("ename", "Error"), out.get("evalue", "")
            if name == "NotImplementedError" and not value:
                value = "an answer this check needs is not written yet"
            parts.append(f"{name}: {value}")
        elif out.get("output_type") == "stream":
            parts.append(str(out.get("text", "")))
    text = _ANSI.sub("", "\n".join(p.rstrip() for p in parts if p.strip()))
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "\n…"


def cell_outcomes(nb, grades: dict[str, tuple[float | None, float, str]]) -> list[dict]:
    """One dict per graded cell: grade_id, checks, kind, score, max, outcome, message, hidden.

    ``grades`` maps grade_id to ``(score or None, max score, grader comment)``.
    """
    rows = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        grade_id = meta["grade_id"]
        score, top, comment = grades.get(grade_id, (None, float(meta.get("points", 0)), ""))
        written = bool(meta.get("solution"))
        if written:
            outcome = "manual" if score is None else ("passed" if score >= top else "failed")
            message = comment
            if not message and score == 0:
                message = "no answer given"
        else:
            outcome = "passed" if score is not None and score >= top else "failed"
            message = "" if outcome == "passed" else _message(cell)
        rows.append(
            {
                "grade_id": grade_id,
                "checks": "written answer" if written else _first_line(cell.source),
                "kind": "written" if written else "test",
                "score": score,
                "max": top,
                "outcome": outcome,
                "message": message,
                "hidden": _HIDDEN in cell.source,
            }
        )
    return rows


def render_feedback(student: str, assignment: str, notebook: str, outcomes, score, top) -> str:
    """The HTML page for one notebook."""
    esc = html.escape
    lines = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(notebook)}: feedback for {esc(student)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>{esc(notebook)}</h1><p>Student <b>{esc(student)}</b>, assignment {esc(assignment)}.",
        f" Score: <b>{score:g} / {top:g}</b>.</p>",
        "<table><tr><th>Check</th><th>Points</th><th>Result</th></tr>",
    ]
    for row in outcomes:
        points = "–" if row["score"] is None else f"{row['score']:g}"
        label = {"passed": "passed", "failed": "not passed", "manual": "awaits grading"}[
            row["outcome"]
        ]
        if row["hidden"] and row["outcome"] == "passed":
            label += " (visible and hidden checks)"
        elif row["hidden"]:
            label += " (this cell also runs hidden checks)"
        message = f"<pre>{esc(row['message'])}</pre>" if row["message"] else ""
        lines.append(
            f"<tr><td><code>{esc(row['grade_id'])}</code><br>{esc(row['checks'])}</td>"
            f"<td>{points} / {row['max']:g}</td>"
            f"<td class='{row['outcome']}'>{esc(label)}{message}</td></tr>"
        )
    lines.append("</table></body></html>")
    return "\n".join(lines)


def write_feedback(
    work: Path, *, student: str | None = None, assignment: str | None = None
) -> list[Path]:
    """Write a page for every autograded notebook under ``work`` (optionally filtered)."""
    from nbgrader.api import Gradebook, MissingEntry

    written = []
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        for path in sorted((work / "autograded").glob("*/*/*.ipynb")):
            who, what, name = path.parts[-3], path.parts[-2], path.stem
            if (student and who != student) or (assignment and what != assignment):
                continue
            try:
                graded = gb.find_submission_notebook(name, what, who)
            except MissingEntry:
                continue
            comments = {c.name: c.manual_comment or "" for c in graded.comments}
            grades = {
                g.name: (
                    None if g.auto_score is None and g.manual_score is None else float(g.score),
                    float(g.max_score),
                    comments.get(g.name, ""),
                )
                for g in graded.grades
            }
            nb = nbformat.read(path, as_version=4)
            page = render_feedback(
                who, what, name, cell_outcomes(nb, grades), graded.score, graded.max_score
            )
            out = work / "feedback" / who / what / f"{name}.html"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(page, encoding="utf-8")
            written.append(out)
    return written
