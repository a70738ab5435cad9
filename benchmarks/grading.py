"""Grading a class: plain ``nbgrader autograde`` against ``python -m grader autograde``.

Builds a class of synthetic submissions (``--students``, default 30, each submitting every
notebook of the course that has graded cells; a mix of perfect, partial, blank and broken
ones) and grades it twice in this run:

1. plain nbgrader: ``nbgrader generate_assignment`` then ``nbgrader autograde`` for each
   assignment over the whole class (its command line, one student after another);
2. ``python -m grader autograde`` (parallel workers, sandboxed kernels).

Prints both times, seconds per notebook and the ratio, and checks that the scores agree for
every submission nbgrader could grade. Goal: at least 2x faster on a 2-core machine. Memory:
the RSS of each worker's process tree (the worker, its sandbox and the kernel in it) is
sampled every 0.2 s, and the peak is printed per worker, beside plain nbgrader's (its
process and its kernel), and the largest single process (``ru_maxrss`` of the children).

Then the incremental regrade, against the first ``grader`` run as the baseline:

3. ``grader autograde`` again on the unchanged class: nothing is graded (goal: under a tenth
   of the first run's time);
4. once more after one late submission: one student's notebooks are graded.

    .venv/bin/python benchmarks/grading.py [--students 30] [--jobs N] [--no-plain]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.authoring.samples import KINDS, fill_answers  # noqa: E402
from grader.course import Course  # noqa: E402
from grader.records.grades import read_csv  # noqa: E402

GOAL = 2.0
INCREMENTAL_GOAL = 0.1  # an unchanged class regrades in under a tenth of the first run
MIX = ("perfect", "partial", "blank", "perfect", "partial", "broken")


def build_class(course: Course, target: Path, students: int) -> list[str]:
    """Write ``students`` submissions of every graded assignment; return the assignments."""
    assignments = [
        a
        for a in course.assignments()
        if course.max_points(a) > 0 and course.student_notebook(a).is_file()
    ]
    for index in range(students):
        kind = MIX[index % len(MIX)]
        student = f"s{index:03d}-{kind}"
        for assignment in assignments:
            for source in course.source_notebooks(assignment):
                out = target / student / assignment / source.name
                out.parent.mkdir(parents=True, exist_ok=True)
                if kind == "broken":
                    out.write_text('{"cells": [', encoding="utf-8")
                    continue
                student_nb = course.student_notebook(assignment, source.stem)
                nbformat.write(fill_answers(source, student_nb, KINDS[kind]), out)
    return assignments


class PeakMemory:
    """Samples the RSS of the process trees under ``pid``: each child's whole tree, summed."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}  # a child of the watched process -> its tree's peak
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, pid: int, *, children: bool) -> None:
        """Sample ``pid``'s children's trees (``children``) or ``pid``'s whole tree."""
        import psutil

        def sample() -> None:
            while not self._stop.wait(0.2):
                try:
                    root = psutil.Process(pid)
                    tops = root.children() if children else [root]
                    for top in tops:
                        tree = [top, *top.children(recursive=True)]
                        rss = sum(_rss(p) for p in tree)
                        self.peaks[top.pid] = max(self.peaks.get(top.pid, 0), rss)
                except Exception:  # noqa: BLE001 - processes come and go
                    continue

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def summary(self) -> str:
        """``max X MiB, mean Y MiB over N`` of the peaks, or ``-``."""
        if not self.peaks:
            return "-"
        peaks = [v / 2**20 for v in self.peaks.values()]
        return f"max {max(peaks):.0f} MiB, mean {sum(peaks) / len(peaks):.0f} MiB over {len(peaks)}"


def _rss(process) -> int:
    try:
        return process.memory_info().rss
    except Exception:  # noqa: BLE001 - gone
        return 0


def plain_nbgrader(course: Course, work: Path, assignments: list[str]) -> float:
    """Seconds for nbgrader's own command line over the class in ``work/submitted``."""
    nbgrader = Path(sys.executable).with_name("nbgrader")
    common = [
        f"--CourseDirectory.root={work}",
        f"--CourseDirectory.source_directory={course.source_dir}",
        f"--CourseDirectory.release_directory={work / 'release'}",
        f"--CourseDirectory.db_url=sqlite:///{work / 'gradebook.db'}",
        "--log-level=ERROR",
        # nbgrader_config.py closes nbgrader's own Autograde (grader/guard.py); the baseline
        # reopens it here, on the synthetic class only, with nbgrader's default exporter.
        "--Autograde.exporter_class=nbconvert.exporters.NotebookExporter",
    ]
    env = {**os.environ, "PATH": f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    for assignment in assignments:
        for command in ("generate_assignment", "autograde"):
            process = subprocess.Popen(
                [str(nbgrader), command, assignment, "--force", "--create", *common],
                cwd=course.root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            memory = PeakMemory()
            memory.watch(process.pid, children=False)
            process.wait()
            memory.stop()
            if memory.peaks:
                PLAIN_PEAKS.append(max(memory.peaks.values()))
    return time.perf_counter() - started


PLAIN_PEAKS: list[int] = []
"""Peak RSS of plain nbgrader's process tree, per command run."""


def plain_scores(work: Path) -> dict[tuple[str, str, str], float]:
    """Scores nbgrader recorded for the notebooks it autograded."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        for path in sorted((work / "autograded").glob("*/*/*.ipynb")):
            student, assignment, name = path.parts[-3], path.parts[-2], path.stem
            try:
                found[(student, assignment, name)] = float(
                    gb.find_submission_notebook(name, assignment, student).score
                )
            except MissingEntry:
                pass
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument(
        "--no-plain",
        action="store_true",
        help="skip plain nbgrader; time the incremental runs only",
    )
    args = parser.parse_args(argv)
    course = Course(ROOT)
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        assignments = build_class(course, tmp / "class", args.students)
        notebooks = sum(1 for _ in (tmp / "class").glob("*/*/*.ipynb"))
        print(
            f"class: {args.students} students x {len(assignments)} assignments = "
            f"{notebooks} notebooks ({', '.join(assignments)})"
        )
        plain = tmp / "plain"
        shutil.copytree(tmp / "class", plain / "submitted")
        plain_seconds = 0.0 if args.no_plain else plain_nbgrader(course, plain, assignments)

        ours = tmp / "ours"
        command = [sys.executable, "-m", "grader", "autograde", str(tmp / "class")]
        command += ["--out", str(ours / "grades.csv"), "--workdir", str(ours), "--no-progress"]
        if args.jobs:
            command += ["--jobs", str(args.jobs)]

        memory = PeakMemory()

        def run(watch: bool = False) -> float:
            started = time.perf_counter()
            process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if watch:
                memory.watch(process.pid, children=True)
            process.wait()
            memory.stop()
            return time.perf_counter() - started

        our_seconds = run(watch=True)
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        unchanged_seconds = run()
        unchanged_rows = len(read_csv(ours / "grades.csv"))
        late = build_class(course, tmp / "late", 1)
        for folder in (tmp / "late").iterdir():
            shutil.copytree(folder, tmp / "class" / "late-student")
        late_seconds = run()
        late_notebooks = sum(1 for _ in (tmp / "class" / "late-student").glob("*/*.ipynb"))
        late_rows = len(read_csv(ours / "grades.csv"))

        expected = {} if args.no_plain else plain_scores(plain)
        rows = read_csv(ours / "grades.csv")
        graded = {(r.student_id, r.assignment, r.notebook): r for r in rows}
        differ = [
            f"{'/'.join(key)}: nbgrader {score:g}, ours {graded[key].score if key in graded else '-'}"
            for key, score in expected.items()
            if key not in graded or graded[key].status != "graded" or graded[key].score != score
        ]
        errors = sum(r.status == "error" for r in rows)

    ratio = plain_seconds / our_seconds if our_seconds else float("inf")
    print(f"{'':<34} {'seconds':>8} {'s/notebook':>11}")
    if not args.no_plain:
        print(
            f"{'plain nbgrader autograde':<34} {plain_seconds:8.1f} "
            f"{plain_seconds / notebooks:11.2f}"
        )
    print(f"{'python -m grader autograde':<34} {our_seconds:8.1f} {our_seconds / notebooks:11.2f}")
    print(f"{'  again, class unchanged':<34} {unchanged_seconds:8.1f}")
    if PLAIN_PEAKS:
        print(f"peak memory, plain nbgrader (process + kernel): {max(PLAIN_PEAKS) / 2**20:.0f} MiB")
    print(f"peak memory per worker (worker + sandbox + kernel): {memory.summary()}")
    print(f"largest single process (ru_maxrss of the children): {largest:.0f} MiB")
    print(f"{'  again, one late student':<34} {late_seconds:8.1f}   ({late_notebooks} notebooks)")
    if not args.no_plain:
        print(f"ratio: {ratio:.2f}x faster (goal >= {GOAL:g}x on {os.cpu_count()} cores)")
    incremental = unchanged_seconds / our_seconds if our_seconds else float("inf")
    print(
        f"incremental: an unchanged class takes {incremental:.3f} of the first run "
        f"(goal < {INCREMENTAL_GOAL:g}); one late student {late_seconds / our_seconds:.3f}; "
        f"the CSV covers {unchanged_rows} then {late_rows} rows (late: {len(late)} assignments)"
    )
    print(
        f"scores: {len(expected) - len(differ)}/{len(expected)} notebooks nbgrader graded agree; "
        f"{errors} row(s) could not be graded (the broken submissions)"
    )
    for line in differ[:20]:
        print("  differs:", line)
    fast_enough = args.no_plain or ratio >= GOAL
    return 0 if not differ and fast_enough and incremental < INCREMENTAL_GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
