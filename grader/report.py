"""``python -m grader report``: a class's results at a glance, as HTML and CSV.

From the CSV that ``autograde`` wrote: the score distribution (a plot), each exercise's pass
rate (the share of graded notebooks with every auto-graded point of the exercise), the
slowest notebooks, and every submission that could not be graded, with its reason.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import statistics
from pathlib import Path

import nbformat

from .autograde import GradeRow, read_csv
from .course import Course
from .lint import GRADE_ID_RE

__all__ = ["auto_points", "summarise", "write_report"]

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


def summarise(rows: list[GradeRow], course: Course) -> dict:
    """Per assignment: counts, mean and median percentage, pass rates; plus slowest and errors."""
    known = set(course.assignments())
    assignments: dict[str, dict] = {}
    for name in sorted({r.assignment for r in rows}):
        mine = [r for r in rows if r.assignment == name]
        graded = [r for r in mine if r.status == "graded"]
        percents = [100 * r.score / r.max_score for r in graded if r.max_score]
        rates = {}
        for exercise, top in (auto_points(course, name) if name in known else {}).items():
            if top > 0 and graded:
                passed = sum(r.exercises.get(exercise, 0.0) >= top - 1e-9 for r in graded)
                rates[exercise] = (passed, len(graded))
        assignments[name] = {
            "submitted": len(mine),
            "graded": len(graded),
            "errors": len(mine) - len(graded),
            "percents": percents,
            "mean": statistics.fmean(percents) if percents else None,
            "median": statistics.median(percents) if percents else None,
            "pass_rates": rates,
        }
    timed = sorted((r for r in rows if r.seconds is not None), key=lambda r: -(r.seconds or 0))
    errors = [r for r in rows if r.status == "error"]
    return {"assignments": assignments, "slowest": timed[:SLOWEST], "errors": errors}


def _plot(summary: dict) -> str:
    """The score distribution as a base64 PNG (stacked histogram, one colour per assignment)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = {k: v["percents"] for k, v in summary["assignments"].items() if v["percents"]}
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    if data:
        ax.hist(
            list(data.values()),
            bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.001],
            stacked=True,
            label=list(data),
        )
        ax.legend(fontsize=8)
    ax.set_xlabel("score (% of the notebook's points)")
    ax.set_ylabel("notebooks")
    ax.set_title("Score distribution")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _csv_rows(summary: dict) -> list[list]:
    rows: list[list] = [["section", "assignment", "item", "value", "detail"]]
    for name, info in summary["assignments"].items():
        for key in ("submitted", "graded", "errors", "mean", "median"):
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
    return rows


def _html(summary: dict, plot: str) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Grading report</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse;margin:1rem 0}td,th{border-bottom:1px "
        "solid #ddd;padding:.3rem .6rem;text-align:left}</style></head><body>",
        "<h1>Grading report</h1>",
        f"<img alt='score distribution' src='data:image/png;base64,{plot}'>",
        "<h2>Assignments</h2><table><tr><th>assignment</th><th>submitted</th><th>graded</th>"
        "<th>could not grade</th><th>mean %</th><th>median %</th><th>pass rate per exercise</th></tr>",
    ]
    for name, info in summary["assignments"].items():
        rates = ", ".join(
            f"{ex}: {p}/{t} ({p / t:.0%})" for ex, (p, t) in info["pass_rates"].items()
        )
        mean = "–" if info["mean"] is None else f"{info['mean']:.1f}"
        median = "–" if info["median"] is None else f"{info['median']:.1f}"
        parts.append(
            f"<tr><td>{esc(name)}</td><td>{info['submitted']}</td><td>{info['graded']}</td>"
            f"<td>{info['errors']}</td><td>{mean}</td><td>{median}</td><td>{esc(rates)}</td></tr>"
        )
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


def write_report(course: Course, grades: Path, out: Path) -> tuple[Path, Path]:
    """Write ``out/report.html`` and ``out/report.csv`` from the grades CSV; return both paths."""
    summary = summarise(read_csv(grades), course)
    out.mkdir(parents=True, exist_ok=True)
    page, table = out / "report.html", out / "report.csv"
    page.write_text(_html(summary, _plot(summary)), encoding="utf-8")
    with table.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(_csv_rows(summary))
    return page, table
