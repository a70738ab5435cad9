"""The instructor's command line: ``python -m grader release|kit|ingest|autograde|feedback|report|export|rubrics|lint``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections import Counter
from pathlib import Path

from .authoring.lint import lint_course
from .authoring.release import release
from .authoring.samples import write_samples
from .autograde import DEFAULT_MEMORY_MB, autograde
from .console import stderr_to_log
from .course import Course, GraderError
from .records.export import PENDING_CHOICES
from .records.grades import write_csv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Release, autograde, give feedback on and lint Serverless Auth Lab.",
    )
    parser.add_argument(
        "--course", type=Path, default=None, help="course folder (default: found from here)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's log")
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader")
    rel.add_argument("assignments", nargs="*", help="assignments to release (default: all)")

    kit = sub.add_parser("kit", help="the student edition: a folder and a zip, no solutions")
    kit.add_argument("out", type=Path, help="the folder to write (OUT.zip is written beside it)")
    kit.add_argument("--force", action="store_true", help="replace a kit written there before")

    auto = sub.add_parser("autograde", help="grade a folder of submissions into a CSV")
    auto.add_argument(
        "submissions", type=Path, help="folder laid out <student>/<assignment>/<notebook>.ipynb"
    )
    auto.add_argument("--out", type=Path, required=True, help="the CSV to write")
    auto.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where autograded/ and gradebook.db go (default: the course folder)",
    )
    auto.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help="worker processes (default: one per core, plus one)",
    )
    auto.add_argument(
        "--timeout", type=float, default=None, help="per-cell time limit in seconds (default: 30)"
    )
    auto.add_argument(
        "--memory",
        type=int,
        default=DEFAULT_MEMORY_MB,
        help="memory of each kernel's sandbox in MiB: resident memory (cgroups, as root) and "
        f"what each process allocates (default: {DEFAULT_MEMORY_MB}; 0: none); checked on the "
        "solutions first",
    )
    auto.add_argument(
        "--dask", metavar="ADDRESS", default=None, help="send the jobs to this Dask scheduler"
    )
    auto.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    auto.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade without the OS sandbox (bubblewrap): ONLY for trusted work; every output "
        "says so",
    )
    auto.add_argument(
        "--force",
        action="store_true",
        help="grade every submission again (default: only new or changed ones)",
    )

    ing = sub.add_parser("ingest", help="turn an LMS download (folder or zip) into submitted/")
    ing.add_argument("export", type=Path, help="the LMS export: a folder or a zip of flat files")
    ing.add_argument(
        "--out", type=Path, default=None, help="where to lay it out (default: COURSE/submitted)"
    )

    fb = sub.add_parser("feedback", help="per-student HTML feedback from the autograded notebooks")
    fb.add_argument(
        "--workdir", type=Path, default=None, help="autograde's workdir (default: the course)"
    )
    fb.add_argument("--student", default=None, help="only this student")
    fb.add_argument("--assignment", default=None, help="only this assignment")

    rep = sub.add_parser("report", help="class report (HTML and CSV) from the gradebook")
    rep.add_argument(
        "--workdir", type=Path, default=None, help="autograde's workdir (default: the course)"
    )
    rep.add_argument("--out", type=Path, default=Path("report"), help="folder for the report")

    exp = sub.add_parser("export", help="one row per student, a column per assignment, for an LMS")
    exp.add_argument(
        "--workdir", type=Path, default=None, help="autograde's workdir (default: the course)"
    )
    exp.add_argument("--out", type=Path, default=Path("grades-lms.csv"), help="the CSV to write")
    exp.add_argument(
        "--pending",
        choices=PENDING_CHOICES,
        default="blank",
        help="a cell with points still to grade by hand: empty (default) or the points so far",
    )

    rub = sub.add_parser("rubrics", help="a rubric page per assignment, for manual grading")
    rub.add_argument("assignments", nargs="*", help="assignments (default: all)")
    rub.add_argument("--out", type=Path, default=Path("report/rubrics"), help="folder to write")

    lint = sub.add_parser("lint", help="check every notebook against the course's rules")
    lint.add_argument(
        "--static",
        action="store_true",
        help="only the rules read from the notebooks: do not grade the solutions in the judge "
        "(with memorizers of the visible checks, grader/authoring/memorize.py)",
    )
    sub.add_parser(
        "samples", help="rewrite data/submissions (perfect, partial, blank) from the sources"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit code (2 for usage and setup errors)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    if not args.verbose:
        logging.getLogger("traitlets").setLevel(logging.ERROR)
    try:
        course = Course.find(args.course)
        if args.command == "release":
            written = release(course, args.assignments or None)
            print(f"Released {len(written)} notebooks into {course.release_dir}.")
            return 0
        if args.command == "kit":
            from .authoring.kit import build_kit

            kit = build_kit(course, args.out, force=args.force)
            print(f"Wrote the student edition: {kit.folder} ({kit.files} files) and {kit.archive}.")
            return 0
        if args.command == "lint":
            problems = lint_course(course)
            if not args.static:
                from .authoring.memorize import lint_answers

                problems += lint_answers(course)
            for problem in problems:
                print(problem)
            print(f"{len(problems)} problem(s) in {len(course.assignments())} assignments.")
            return 1 if problems else 0
        if args.command == "samples":
            written = write_samples(course)
            print(
                f"Wrote {len(written)} sample submissions under {course.root / 'data' / 'submissions'}."
            )
            return 0
        if args.command == "ingest":
            from .records.ingest import ingest

            out = args.out or course.root / "submitted"
            report = ingest(course, args.export, out)
            print(f"Placed {len(report.placed)} file(s) under {out}.")
            if report.receipts:
                print(f"When each submission was received: {report.receipts}")
            if report.unplaced:
                print(f"{len(report.unplaced)} file(s) could not be placed:")
            for name, reason in report.unplaced:
                print(f"  {name}: {reason}")
            return 0
        if args.command == "feedback":
            from .records.feedback import write_feedback

            work = (args.workdir or course.root).resolve()
            pages = write_feedback(work, student=args.student, assignment=args.assignment)
            print(f"Wrote {len(pages)} feedback page(s) under {work / 'feedback'}.")
            return 0
        if args.command in ("report", "export"):
            work = (args.workdir or course.root).resolve()
            if not (work / "gradebook.db").is_file():
                raise GraderError(f"No gradebook at {work / 'gradebook.db'}: run autograde first.")
            if args.command == "report":
                from .records.report import write_report

                page, table = write_report(course, work, args.out)
                print(f"Report: {page} and {table} (rubrics under {args.out / 'rubrics'})")
                return 0
            from .records.export import export_grades

            done = export_grades(work, args.out, args.pending)
            print(
                f"Exported {done.students} student(s) x {len(done.assignments)} assignment(s) "
                f"to {done.path} (maximum points: {done.maxima})."
            )
            if done.pending:
                left = "left empty" if args.pending == "blank" else "written as the points so far"
                print(
                    f"{len(done.pending)} grade(s) {left}: points still to be graded by hand "
                    "(formgrader, then export again):"
                )
                for student, assignment, points in done.pending:
                    print(f"  {student}/{assignment}: {points:g} point(s)")
            if done.unverified:
                shown = ", ".join(f"{s}/{a}" for s, a in done.unverified[:10])
                more = f" and {len(done.unverified) - 10} more" if len(done.unverified) > 10 else ""
                print(
                    f"Submission time unverified for {len(done.unverified)} grade(s): {shown}"
                    f"{more} (column time_unverified: no record the student does not write "
                    "says when they were received; ingest LMS downloads to record it)."
                )
            return 0
        if args.command == "rubrics":
            from .records.rubrics import write_rubrics

            unknown = [a for a in args.assignments if a not in course.assignments()]
            if unknown:
                raise GraderError(
                    f"No assignment {unknown[0]!r}; known: {', '.join(course.assignments())}."
                )
            pages = write_rubrics(course, args.out, args.assignments or None)
            print(f"Wrote {len(pages)} rubric page(s) under {args.out}.")
            return 0
        if args.command == "autograde":
            started = time.perf_counter()
            if not args.submissions.is_dir():
                raise GraderError(f"No submissions folder at {args.submissions.resolve()}.")
            log_path = (args.workdir or course.root).resolve() / "autograde.log"
            quiet = contextlib.nullcontext(sys.stderr) if args.verbose else stderr_to_log(log_path)
            with quiet:
                rows = _run_autograde(course, args)
            write_csv(rows, args.out)
            counts = Counter(row.status for row in rows)
            if not rows.sandboxed:
                print(
                    "WARNING: graded WITHOUT the OS sandbox (--no-sandbox): student code ran "
                    "as you, with your files and network; use only for trusted work."
                )
            print(
                f"Graded {rows.regraded} notebook(s) in {time.perf_counter() - started:.1f} s; "
                f"{rows.unchanged} unchanged since last graded, not graded again. The class: "
                f"{counts['graded']} graded, {counts['error']} could not be graded. "
                f"Results: {args.out}" + ("" if args.verbose else f"; log: {log_path}")
            )
            for row in rows:
                if row.status == "error":
                    print(f"  {row.student_id}/{row.assignment}/{row.notebook}: {row.reason}")
            return 0
    except GraderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands


def _run_autograde(course: Course, args: argparse.Namespace):
    """``autograde`` with the command line's options."""
    return autograde(
        course,
        args.submissions,
        workdir=args.workdir,
        jobs=args.jobs,
        timeout=args.timeout,
        memory_mb=args.memory,
        dask=args.dask,
        progress=not args.no_progress,
        force=args.force,
        sandbox=not args.no_sandbox,
    )
