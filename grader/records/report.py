"""``python -m grader report``: a class's results at a glance, as HTML and CSV.

Read from the gradebook as it stands (:mod:`grader.records.results`), so manual grades entered in
formgrader show at once: a student-by-assignment table, the score distribution (a plot),
each exercise's pass rate (the share of graded notebooks with every auto-graded point of
the exercise), the slowest notebooks, and every submission that could not be graded, with
its reason. Points still to be graded by hand are shown as pending: a notebook's percentage
is of the points graded so far, so pending points never count as zero in a mean.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from pathlib import Path

import nbformat

from ..authoring.lint import GRADE_ID_RE
from ..course import Course
from .grades import TIME_UNVERIFIED, GradeRow

__all__ = ["auto_points", "graded_percent", "student_table", "summarise", "write_report"]

SLOWEST = 10


def auto_points(course: Course, assignment: str) -> dict[str, float]:
    """``{"ex1": points}``: the auto-graded (test) points of each exercise of ``assignment``."""
    points: dict[str, float] = {}
    for source in course.source_notebooks(assignment):
        for cell in nbformat.read(source, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            match = GRADE_ID_RE.match(str(meta.get("grade_id", "")))
            if meta.get("grade") and not meta.get("solution") and match:
                key = f"ex{match.group(1)}"
                points[key] = points.get(key, 0.0) + float(meta.get("points", 0))
    return points


def graded_percent(row: GradeRow) -> float | None:
    """The row's score as a percentage of the points graded so far (None: nothing graded yet)."""
    graded = row.max_score - row.pending
    return 100 * row.score / graded if graded > 0 else None


def student_table(rows: list[GradeRow]) -> tuple[list[str], dict[str, dict[str, dict]]]:
    """``(assignments, {student: {assignment: cell}})``; a cell sums the notebooks of one
    submission: ``score``, ``max``, ``pending``, ``error`` (a reason, or "") and
    ``submitted`` (when it was received, or "" when that time is unverified)."""
    assignments = sorted({r.assignment for r in rows})
    table: dict[str, dict[str, dict]] = {}
    for r in rows:
        cell = table.setdefault(r.student_id, {}).setdefault(
            r.assignment,
            {"score": 0.0, "max": 0.0, "pending": 0.0, "error": "", "submitted": r.submitted},
        )
        if not r.submitted:
            cell["submitted"] = ""
        cell["score"] += r.score
        cell["max"] += r.max_score
        cell["pending"] += r.pending
        if r.status == "error" and not cell["error"]:
            cell["error"] = r.reason or "could not be graded"
    return assignments, dict(sorted(table.items()))


def summarise(rows: list[GradeRow], course: Course) -> dict:
    """Per assignment: counts, mean and median percentage, pass rates; plus slowest and errors."""
    known = set(course.assignments())
    assignments: dict[str, dict] = {}
    for name in sorted({r.assignment for r in rows}):
        mine = [r for r in rows if r.assignment == name]
        graded = [r for r in mine if r.status == "graded"]
        percents = [p for p in map(graded_percent, graded) if p is not None]
        rates = {}
        for exercise, top in (auto_points(course, name) if name in known else {}).items():
            if top > 0 and graded:
                passed = sum(r.exercises.get(exercise, 0.0) >= top - 1e-9 for r in graded)
                rates[exercise] = (passed, len(graded))
        assignments[name] = {
            "submitted": len(mine),
            "graded": len(graded),
            "errors": len(mine) - len(graded),
            "pending": sum(1 for r in graded if r.pending),
            "pending_points": sum(r.pending for r in graded),
            "percents": percents,
            "mean": statistics.fmean(percents) if percents else None,
            "median": statistics.median(percents) if percents else None,
            "pass_rates": rates,
        }
    timed = sorted((r for r in rows if r.seconds is not None), key=lambda r: -(r.seconds or 0))
    errors = [r for r in rows if r.status == "error"]
    names, table = student_table(rows)
    from .grades import UNSANDBOXED_NOTE

    return {
        "assignments": assignments,
        "unsandboxed": sum(UNSANDBOXED_NOTE in r.reason for r in rows),
        "unverified": sum(
            not cell["submitted"] for cells in table.values() for cell in cells.values()
        ),
        "slowest": timed[:SLOWEST],
        "errors": errors,
        "columns": names,
        "students": table,
    }


def _plot(summary: dict) -> str:
    """The score distribution as a base64 PNG (stacked histogram, one colour per assignment)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = {k: v["percents"] for k, v in summary["assignments"].items() if v["percents"]}
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    if data:
        ax.hist(
            list(data.values()),
            bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.001],
            stacked=True,
            label=list(data),
        )
        # Beside the axes, never over the bars.
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xlabel("score (% of the notebook's points)")
    ax.set_ylabel("notebooks")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Score distribution")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _csv_rows(summary: dict) -> list[list]:
    rows: list[list] = [["section", "assignment", "item", "value", "detail"]]
    for name, info in summary["assignments"].items():
        for key in ("submitted", "graded", "errors", "pending", "mean", "median"):
            value = info[key]
            rows.append(["summary", name, key, "" if value is None else round(value, 2), ""])
        for exercise, (passed, total) in info["pass_rates"].items():
            rows.append(
                ["pass_rate", name, exercise, round(passed / total, 3), f"{passed}/{total}"]
            )
    for r in summary["slowest"]:
        rows.append(["slowest", r.assignment, r.student_id, round(r.seconds or 0, 2), r.notebook])
    for r in summary["errors"]:
        rows.append(["ungraded", r.assignment, r.student_id, r.notebook, r.reason])
    for student, cells in summary["students"].items():
        for name, cell in cells.items():
            value = "" if cell["error"] or cell["pending"] else f"{cell['score']:g}"
            rows.append(["student", name, student, value, _cell_text(cell)])
    for student, cells in summary["students"].items():
        for name, cell in cells.items():
            rows.append(["submitted", name, student, cell["submitted"] or TIME_UNVERIFIED, ""])
    return rows


def _cell_text(cell: dict) -> str:
    """One submission's result in words: "5 / 8", "5 / 8, 3 pending" or "error: ..."."""
    if cell["error"]:
        return f"error: {cell['error']}"
    text = f"{cell['score']:g} / {cell['max']:g}"
    return text + (f", {cell['pending']:g} pending" if cell["pending"] else "")


def _html(summary: dict, plot: str, rubrics: dict[str, str] | None = None) -> str:
    """The report page; ``rubrics`` maps an assignment to its rubric page's relative URL."""
    esc = html.escape
    rubrics = rubrics or {}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Grading report</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse;margin:1rem 0}td,th{border-bottom:1px "
        "solid #ddd;padding:.3rem .6rem;text-align:left}.pending{color:#8a5a00}"
        ".error{color:#a61b1b}td.num{text-align:right}</style></head><body>",
        "<h1>Grading report</h1>",
        "<p>Read from the gradebook as it stands: manual grades entered in formgrader are "
        "included. <span class='pending'>Pending</span> points are still to be graded by hand; "
        "percentages are of the points graded so far.</p>",
        (
            f"<p class='error'><strong>{summary['unsandboxed']} notebook(s) were graded "
            "WITHOUT the OS sandbox (--no-sandbox): trusted work only.</strong></p>"
            if summary.get("unsandboxed")
            else ""
        ),
        (
            f"<p class='pending'><strong>{summary['unverified']} submission(s): "
            f"{TIME_UNVERIFIED}</strong> (no record the student does not write says when it "
            "was received: its timestamp.txt is the student's word, and is not used).</p>"
            if summary.get("unverified")
            else ""
        ),
        f"<img alt='score distribution' src='data:image/png;base64,{plot}'>",
        "<h2>Assignments</h2><table><tr><th>assignment</th><th>submitted</th><th>graded</th>"
        "<th>could not grade</th><th>awaiting manual grading</th><th>mean %</th>"
        "<th>median %</th><th>pass rate per exercise</th><th>rubric</th></tr>",
    ]
    for name, info in summary["assignments"].items():
        rates = ", ".join(
            f"{ex}: {p}/{t} ({p / t:.0%})" for ex, (p, t) in info["pass_rates"].items()
        )
        mean = "–" if info["mean"] is None else f"{info['mean']:.1f}"
        median = "–" if info["median"] is None else f"{info['median']:.1f}"
        pending = (
            f"{info['pending']} ({info['pending_points']:g} points)" if info["pending"] else "0"
        )
        rubric = f"<a href='{esc(rubrics[name])}'>rubric</a>" if name in rubrics else ""
        parts.append(
            f"<tr><td>{esc(name)}</td><td>{info['submitted']}</td><td>{info['graded']}</td>"
            f"<td>{info['errors']}</td><td>{pending}</td><td>{mean}</td><td>{median}</td>"
            f"<td>{esc(rates)}</td><td>{rubric}</td></tr>"
        )
    parts.append("</table><h2>Students</h2><table><tr><th>student</th>")
    columns = summary["columns"]
    parts += [f"<th>{esc(name)}</th>" for name in columns]
    parts.append("<th>total</th></tr>")
    for student, cells in summary["students"].items():
        parts.append(f"<tr><td>{esc(student)}</td>")
        total = total_max = total_pending = 0.0
        for name in columns:
            cell = cells.get(name)
            if cell is None:
                parts.append("<td>–</td>")
                continue
            total, total_max = total + cell["score"], total_max + cell["max"]
            total_pending += cell["pending"]
            when = (
                f"<br><small title='{esc(cell['submitted'])}'>received {esc(cell['submitted'])}"
                "</small>"
                if cell["submitted"]
                else f"<br><small class='pending'>{TIME_UNVERIFIED}</small>"
            )
            if cell["error"]:
                parts.append(f"<td class='error' title='{esc(cell['error'])}'>error{when}</td>")
            elif cell["pending"]:
                parts.append(
                    f"<td class='pending'>{cell['score']:g} / {cell['max']:g}<br>"
                    f"{cell['pending']:g} pending{when}</td>"
                )
            else:
                parts.append(f"<td class='num'>{cell['score']:g} / {cell['max']:g}{when}</td>")
        extra = f"<br>{total_pending:g} pending" if total_pending else ""
        parts.append(f"<td class='num'>{total:g} / {total_max:g}{extra}</td></tr>")
    parts.append(
        "</table><h2>Slowest notebooks</h2><table><tr><th>student</th><th>notebook</th>"
        "<th>seconds</th></tr>"
    )
    for r in summary["slowest"]:
        parts.append(
            f"<tr><td>{esc(r.student_id)}</td><td>{esc(r.notebook)}</td>"
            f"<td>{r.seconds:.1f}</td></tr>"
        )
    parts.append(
        f"</table><h2>Could not be graded ({len(summary['errors'])})</h2><table>"
        "<tr><th>student</th><th>assignment</th><th>notebook</th><th>reason</th></tr>"
    )
    for r in summary["errors"]:
        parts.append(
            f"<tr><td>{esc(r.student_id)}</td><td>{esc(r.assignment)}</td>"
            f"<td>{esc(r.notebook)}</td><td>{esc(r.reason)}</td></tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_report(course: Course, work: Path, out: Path) -> tuple[Path, Path]:
    """Write ``out/report.html`` and ``out/report.csv`` from the gradebook in ``work``.

    Also writes a rubric page per assignment with written answers under ``out/rubrics/``,
    linked from the report. Returns the page and the CSV.
    """
    from .results import class_rows
    from .rubrics import write_rubrics

    summary = summarise(class_rows(work), course)
    out.mkdir(parents=True, exist_ok=True)
    pages = write_rubrics(course, out / "rubrics", list(summary["assignments"]))
    links = {name: f"rubrics/{path.name}" for name, path in pages.items()}
    page, table = out / "report.html", out / "report.csv"
    page.write_text(_html(summary, _plot(summary), links), encoding="utf-8")
    from .safecsv import write_rows

    write_rows(table, _csv_rows(summary))
    return page, table
