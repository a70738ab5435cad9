"""The local worker pool: a job past its time limit is stopped, the batch goes on."""

from __future__ import annotations

import pytest

from grader.autograde import _worker_config, assignment_spec
from grader.gradebook import record_assignments
from grader.pool import LocalPool
from grader.worker import Job

from .conftest import COURSE, ROOT

NB = "01-sessions-vs-tokens"


def job_maker(tmp_path):
    """A function that makes a job of the partial 01 submission for a student, on a fresh gradebook."""
    from nbgrader.apps import NbGraderAPI

    db = tmp_path / "gradebook.db"
    config = COURSE.nbgrader_config(root=tmp_path, db_url=f"sqlite:///{db}")
    template = record_assignments(NbGraderAPI(config=config), [NB], tmp_path, db)
    spec = assignment_spec(COURSE, NB)
    notebook = (ROOT / "data" / "submissions" / "partial" / NB / f"{NB}.ipynb").read_bytes()
    plain = _worker_config(config, 30, 0, "loopback")

    def job(student: str) -> Job:
        return Job(student, NB, {f"{NB}.ipynb": notebook}, spec, template, plain)

    return job


@pytest.mark.notebooks
def test_a_job_over_its_time_limit_is_stopped_and_the_next_one_graded(tmp_path):
    job = job_maker(tmp_path)
    jobs = [job("slow"), job("fine")]
    limits = {"slow": 0.2, "fine": 600.0}
    with LocalPool(1) as pool:
        results = {r.student: r for r in pool.run(jobs, lambda job: limits[job.student])}
    slow = results["slow"].notebooks[0]
    assert slow.status == "error" and "took longer than" in slow.reason
    fine = results["fine"].notebooks[0]
    assert fine.status == "graded" and fine.autograded


@pytest.mark.notebooks
def test_the_workers_outlive_a_run_so_the_limits_check_and_the_class_share_them(tmp_path):
    """Two runs on one pool (the limits check, then the class) use the same warm worker;
    close() stops it."""
    job = job_maker(tmp_path)
    with LocalPool(1) as pool:
        first = list(pool.run([job("a")], lambda _: 600.0))
        (worker,) = pool._idle
        second = list(pool.run([job("b")], lambda _: 600.0))
        assert pool._idle == [worker] and worker.process.is_alive()
        assert [r.notebooks[0].status for r in first + second] == ["graded", "graded"]
    assert not worker.process.is_alive() and pool._idle == []


def test_a_class_is_dispatched_longest_assignment_first(tmp_path, monkeypatch):
    """The class's jobs go to the pool in the order of their solutions' grading time, longest
    first (measured by the limits check), so no long job starts last."""
    import shutil
    from contextlib import contextmanager

    import grader.autograde as autograde_module
    from grader.pool import failed

    submissions = tmp_path / "submitted"
    short, long_ = "01-sessions-vs-tokens", "02-jwt-anatomy"
    for student in ("s1", "s2"):
        for assignment in (short, long_):
            shutil.copytree(
                ROOT / "data" / "submissions" / "blank" / assignment,
                submissions / student / assignment,
            )
    order: list[tuple[str, str]] = []

    class RecordingPool:
        def run(self, jobs, limit):
            for one in jobs:
                order.append((one.student, one.assignment))
                yield failed(one, "not graded in this test")

    @contextmanager
    def pool(*_args):
        yield RecordingPool()

    monkeypatch.setattr("grader.pool.make_pool", pool)
    monkeypatch.setattr(autograde_module, "_check_limits", lambda *a: {short: 1.5, long_: 9.0})
    rows = autograde_module.autograde(COURSE, submissions, workdir=tmp_path / "work")
    assert [a for _, a in order] == [long_, long_, short, short]
    assert {r.status for r in rows} == {"error"}


def test_the_solutions_seconds_come_from_the_limits_checks_record(tmp_path):
    import json

    from grader.limits import CACHE_NAME, limits_key, solution_seconds

    limits = {"memory_mb": 1024, "timeout": 30.0}
    record = {
        limits_key("h1", limits): {"assignment": "a", "seconds": 4.25},
        limits_key("h2", {"memory_mb": 2048}): {"assignment": "b", "seconds": 9.0},
        limits_key("h3", limits): {"assignment": "c"},  # checked before seconds were kept
    }
    (tmp_path / CACHE_NAME).write_text(json.dumps(record))
    assert solution_seconds(tmp_path, {"a": "h1", "b": "h2", "c": "h3"}, limits) == {"a": 4.25}


def test_workers_keep_to_an_assignment_and_end_together():
    """Each worker takes the jobs of the assignment it graded last (its judge has that
    notebook's first lessons run), a free worker starts the longest assignment no one is
    on, and one that runs out of its own helps with another's."""
    from collections import deque
    from types import SimpleNamespace

    from grader.pool import _Slot, next_job

    order = ["08", "08", "08", "05", "05", "05", "01", "01"]  # longest first
    pending = deque(SimpleNamespace(assignment=a, n=i) for i, a in enumerate(order))
    slots = [_Slot(None, None) for _ in range(2)]
    first, second = slots
    first.job = next_job(pending, first, slots)
    second.job = next_job(pending, second, slots)
    assert (first.job.assignment, second.job.assignment) == ("08", "05")
    taken = [next_job(pending, first, slots).n for _ in range(2)]
    assert taken == [1, 2]  # its own assignment, in order
    assert next_job(pending, first, slots).assignment == "01"  # no one else is on it
    second.job = None  # idle: nobody else's assignment to avoid
    assert [next_job(pending, second, slots).n for _ in range(2)] == [4, 5]
    assert next_job(pending, second, slots).n == 7
    assert not pending


def test_a_worker_keeps_sharing_the_memory_it_was_forked_with():
    """The pool freezes its objects before it forks a worker: a full garbage collection in
    the grader afterwards writes to none of them, so the worker's copy stays shared (each
    worker held about 30 MiB more of its own without it)."""
    import gc
    import time

    import psutil

    gc.unfreeze()  # as in a fresh grader (a pool another test left open may have frozen)
    ballast = [[i] for i in range(300_000)]  # about 25 MiB of objects the collector visits
    pool = LocalPool(1)
    try:
        (slot,) = pool._slots(1)
        worker = psutil.Process(slot.process.pid)
        before, deadline = -1, time.monotonic() + 30
        while time.monotonic() < deadline:  # until the worker has set up (its own memory)
            now = worker.memory_full_info().uss
            if abs(now - before) < 2**20:
                break
            before = now
            time.sleep(0.5)
        gc.collect()  # unfrozen, it would visit every list of the ballast, and all else
        grown = worker.memory_full_info().uss - before
        assert grown < 10 * 2**20, f"the worker's own memory grew by {grown / 2**20:.0f} MiB"
    finally:
        pool.close()
    assert gc.get_freeze_count() == 0  # with no worker left, the grader collects them again
    del ballast
