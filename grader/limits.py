"""The chosen limits, checked against the instructor's own solutions before a class is graded.

A limit that stops an honest kernel zeroes honest students. So before grading, each
assignment's solutions (the student notebooks with every answer filled from ``solutions/``,
as :mod:`grader.authoring.samples` makes the *perfect* sample) are graded once through the same
pool, sandbox and limits as the class. They must come back graded, with every graded test
passing and nothing stopped by a limit (memory, processes, time). If a limit stops them,
:func:`check_limits` refuses before any student is graded, naming the cause and the least
``--memory`` that works (found by grading the solutions again: once without a memory
limit, measuring their peak where cgroups tell it, then at larger limits until they pass).

A verdict is kept in ``limits-checked.json`` in the work folder, keyed by the assignment's
sources and the limits, so the check runs once per assignment and set of limits, not per
submission or per run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .course import Course, GraderError
from .worker import Job, JobResult

__all__ = [
    "CACHE_NAME",
    "CHECK_STUDENT",
    "LimitsTooSmall",
    "SolutionRun",
    "check_limits",
    "limits_key",
    "solution_seconds",
    "solution_job",
    "solution_problems",
]

log = logging.getLogger(__name__)

CACHE_NAME = "limits-checked.json"
"""The file in the work folder that keeps the assignments whose limits were checked."""

CHECK_STUDENT = "/solutions"
"""The student id of a check's job (no folder of the class can be named so)."""

STOPS = ("memory limit", "process limit", "time limit", "CPU time limit", "a thread could not")
"""What a limit stopping the solutions looks like in a notebook's notes or reason."""

_MAX_TRIED_MB = 16384  # the search for the least memory that works stops here
_STEP_MB = 64


class LimitsTooSmall(GraderError):
    """The chosen limits stop the instructor's own solutions (the message names the fix)."""


@dataclass
class SolutionRun:
    """What grading one assignment's solutions under some limits showed."""

    assignment: str
    problems: list[str] = field(default_factory=list)  # "<notebook>: what went wrong"
    peak_mb: int | None = None  # the most resident memory one sandbox held (cgroups only)
    seconds: float = 0.0  # how long the worker took to grade them

    @property
    def stopped(self) -> bool:
        """A limit stopped the solutions (not merely a failing test)."""
        return any(stop in problem for problem in self.problems for stop in STOPS)

    @property
    def stopped_by_memory(self) -> bool:
        """The memory limit (or a thread it kept from starting) stopped them."""
        return any(
            stop in problem
            for problem in self.problems
            for stop in ("memory limit", "a thread could not", "kernel died")
        )


def limits_key(source_hash: str, limits: dict) -> str:
    """The cache key of one assignment's check: its sources' hash and the limits."""
    text = json.dumps({"sources": source_hash, "limits": limits}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def solution_job(course: Course, assignment: str, job: Callable[..., Job]) -> Job:
    """The job grading ``assignment``'s solutions: ``job(student, assignment, files)``
    makes it with the class's spec, gradebook and settings."""
    import nbformat

    from .authoring.samples import KINDS, fill_answers

    files = {}
    for source in course.source_notebooks(assignment):
        student = course.student_notebook(assignment, source.stem)
        if student.is_file():
            nb = fill_answers(source, student, KINDS["perfect"])
            files[source.name] = nbformat.writes(nb).encode("utf-8")
    return job(CHECK_STUDENT, assignment, files)


def _failed_tests(text: str | None) -> list[str]:
    """The grade ids of the graded test cells of an autograded notebook showing an error."""
    try:
        nb = json.loads(text or "")
    except ValueError:
        return ["(unreadable)"]
    failed = []
    for cell in nb.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        if any(out.get("output_type") == "error" for out in cell.get("outputs") or []):
            failed.append(str(meta.get("grade_id", "?")))
    return failed


def solution_problems(result: JobResult) -> SolutionRun:
    """What went wrong when the solutions were graded (nothing: the limits are fine)."""
    run = SolutionRun(result.assignment, seconds=result.seconds)
    peaks = [nb.peak_mb for nb in result.notebooks if nb.peak_mb is not None]
    run.peak_mb = max(peaks) if peaks else None
    for nb in result.notebooks:
        if nb.status != "graded":
            run.problems.append(f"{nb.name}: {nb.reason}")
            continue
        said = [note for note in nb.notes if any(stop in note for stop in STOPS)]
        failed = _failed_tests(nb.autograded)
        if failed:
            said.append(f"test(s) failed: {', '.join(failed)}")
        if said:
            run.problems.append(f"{nb.name}: {'; '.join(said)}")
    return run


def solution_seconds(work: Path, source_hashes: dict[str, str], limits: dict) -> dict[str, float]:
    """How long each assignment's solutions took to grade under ``limits`` when they were
    checked (``limits-checked.json``; an assignment checked before this was kept is absent):
    what a class's jobs are ordered by, longest first."""
    cache = _load(work / CACHE_NAME)
    found: dict[str, float] = {}
    for assignment, source_hash in source_hashes.items():
        entry = cache.get(limits_key(source_hash, limits))
        if isinstance(entry, dict) and isinstance(entry.get("seconds"), (int, float)):
            found[assignment] = float(entry["seconds"])
    return found


def _load(path: Path) -> dict:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _round_up(megabytes: float) -> int:
    return int(-(-megabytes // _STEP_MB) * _STEP_MB)


def check_limits(
    course: Course,
    assignments: Iterable[str],
    source_hashes: dict[str, str],
    limits: dict,
    work: Path,
    make_job: Callable[[str, str, dict[str, bytes], int], Job],
    run: Callable[[list[Job]], Iterable[JobResult]],
) -> None:
    """Refuse (:class:`LimitsTooSmall`) limits that stop an assignment's solutions.

    ``limits`` are the values graded under (``memory_mb``, ``processes``, ``timeout`` …,
    part of the cache key); ``make_job(student, assignment, files, memory_mb)`` makes a job
    with the class's settings at that memory limit; ``run(jobs)`` grades jobs (the class's
    pool) and yields their results. Checks already passed (``limits-checked.json``) are not
    run again.
    """
    cache_path = work / CACHE_NAME
    cache = _load(cache_path)
    todo = [a for a in assignments if limits_key(source_hashes[a], limits) not in cache]
    if not todo:
        return
    memory = int(limits.get("memory_mb") or 0)

    def grade(names: list[str], memory_mb: int) -> dict[str, SolutionRun]:
        jobs = [
            solution_job(course, name, lambda s, a, f, m=memory_mb: make_job(s, a, f, m))
            for name in names
        ]
        return {result.assignment: solution_problems(result) for result in run(jobs)}

    found = grade(todo, memory)
    stopped = {a: r for a, r in found.items() if r.problems}
    for assignment, outcome in found.items():
        if not outcome.problems:
            cache[limits_key(source_hashes[assignment], limits)] = {
                "assignment": assignment,
                "limits": limits,
                "peak_mb": outcome.peak_mb,
                "seconds": round(outcome.seconds, 2),
                "checked": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
    work.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True), encoding="utf-8")
    if not stopped:
        return
    # Which failures are the limits'? Grade the failing solutions without a memory limit.
    free = grade(sorted(stopped), 0)
    refusals = []
    for assignment, outcome in sorted(stopped.items()):
        unlimited = free.get(assignment, replace(outcome, problems=["not graded"]))
        if unlimited.problems and not unlimited.stopped:
            log.warning(
                "the solutions of %s fail even without a memory limit (not the limits' fault): %s",
                assignment,
                "; ".join(unlimited.problems),
            )
            continue
        if unlimited.problems:  # still stopped, by processes or time
            refusals.append(
                f"{assignment}: the solutions are stopped even without a memory limit: "
                f"{'; '.join(unlimited.problems)}"
            )
            continue
        least, peak = _least_memory(
            memory, unlimited.peak_mb, lambda m, a=assignment: grade([a], m)
        )
        refusals.append(
            f"{assignment}: {'; '.join(outcome.problems)} -- the least that works is "
            f"--memory {least}"
            + (f" (their sandbox's peak without a limit: {peak} MiB)" if peak else "")
        )
    if refusals:
        raise LimitsTooSmall(
            f"These limits (--memory {memory}{' MiB' if memory else ': none'}, "
            f"{limits.get('processes')} processes and threads, "
            f"{limits.get('timeout')} s per cell) stop the instructor's own solutions, so they "
            "would zero honest students; nothing was graded.\n  " + "\n  ".join(refusals)
        )


def _least_memory(
    chosen: int, peak: int | None, grade: Callable[[int], dict[str, SolutionRun]]
) -> tuple[int, int | None]:
    """The least ``--memory`` (a multiple of 64 MiB) the solutions pass at, searched from
    above the chosen value and their measured peak, and that peak."""
    failing = chosen
    candidate = _round_up(max(chosen * 1.5, (peak or 0) * 1.25, chosen + _STEP_MB))
    while candidate < _MAX_TRIED_MB:
        outcome = next(iter(grade(candidate).values()), None)
        if outcome is not None and not outcome.problems:
            break
        failing = candidate
        candidate = _round_up(candidate * 1.5)
    else:
        return 0, peak  # nothing up to the search's end: no memory limit
    while candidate - failing > _STEP_MB:  # bisect down to a step of 64 MiB
        middle = _round_up((failing + candidate) / 2)
        if middle >= candidate:
            break
        outcome = next(iter(grade(middle).values()), None)
        if outcome is not None and not outcome.problems:
            candidate = middle
        else:
            failing = middle
    return candidate, peak
