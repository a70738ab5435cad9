"""The instructor's command line: ``python -m grader release|autograde|lint``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path

from .autograde import autograde, write_csv
from .course import Course, GraderError
from .lint import lint_course
from .release import release
from .samples import write_samples


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader", description="Release, autograde and lint Serverless Auth Lab."
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
        if args.command == "autograde":
            started = time.perf_counter()
            rows = autograde(course, args.submissions, workdir=args.workdir)
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
