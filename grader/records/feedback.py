"""``python -m grader feedback``: an HTML page per student and notebook, honest and leak-free.

The page goes exercise by exercise: the student's own answer cells (what they wrote, and
the manual grader's comment on it), then each check of the exercise with its points, the
outcome and the message: the verdict of the grader's judge (:mod:`grader.judge.script`), or the
exception's name and text, never what the student's code printed during a test, never a
traceback and never a line of the cell's source, so hidden tests stay hidden (nbgrader's
own feedback shows them: its issue #917). When a cell also ran hidden checks the page says
so. A partly credited cell says "2 of 3 points"; a written answer shows its grade and the
grader's comment, or that it awaits grading; the score says how many points are still to
be graded by hand. Scores and comments are read from the gradebook when the page is made,
so pages written after manual grading carry it.

Pages go where ``nbgrader generate_feedback`` puts its own,
``feedback/<student>/<assignment>/<notebook>.html``, so ``nbgrader release_feedback`` can
hand them out.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

from ..authoring.lint import GRADE_ID_RE

__all__ = ["answer_cells", "cell_outcomes", "points_phrase", "render_feedback", "write_feedback"]

_HIDDEN = "### BEGIN HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MESSAGE_LIMIT = 2000
_ANSWER_LIMIT = 20000
_VISIBLE_PASSED = re.compile(r"^\W*Visible checks passed\..*$", re.MULTILINE)

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.5rem;
text-align:left;vertical-align:top}.passed{color:#17663a}.failed{color:#a61b1b}
.partial,.manual,.pending{color:#8a5a00}.note{color:#444}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem;margin:.25rem 0;font-size:.85rem;color:#222}
.answer pre{background:#f3f6fb}.comment{background:#fff8e6;padding:.4rem .6rem;margin:.25rem 0}
section{border-top:2px solid #ddd;margin-top:1.2rem}
"""


def _first_line(source: str) -> str:
    text = source.lstrip()
    match = re.match(r'^("""|\'\'\')(.+?)\1', text)
    return match.group(2).strip() if match else ""


def _message(cell) -> tuple[str, bool]:
    """A failed check's message (its errors), and whether its visible checks passed (said by
    a line of its own output, never by an error's text, which the student's code may write)."""
    parts = []
    visible_passed = False
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name, value = out.get("ename", "Error"), out.get("evalue", "")
            if name == "NotImplementedError" and not value:
                value = "an answer this check needs is not written yet"
            parts.append(f"{name}: {value}")
        elif out.get("output_type") == "stream":
            # What a test printed is never shown: it may come from the student's code.
            visible_passed |= bool(_VISIBLE_PASSED.search(str(out.get("text", ""))))
    text = _ANSI.sub("", "\n".join(p.rstrip() for p in parts if p.strip()))
    text = text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "\n…"
    return text, visible_passed


def _unchanged(cell) -> bool:
    """True when an answer cell still holds the stub it was released with (nbgrader's checksum)."""
    from nbgrader.utils import compute_checksum

    checksum = cell.metadata.get("nbgrader", {}).get("checksum")
    return bool(checksum) and compute_checksum(cell) == checksum


def points_phrase(points: float) -> str:
    """``"1 point"``, ``"3 points"``, ``"1.5 points"``."""
    return f"{points:g} point" + ("" if points == 1 else "s")


def _exercise(grade_id: str) -> str:
    match = GRADE_ID_RE.match(grade_id)
    return f"Exercise {match.group(1)}" if match else "Other checks"


def answer_cells(nb, comments: dict[str, str], solution_ids: set[str] | None = None) -> list[dict]:
    """The student's answer cells (nbgrader solution cells): grade_id, exercise, kind, text,
    and the manual grader's ``comment`` on it ("" when none).

    Only solution cells are shown: their content is the student's own, never the course's.
    ``solution_ids`` (the gradebook's solution cells) overrides the cells' own metadata, which
    a student can edit: a test cell claiming to be an answer is never shown.
    """
    found = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        if solution_ids is not None and meta.get("grade_id") not in solution_ids:
            continue
        text = (
            cell.source
            if len(cell.source) <= _ANSWER_LIMIT
            else cell.source[:_ANSWER_LIMIT] + "\n…"
        )
        found.append(
            {
                "grade_id": meta.get("grade_id", ""),
                "exercise": _exercise(meta.get("grade_id", "")),
                "kind": "code" if cell.cell_type == "code" else "text",
                "text": text,
                "comment": comments.get(meta.get("grade_id", ""), ""),
                "graded": bool(meta.get("grade")),
            }
        )
    return found


def cell_outcomes(nb, grades: dict[str, tuple[float | None, float, str]]) -> list[dict]:
    """One dict per graded cell: grade_id, exercise, checks, kind, score, max, outcome
    (passed, partial, failed or manual), message, hidden, visible_passed, comment.

    ``grades`` maps grade_id to ``(score or None while pending, max score, grader comment)``.
    """
    rows = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        grade_id = meta["grade_id"]
        score, top, comment = grades.get(grade_id, (None, float(meta.get("points", 0)), ""))
        written = bool(meta.get("solution"))
        visible_passed = False
        errored = any(out.get("output_type") == "error" for out in cell.get("outputs", []))
        if score is None:
            outcome = "manual"
        elif top == 0 and errored:  # a 0-point check (a written answer left blank) that failed
            outcome = "failed"
        elif score >= top:
            outcome = "passed"
        elif score > 0:
            outcome = "partial"
        else:
            outcome = "failed"
        unanswered = False
        if written:
            message = comment
            unanswered = _unchanged(cell)
            if not message and score == 0 and unanswered:
                message = "no answer given"
        else:
            if outcome != "passed":
                message, visible_passed = _message(cell)
            else:
                message = ""
        rows.append(
            {
                "grade_id": grade_id,
                "exercise": _exercise(grade_id),
                "checks": "written answer" if written else _first_line(cell.source),
                "kind": "written" if written else "test",
                "score": score,
                "max": top,
                "outcome": outcome,
                "message": message,
                "hidden": _HIDDEN in cell.source,
                "visible_passed": visible_passed,
                "unanswered": unanswered,
                "comment": comment if not written else "",
            }
        )
    return rows


def _label(row: dict) -> str:
    """The outcome of one check in words."""
    if row["outcome"] == "manual":
        return "awaits grading by hand"
    if row["kind"] == "written" and row.get("unanswered") and not row["score"]:
        return f"not answered: 0 of {points_phrase(row['max'])}"
    if row["kind"] == "written":
        return f"graded by hand: {row['score']:g} of {points_phrase(row['max'])}"
    if row["outcome"] == "passed":
        return "passed (visible and hidden checks)" if row["hidden"] else "passed"
    if row["outcome"] == "partial":
        return f"{row['score']:g} of {points_phrase(row['max'])}"
    return "not passed"


def _score_line(score: float, top: float, pending: float) -> str:
    text = f"Score: <b>{score:g} / {top:g}</b>"
    if pending:
        text += (
            f" <span class='pending'>({points_phrase(pending)} still to be graded by hand)</span>"
        )
    return text + "."


def render_feedback(
    student: str,
    assignment: str,
    notebook: str,
    outcomes: list[dict],
    score: float,
    top: float,
    answers: list[dict] | None = None,
    note: str = "",
) -> str:
    """The HTML page for one notebook: per exercise, the student's answers, then its checks.

    ``note`` is said at the top (that the notebook was graded without the OS sandbox)."""
    esc = html.escape
    answers = answers or []
    pending = sum(row["max"] for row in outcomes if row["outcome"] == "manual")
    lines = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(notebook)}: feedback for {esc(student)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>{esc(notebook)}</h1><p>Student <b>{esc(student)}</b>, assignment {esc(assignment)}. ",
        _score_line(score, top, pending) + "</p>",
        f"<p class='failed'><strong>{esc(note)}</strong></p>" if note else "",
    ]
    order = []
    for item in [*answers, *outcomes]:
        if item["exercise"] not in order:
            order.append(item["exercise"])
    for exercise in order:
        lines.append(f"<section><h2>{esc(exercise)}</h2>")
        for answer in (a for a in answers if a["exercise"] == exercise):
            if answer["graded"]:
                continue  # a written answer is shown with its grade below
            lines.append(
                f"<div class='answer'><b>Your answer</b> <code>{esc(answer['grade_id'])}</code>"
                f"<pre>{esc(answer['text'])}</pre>"
            )
            if answer["comment"]:
                lines.append(f"<div class='comment'><b>Grader:</b> {esc(answer['comment'])}</div>")
            lines.append("</div>")
        lines.append("<table><tr><th>Check</th><th>Points</th><th>Result</th></tr>")
        for row in (r for r in outcomes if r["exercise"] == exercise):
            points = "–" if row["score"] is None else f"{row['score']:g}"
            result = f"<span class='{row['outcome']}'>{esc(_label(row))}</span>"
            if row["visible_passed"]:
                result += (
                    "<div class='note'>The visible checks passed; a hidden check did not.</div>"
                )
            elif row["hidden"] and row["outcome"] != "passed":
                result += "<div class='note'>This cell also runs hidden checks.</div>"
            check = f"<code>{esc(row['grade_id'])}</code><br>{esc(row['checks'])}"
            if row["kind"] == "written":
                text = next((a["text"] for a in answers if a["grade_id"] == row["grade_id"]), "")
                check += f"<div class='answer'><b>Your answer</b><pre>{esc(text)}</pre></div>"
                if row["message"]:
                    kind = (
                        "comment"
                        if row["score"] is not None and row["message"] != "no answer given"
                        else "note"
                    )
                    who = "<b>Grader:</b> " if kind == "comment" else ""
                    result += f"<div class='{kind}'>{who}{esc(row['message'])}</div>"
            elif row["message"]:
                result += f"<pre>{esc(row['message'])}</pre>"
            if row["comment"]:
                result += f"<div class='comment'><b>Grader:</b> {esc(row['comment'])}</div>"
            lines.append(
                f"<tr><td>{check}</td><td>{points} / {row['max']:g}</td><td>{result}</td></tr>"
            )
        lines.append("</table></section>")
    lines.append("</body></html>")
    return "\n".join(lines)


def write_feedback(
    work: Path, *, student: str | None = None, assignment: str | None = None
) -> list[Path]:
    """Write a page for every autograded notebook under ``work`` (optionally filtered)."""
    from nbgrader.api import Gradebook, MissingEntry

    from .grades import UNSANDBOXED_NOTE
    from .ledger import Ledger

    outcomes = Ledger(work / "gradebook.db").outcomes()
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
            solution_ids = {c.name for c in gb.find_notebook(name, what).solution_cells}
            nb = nbformat.read(path, as_version=4)
            page = render_feedback(
                who,
                what,
                name,
                cell_outcomes(nb, grades),
                graded.score,
                graded.max_score,
                answer_cells(nb, comments, solution_ids),
                note=UNSANDBOXED_NOTE
                if UNSANDBOXED_NOTE in getattr(outcomes.get((who, what, name)), "reason", "")
                else "",
            )
            out = work / "feedback" / who / what / f"{name}.html"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(page, encoding="utf-8")
            written.append(out)
    return written
