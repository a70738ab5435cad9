"""Grading a class: plain ``nbgrader autograde`` against ``python -m grader autograde``.

Builds two synthetic classes (``--students`` each, default 6; every student submits every
notebook of the course that has graded cells) and grades each twice in this run:

* **complete**: every graded notebook answered as in ``solutions/`` (a good class; the judge
  runs every test against real answers);
* **mix**: perfect, partial, blank and broken notebooks (:data:`MIX`, one of each kind per 6
  students).

1. plain nbgrader: ``nbgrader generate_assignment`` then ``nbgrader autograde`` for each
   assignment over the whole class (its command line, one student after another);
2. ``python -m grader autograde`` (parallel workers, sandboxed kernels, the judge on).

Prints both times, seconds per notebook and the ratio per class, and checks that the scores
agree for every submission nbgrader could grade. Goal: at least 3x faster on a 2-core
machine, on both classes. Memory: the RSS of each worker's process tree (the worker, its warm
judge and the judge it forks, the sandbox and the kernel in it) is sampled every 0.2 s, and
the peak is printed per worker (goal: at most 512 MiB), beside plain nbgrader's (its process
and its kernel), and the largest single process (``ru_maxrss`` of the children).

Where a notebook's seconds go: the grader's workers time each phase (:mod:`grader.phases`);
the table gives the mean seconds per notebook of each phase, per assignment (the students'
notebooks; the limits check of the instructor's solutions, which a fresh work folder runs
first, is a line of its own). Phases marked
``judge:`` run in the judge's process, beside the worker (they overlap ``kernel:`` phases);
``judge wait`` is the time the worker waits for the judge once the notebook has run.

Then the incremental regrade of the mix class, against its first ``grader`` run:

3. ``grader autograde`` again on the unchanged class: nothing is graded (goal: under a tenth
   of the first run's time);
4. once more after one late submission: one student's notebooks are graded.

    .venv/bin/python benchmarks/grading.py [--students 6] [--jobs N] [--classes complete,mix]
        [--no-plain]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.authoring.samples import KINDS, fill_answers  # noqa: E402
from grader.course import Course  # noqa: E402
from grader.limits import CHECK_STUDENT  # noqa: E402
from grader.phases import PHASES_ENV  # noqa: E402
from grader.records.grades import read_csv  # noqa: E402

GOAL = 3.0  # times faster than plain nbgrader, on each class
MEMORY_GOAL_MIB = 512  # peak per worker: the worker, its judge, the sandbox and the kernel
INCREMENTAL_GOAL = 0.1  # an unchanged class regrades in under a tenth of the first run
MIX = ("perfect", "partial", "blank", "perfect", "partial", "broken")
CLASSES = {"complete": ("perfect",), "mix": MIX}
"""The classes the benchmark grades: the kinds of submission handed in, in turn."""
DEFAULT_STUDENTS = 6


def build_class(
    course: Course, target: Path, students: int, kinds: tuple[str, ...] = MIX
) -> list[str]:
    """Write ``students`` submissions of every graded assignment, of ``kinds`` in turn;
    return the assignments."""
    assignments = [
        a
        for a in course.assignments()
        if course.max_points(a) > 0 and course.student_notebook(a).is_file()
    ]
    for index in range(students):
        kind = kinds[index % len(kinds)]
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
    """Samples the memory of the process trees under ``pid``: each child's whole tree, summed.

    Two sums per tree: RSS (each process's resident pages, so a page shared by a forked
    judge and its warm parent counts twice) and PSS (each shared page divided among the
    processes sharing it: what the tree holds of the machine's memory)."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}  # a child of the watched process -> its tree's RSS peak
        self.pss_peaks: dict[int, int] = {}  # the same, PSS
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
                        pss = sum(_pss(p) for p in tree)
                        self.pss_peaks[top.pid] = max(self.pss_peaks.get(top.pid, 0), pss)
                except Exception:  # noqa: BLE001 - processes come and go
                    continue

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def summary(self, pss: bool = False) -> str:
        """``max X MiB, mean Y MiB over N`` of the peaks (RSS, or PSS), or ``-``."""
        found = self.pss_peaks if pss else self.peaks
        if not found:
            return "-"
        peaks = [v / 2**20 for v in found.values()]
        return f"max {max(peaks):.0f} MiB, mean {sum(peaks) / len(peaks):.0f} MiB over {len(peaks)}"


def _rss(process) -> int:
    try:
        return process.memory_info().rss
    except Exception:  # noqa: BLE001 - gone
        return 0


def _pss(process) -> int:
    try:
        return process.memory_full_info().pss
    except Exception:  # noqa: BLE001 - gone, or not ours to read
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


@dataclass
class ClassRun:
    """One class graded by plain nbgrader and by the grader, in this run."""

    name: str
    students: int
    notebooks: int
    plain_seconds: float
    our_seconds: float
    agree: int
    compared: int
    differ: list[str]
    errors: int
    phases: list[dict]
    memory: PeakMemory

    @property
    def ratio(self) -> float:
        return self.plain_seconds / self.our_seconds if self.our_seconds else float("inf")


def our_command(submissions: Path, work: Path, jobs: int | None) -> list[str]:
    """``python -m grader autograde`` on ``submissions``, its workdir ``work``."""
    command = [sys.executable, "-m", "grader", "autograde", str(submissions)]
    command += ["--out", str(work / "grades.csv"), "--workdir", str(work), "--no-progress"]
    return command + (["--jobs", str(jobs)] if jobs else [])


def run_ours(command: list[str], memory: PeakMemory | None = None, phases: Path | None = None):
    """Seconds ``command`` took; ``memory`` watches its workers, ``phases`` gets their timings."""
    env = dict(os.environ)
    if phases is not None:
        env[PHASES_ENV] = str(phases)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if memory is not None:
        memory.watch(process.pid, children=True)
    process.wait()
    if memory is not None:
        memory.stop()
    return time.perf_counter() - started


def grade_class(
    course: Course, tmp: Path, name: str, students: int, jobs: int | None, plain: bool
) -> tuple[ClassRun, list[str]]:
    """Build class ``name`` in ``tmp/name`` and grade it both ways; the run and assignments."""
    base = tmp / name
    assignments = build_class(course, base / "class", students, CLASSES[name])
    notebooks = sum(1 for _ in (base / "class").glob("*/*/*.ipynb"))
    print(
        f"class {name!r}: {students} students x {len(assignments)} assignments = "
        f"{notebooks} notebooks",
        flush=True,
    )
    plain_dir = base / "plain"
    shutil.copytree(base / "class", plain_dir / "submitted")
    plain_seconds = plain_nbgrader(course, plain_dir, assignments) if plain else 0.0
    memory = PeakMemory()
    timings = base / "phases.jsonl"
    our_seconds = run_ours(our_command(base / "class", base / "ours", jobs), memory, timings)
    expected = plain_scores(plain_dir) if plain else {}
    rows = read_csv(base / "ours" / "grades.csv")
    graded = {(r.student_id, r.assignment, r.notebook): r for r in rows}
    differ = [
        f"{'/'.join(key)}: nbgrader {score:g}, ours {graded[key].score if key in graded else '-'}"
        for key, score in expected.items()
        if key not in graded or graded[key].status != "graded" or graded[key].score != score
    ]
    found = []
    if timings.is_file():
        found = [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]
    run = ClassRun(
        name,
        students,
        notebooks,
        plain_seconds,
        our_seconds,
        len(expected) - len(differ),
        len(expected),
        differ,
        sum(r.status == "error" for r in rows),
        found,
        memory,
    )
    return run, assignments


def phase_table(records: list[dict]) -> list[str]:
    """The mean seconds of each phase per graded notebook, one column per assignment."""
    by_assignment: dict[str, list[dict]] = {}
    for record in records:
        if record.get("notebooks") and record.get("student") != CHECK_STUDENT:
            by_assignment.setdefault(record["assignment"], []).append(record)
    if not by_assignment:
        return ["(no timings)"]
    names = sorted(by_assignment)
    order: list[str] = []
    for record in records:
        order += [p for p in record["phases"] if p not in order]
    order.sort(key=lambda p: (p.startswith("judge: "), _PHASE_ORDER.get(p, 50), p))

    def mean(assignment: str, phase: str | None) -> float:
        found = by_assignment[assignment]
        if phase is None:
            return sum(r["seconds"] for r in found) / sum(r["notebooks"] for r in found)
        return sum(r["phases"].get(phase, 0.0) for r in found) / sum(r["notebooks"] for r in found)

    width = 34
    lines = [
        f"{'seconds per notebook':<{width}}" + "".join(f"{n[:2]:>6}" for n in names) + "  mean"
    ]
    for phase in [*order, None]:
        values = [mean(n, phase) for n in names]
        label = "job (worker, total)" if phase is None else phase
        row = f"{label[:width]:<{width}}" + "".join(f"{v:6.2f}" for v in values)
        lines.append(row + f"{sum(values) / len(values):6.2f}")
    return lines


_PHASE_ORDER = {
    "integrity check": 0,
    "staging": 1,
    "nbgrader: restore cells": 2,
    "sandbox start": 3,
    "kernel start": 4,
    "kernel: first lesson cell": 5,
    "kernel: lessons": 6,
    "kernel: answers": 7,
    "judge wait": 7,
    "kernel stop": 8,
    "execute (total)": 9,
    "nbgrader: execute and score": 10,
    "nbgrader: write": 11,
    "nbgrader (total)": 12,
    "cleanup": 13,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=DEFAULT_STUDENTS)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument(
        "--classes", default=",".join(CLASSES), help="which classes to grade (complete,mix)"
    )
    parser.add_argument(
        "--no-plain",
        action="store_true",
        help="skip plain nbgrader; time the grader and the incremental runs only",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.classes.split(",") if n]
    unknown = [n for n in names if n not in CLASSES]
    if unknown:
        parser.error(f"unknown class {unknown[0]!r}: choose from {', '.join(CLASSES)}")
    course = Course(ROOT)
    print(
        f"{args.students} students per class, classes: {', '.join(names)}; "
        f"{os.cpu_count()} cores, jobs: {args.jobs or 'default'}",
        flush=True,
    )
    runs: list[ClassRun] = []
    incremental_line = ""
    incremental_ok = True
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        for name in names:
            run, _ = grade_class(course, tmp, name, args.students, args.jobs, not args.no_plain)
            runs.append(run)
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if "mix" in names:
            base = tmp / "mix"
            command = our_command(base / "class", base / "ours", args.jobs)
            first = next(r for r in runs if r.name == "mix").our_seconds
            unchanged_seconds = run_ours(command)
            unchanged_rows = len(read_csv(base / "ours" / "grades.csv"))
            late = build_class(course, tmp / "late", 1)
            for folder in (tmp / "late").iterdir():
                shutil.copytree(folder, base / "class" / "late-student")
            late_seconds = run_ours(command)
            late_notebooks = sum(1 for _ in (base / "class" / "late-student").glob("*/*.ipynb"))
            late_rows = len(read_csv(base / "ours" / "grades.csv"))
            incremental = unchanged_seconds / first if first else float("inf")
            incremental_ok = incremental < INCREMENTAL_GOAL
            incremental_line = (
                f"incremental (mix): an unchanged class takes {unchanged_seconds:.1f} s, "
                f"{incremental:.3f} of the first run (goal < {INCREMENTAL_GOAL:g}); one late "
                f"student ({late_notebooks} notebooks) {late_seconds:.1f} s, "
                f"{late_seconds / first:.3f}; the CSV covers {unchanged_rows} then {late_rows} "
                f"rows (late: {len(late)} assignments)"
            )

    ok = incremental_ok
    print()
    print(f"{'':<40} {'plain s':>8} {'ours s':>8} {'s/nb':>6} {'s/nb':>6} {'ratio':>7}")
    for run in runs:
        print(
            f"{run.name + f' ({run.students} students, {run.notebooks} notebooks)':<40} "
            f"{run.plain_seconds:8.1f} {run.our_seconds:8.1f} "
            f"{run.plain_seconds / run.notebooks:6.2f} {run.our_seconds / run.notebooks:6.2f} "
            f"{'-' if args.no_plain else f'{run.ratio:6.2f}x'}"
        )
        ok = ok and (args.no_plain or run.ratio >= GOAL) and not run.differ
    print(f"goal: at least {GOAL:g}x faster than plain nbgrader on every class, same run")
    if PLAIN_PEAKS:
        print(f"peak memory, plain nbgrader (process + kernel): {max(PLAIN_PEAKS) / 2**20:.0f} MiB")
    worst = worst_rss = 0.0
    for run in runs:
        print(
            f"peak memory per worker ({run.name}; worker + judge + sandbox + kernel): "
            f"PSS {run.memory.summary(pss=True)}; RSS summed {run.memory.summary()}"
        )
        worst = max([worst, *(v / 2**20 for v in run.memory.pss_peaks.values())])
        worst_rss = max([worst_rss, *(v / 2**20 for v in run.memory.peaks.values())])
    print(
        f"  goal: at most {MEMORY_GOAL_MIB} MiB per worker (PSS); worst {worst:.0f} MiB PSS, "
        f"{worst_rss:.0f} MiB RSS summed (counts pages shared after fork once per process)"
    )
    ok = ok and worst <= MEMORY_GOAL_MIB
    print(f"largest single process (ru_maxrss of the children): {largest:.0f} MiB")
    if incremental_line:
        print(incremental_line)
    for run in runs:
        print(
            f"scores ({run.name}): {run.agree}/{run.compared} notebooks nbgrader graded agree; "
            f"{run.errors} row(s) could not be graded (the broken submissions)"
        )
        for line in run.differ[:20]:
            print("  differs:", line)
    for run in runs:
        checks = [r for r in run.phases if r.get("student") == CHECK_STUDENT]
        if checks:
            print(
                f"limits check ({run.name}): the instructor's solutions, {len(checks)} notebooks, "
                f"{sum(r['seconds'] for r in checks):.1f} s of worker time (once per assignment "
                "and limits: a fresh work folder pays it; not in the table below)"
            )
    for run in runs:
        print(f"\nwhere the seconds go, class {run.name!r} (mean per graded notebook):")
        for line in phase_table(run.phases):
            print("  " + line)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
