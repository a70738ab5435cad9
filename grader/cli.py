"""The instructor's command line: ``python -m grader release|autograde|ingest|feedback|report|lint``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path

from .autograde import DEFAULT_MEMORY_MB, autograde, write_csv
from .course import Course, GraderError
from .lint import lint_course
from .release import release
from .samples import write_samples


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
        "--jobs", "-j", type=int, default=None, help="worker processes (default: one per core)"
    )
    auto.add_argument(
        "--timeout", type=float, default=None, help="per-cell time limit in seconds (default: 30)"
    )
    auto.add_argument(
        "--memory",
        type=int,
        default=DEFAULT_MEMORY_MB,
        help=f"memory limit of each kernel in MiB (default: {DEFAULT_MEMORY_MB}; 0: none)",
    )
    auto.add_argument(
        "--dask", metavar="ADDRESS", default=None, help="send the jobs to this Dask scheduler"
    )
    auto.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

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

    rep = sub.add_parser("report", help="class report (HTML and CSV) from autograde's CSV")
    rep.add_argument("--grades", type=Path, default=Path("grades.csv"), help="autograde's CSV")
    rep.add_argument("--out", type=Path, default=Path("report"), help="folder for the report")

    sub.add_parser("lint", help="check every notebook against the course's rules")
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
        if args.command == "lint":
            problems = lint_course(course)
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
            from .ingest import ingest

            out = args.out or course.root / "submitted"
            report = ingest(course, args.export, out)
            print(f"Placed {len(report.placed)} file(s) under {out}.")
            if report.unplaced:
                print(f"{len(report.unplaced)} file(s) could not be placed:")
            for name, reason in report.unplaced:
                print(f"  {name}: {reason}")
            return 0
        if args.command == "feedback":
            from .feedback import write_feedback

            work = (args.workdir or course.root).resolve()
            pages = write_feedback(work, student=args.student, assignment=args.assignment)
            print(f"Wrote {len(pages)} feedback page(s) under {work / 'feedback'}.")
            return 0
        if args.command == "report":
            from .report import write_report

            if not args.grades.is_file():
                raise GraderError(f"No grades CSV at {args.grades}: run autograde first.")
            page, table = write_report(course, args.grades, args.out)
            print(f"Report: {page} and {table}")
            return 0
        if args.command == "autograde":
            started = time.perf_counter()
            rows = autograde(
                course,
                args.submissions,
                workdir=args.workdir,
                jobs=args.jobs,
                timeout=args.timeout,
                memory_mb=args.memory,
                dask=args.dask,
                progress=not args.no_progress,
            )
            write_csv(rows, args.out)
            counts = Counter(row.status for row in rows)
            print(
                f"Graded {counts['graded']} notebook(s), {counts['error']} could not be graded, "
                f"in {time.perf_counter() - started:.1f} s. Results: {args.out}"
            )
            for row in rows:
                if row.status == "error":
                    print(f"  {row.student_id}/{row.assignment}/{row.notebook}: {row.reason}")
            return 0
    except GraderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands
