"""Hostile and broken submissions: each gets a recorded outcome and the batch never stops.

The fixtures (tests/fixtures/hostile.py) are built from the 01 notebook and graded in ONE
batch for the module through the command line (so grades.csv is written), with a short
per-cell timeout and a small memory limit, each notebook in its OS sandbox. The attacks of
issue 12 aim at absolute paths, the grader's pid and the machine's own non-loopback address
(listeners of this test; nothing leaves the machine). Around the batch: the course tree,
the submissions and a canary folder are hashed, and the machine's processes are scanned for
anything the sandboxes left behind. The honest students are also graded alone, to compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from grader.autograde import autograde
from grader.cli import main
from grader.pool import LocalPool
from grader.records.grades import read_csv
from grader.sandbox.bwrap import SANDBOX_UID_BASE

from .conftest import COURSE, ROOT
from .fixtures import hostile as records
from .fixtures.hostile import (
    ASSIGNMENT,
    HUGE_STUDENT,
    ROUND_2,
    SLOW_REPLY_STUDENT,
    SPARSE_STUDENT,
    SURVIVOR_MARK,
    Targets,
    build,
)

FULL = 5.0  # the auto-graded points of 01 (3 more are a written answer)
HONEST = ("perfect", "deleted-tests", "duplicated-test", "added-reordered", "edited-tests")
SANDBOXED = "the OS sandbox (bubblewrap) runs on this machine"


def _host_ip() -> str:
    """The machine's own non-loopback IPv4 address ("" when it has none); no packet sent."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
    except OSError:
        return ""
    return "" if address.startswith("127.") else address


class _Listeners:
    """A TCP and a UDP listener on ``ip`` that record whatever reaches them."""

    def __init__(self, ip: str):
        self.heard: list[str] = []
        self.tcp = socket.socket()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if ip:
            self.tcp.bind((ip, 0))
            self.tcp.listen(5)
            self.udp.bind((ip, 0))
            for target in (self._accept, self._receive):
                threading.Thread(target=target, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, peer = self.tcp.accept()
            except OSError:
                return
            self.heard.append(f"tcp from {peer}")
            conn.close()

    def _receive(self):
        while True:
            try:
                data, peer = self.udp.recvfrom(100)
            except OSError:
                return
            self.heard.append(f"udp {data!r} from {peer}")

    def close(self):
        self.tcp.close()
        self.udp.close()


_HASHED = ("src", "solutions", "notebooks", "grader", "data", "pyproject.toml", "Makefile")


def _tree_hash(*paths: Path) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (links and sizes included; caches skipped)."""
    found = {}
    for base in paths:
        items = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for path in items:
            if "__pycache__" in path.parts or path.is_dir():
                continue
            if path.is_symlink():
                found[str(path)] = "link -> " + os.readlink(path)
            elif path.stat().st_size > 2**30:
                found[str(path)] = f"sparse {path.stat().st_size}"
            else:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _leftovers(mark: str, scratch: Path, uids: set[int] = frozenset()) -> list[str]:
    """Processes this batch's sandboxes left behind: running as the uid of one of its
    sandboxes (``uids``), or in the sandboxes' uid range with this batch's scratch folder
    in their command line (bwrap, kernels, forked children), or with this batch's mark
    (what the attacks started). Other graders running on the same machine at the same time
    are not counted."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        uid = int(next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1])
        state = next(x for x in status.splitlines() if x.startswith("State:")).split()[1]
        ours = uid in uids or mark in cmdline
        ours = ours or (uid >= SANDBOX_UID_BASE and str(scratch) in cmdline)
        if state != "Z" and ours:
            found.append(f"{entry.name} uid {uid}: {cmdline[:80]}")
    return found


def _settled_leftovers(mark: str, scratch: Path, uids: set[int]) -> list[str]:
    """:func:`_leftovers`, once killed namespaces had a moment to be reaped."""
    for _ in range(50):
        found = _leftovers(mark, scratch, uids)
        if not found:
            return found
        time.sleep(0.2)
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """``(rows by student, work folder, what happened around the batch)``, graded once."""
    submissions = tmp_path_factory.mktemp("hostile")
    work = tmp_path_factory.mktemp("hostile-work")
    canary = tmp_path_factory.mktemp("canary")
    for name in ("gradebook.db", "grades.csv"):
        (canary / name).write_text("untouched")
    scratch = tmp_path_factory.mktemp("scratch")  # the grader's temp folder: kernels' paths
    run = os.urandom(6).hex()
    ip = _host_ip()
    listeners = _Listeners(ip)
    targets = Targets(
        course=str(ROOT),
        solution=str(COURSE.source_notebook(ASSIGNMENT)),
        gradebooks=[str(ROOT / "gradebook.db"), str(work / "gradebook.db")],
        submissions=str(submissions),
        classmate=str(submissions / "perfect" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
        canary=str(canary),
        grader_pid=os.getpid(),
        host_ip=ip,
        tcp_port=listeners.tcp.getsockname()[1] if ip else 0,
        udp_port=listeners.udp.getsockname()[1] if ip else 0,
        run=run,
    )
    build(COURSE, submissions, targets)
    records.build_records(COURSE, submissions)
    watched = [ROOT / name for name in _HASHED] + [submissions, canary]
    before = _tree_hash(*watched)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_SECRET_ACCESS_KEY", "leak-me")
        patch.setenv("MY_API_TOKEN", "leak-me")
        patch.setattr(tempfile, "tempdir", str(scratch))
        workers: list[int] = []
        start = LocalPool._start

        def recorded(pool, tmpdir):
            slot = start(pool, tmpdir)
            workers.append(slot.process.pid)
            return slot

        patch.setattr(LocalPool, "_start", recorded)
        code = main(
            [
                "--course",
                str(ROOT),
                "autograde",
                str(submissions),
                "--out",
                str(work / "grades.csv"),
            ]
            + ["--workdir", str(work), "--jobs", "2", "--timeout", "10", "--memory", "1536"]
            + ["--no-progress"]
        )
    uids = {SANDBOX_UID_BASE + pid for pid in workers} if os.geteuid() == 0 else set()
    leftovers = _settled_leftovers(f"{SURVIVOR_MARK}-{run}", scratch, uids)
    after = _tree_hash(*watched)
    around = {
        "exit": code,
        "leftovers": leftovers,
        "changed": sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)),
        "heard": list(listeners.heard),
        "host_ip": ip,
    }
    listeners.close()
    rows = read_csv(work / "grades.csv")
    return {row.student_id: row for row in rows}, work, around


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The honest students' rows, graded in a batch of their own with the same settings."""
    everyone = tmp_path_factory.mktemp("everyone")
    build(COURSE, everyone)
    honest = tmp_path_factory.mktemp("honest")
    for student in HONEST:
        (everyone / student).rename(honest / student)
    rows = autograde(
        COURSE,
        honest,
        workdir=tmp_path_factory.mktemp("honest-work"),
        jobs=2,
        timeout=10,
        memory_mb=1536,
    )
    return {row.student_id: row for row in rows}


def _outputs(work, student: str) -> str:
    path = work / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(
                str(out.get("text", "")) + f"{out.get('ename', '')}: {out.get('evalue', '')}"
            )
    return "\n".join(texts)


def _row(batch, student):
    return batch[0][student]


def _said(batch, student: str, tag: str) -> dict:
    """The JSON an attack printed after ``tag``."""
    text = _outputs(batch[1], student)
    line = next(x for x in text.splitlines() if x.startswith(f"{tag} "))
    return json.loads(line.removeprefix(f"{tag} "))


pytestmark = pytest.mark.notebooks


def test_every_submission_gets_exactly_one_row(batch):
    rows = batch[0]
    assert batch[2]["exit"] == 0
    assert len(rows) == 30 + len(records.RECORDS_CASES) + len(ROUND_2)
    assert all(row.status in {"graded", "error"} for row in rows.values())
    assert all(row.status == "graded" or row.reason for row in rows.values())


def test_the_perfect_submission_still_scores_full_marks(batch):
    row = _row(batch, "perfect")
    assert (row.status, row.score, row.exercises["ex1"]) == ("graded", FULL, 2.0)


@pytest.mark.parametrize(
    ("student", "words"),
    [
        ("invalid-json", "not valid JSON"),
        ("empty-file", "empty file"),
        ("missing-notebook", "missing notebook"),
        ("other-assignment", "another assignment"),
        ("kernel-dies", "kernel died"),
    ],
)
def test_ungradable_submissions_are_errors_with_a_reason(batch, student, words):
    row = _row(batch, student)
    assert (row.status, row.score, row.max_score) == ("error", 0.0, 8.0)
    assert words in row.reason


def test_an_infinite_loop_is_interrupted_and_the_rest_is_graded(batch):
    row = _row(batch, "infinite-loop")
    assert (row.status, row.score) == ("graded", FULL)
    assert "CellTimeoutError" in _outputs(batch[1], "infinite-loop")


def test_runaway_memory_ends_in_memory_error_not_a_dead_batch(batch):
    row = _row(batch, "runaway-memory")
    assert row.status == "graded"
    assert "HOG stopped by MemoryError" in _outputs(batch[1], "runaway-memory")


def test_enormous_output_is_cut(batch):
    row = _row(batch, "enormous-output")
    assert (row.status, row.score) == ("graded", FULL)
    path = batch[1] / "autograded" / "enormous-output" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 500_000


def test_edited_test_cells_are_restored_from_the_source(batch):
    row = _row(batch, "edited-tests")
    assert (row.status, row.score) == ("graded", 0.0)
    assert "edited locked cell(s) restored" in row.reason


def test_deleted_test_cells_are_restored_never_a_silent_zero(batch):
    row = _row(batch, "deleted-tests")
    assert (row.status, row.score) == ("graded", FULL)
    assert "ex1_test_issue_token, ex2_test_any_container" in row.reason


def test_duplicated_test_cells_are_graded_once(batch):
    row = _row(batch, "duplicated-test")
    assert (row.status, row.score) == ("graded", FULL)
    assert "duplicated cell(s) graded once: ex1_test_issue_token" in row.reason


def test_added_and_reordered_cells_are_graded(batch):
    assert (_row(batch, "added-reordered").score, _row(batch, "added-reordered").status) == (
        FULL,
        "graded",
    )


def test_snooping_finds_no_solutions_gradebook_or_secrets(batch):
    assert _row(batch, "snooping").score == FULL
    line = next(x for x in _outputs(batch[1], "snooping").splitlines() if x.startswith("SNOOP "))
    seen = json.loads(line.removeprefix("SNOOP "))
    assert seen == {"found": [], "leaks": [], "aws_dir": False, "listing": []}


def test_only_loopback_network_works(batch):
    assert _row(batch, "network").score == FULL
    line = next(x for x in _outputs(batch[1], "network").splitlines() if x.startswith("NET "))
    seen = json.loads(line.removeprefix("NET "))
    assert seen["loopback"] == "ok"
    assert seen["other"].startswith("refused") and "unreachable" in seen["other"]


def test_results_land_in_nbgraders_gradebook(batch):
    from nbgrader.api import Gradebook

    work = batch[1]
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        assert gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "perfect").score == FULL
        restored = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "deleted-tests")
        assert restored.score == FULL
        students = {s.id for s in gb.students}
    assert "deleted-tests" in students and "invalid-json" in students


# --- issue 12: what the judge stops (findings 1, 2 and 4) ----------------------------------


def test_finding_1_an_ok_before_raising_earns_nothing(batch):
    row = _row(batch, "finding-1-ok-then-raise")
    assert (row.status, row.score) == ("graded", 0.0)


def test_finding_2_rewriting_the_tests_earns_nothing(batch):
    row = _row(batch, "finding-2-rewrites-tests")
    assert (row.status, row.score) == ("graded", 0.0)


def test_finding_4_a_spy_in_an_answer_sees_no_hidden_test(batch):
    row = _row(batch, "finding-4-spies-on-tests")
    assert (row.status, row.score) == ("graded", FULL)
    seen = _outputs(batch[1], "finding-4-spies-on-tests")
    assert "BEGIN HIDDEN" not in seen and "claims_ignoring_time(fixed" not in seen


# --- issue 12: what the OS sandbox stops -----------------------------------------------


def test_honest_students_grade_exactly_as_when_graded_alone(batch, alone):
    for student in HONEST:
        mine, theirs = _row(batch, student), alone[student]
        assert (mine.status, mine.score, mine.exercises) == (
            theirs.status,
            theirs.score,
            theirs.exercises,
        ), student


def test_nothing_outside_the_scratch_folders_changes(batch):
    assert batch[2]["changed"] == []


def test_no_process_outlives_the_batch(batch):
    assert batch[2]["leftovers"] == []


def test_finding_3_the_solutions_are_not_there_to_run(batch):
    seen = _said(batch, "finding-3-solutions", "SOLUTIONS")
    assert seen["solutions_dir"] is False and seen["exec_cells"] == {}
    assert "solutions" not in seen["root"] and "gradebook.db" not in seen["root"]
    assert _row(batch, "finding-3-solutions").score == 0.0  # a blank notebook's score


def test_finding_5_absolute_paths_and_proc_show_nothing(batch):
    seen = _said(batch, "finding-5-absolute-paths", "ABSOLUTE")
    assert seen == {"found": {}, "private": [], "environ": [], "listing": []}
    assert _row(batch, "finding-5-absolute-paths").score == FULL


def test_finding_6_no_other_kernel_is_reachable(batch):
    seen = _said(batch, "finding-6-connection-files", "CONNECT")
    assert set(seen["files"]) <= {seen["own"]}  # its own connection file at most
    assert _row(batch, "finding-6-connection-files").score == FULL


def test_finding_7_a_setsid_process_dies_with_its_sandbox(batch):
    assert _said(batch, "finding-7-setsid-survivor", "SURVIVOR")["started"] > 0
    assert batch[2]["leftovers"] == [] and batch[2]["changed"] == []
    assert _row(batch, "finding-7-setsid-survivor").score == FULL


def test_finding_8_the_course_library_is_read_only(batch):
    seen = _said(batch, "finding-8-edit-library", "LIBRARY")
    assert all(outcome.startswith("refused") for outcome in seen.values()), seen
    assert _row(batch, "finding-8-edit-library").score == FULL


def test_finding_9_a_fifo_or_forged_notebook_never_reaches_the_score(batch):
    row = _row(batch, "finding-9-fifo-forgery")
    # the FIFO and the forged notebook stay in the sandbox's tmpfs; nbgrader's output is
    # read back as a regular file only, and points come from the gradebook
    assert (row.status, row.score, row.max_score) == ("graded", FULL, 8.0)


def test_finding_10_signals_cannot_reach_the_grader_or_siblings(batch):
    seen = _said(batch, "finding-10-signals", "SIGNALS")
    assert seen["grader-SIGSTOP"].startswith("refused: ProcessLookupError")
    assert seen["grader-SIGKILL"].startswith("refused: ProcessLookupError")
    assert seen["siblings_refused"] is True and max(seen["visible"]) < 100
    assert seen["nice"].startswith("refused")
    row = _row(batch, "finding-10-signals")
    assert row.score == FULL
    assert "signal to a process outside the sandbox refused" in row.reason


def test_finding_11_a_huge_sparse_file_is_refused_and_named(batch):
    row = _row(batch, SPARSE_STUDENT)
    assert (row.status, row.score) == ("graded", FULL)
    assert "data.bin: 40.0 GiB, over the 50.0 MiB limit, not read" in row.reason
    assert "notes.ipynb: a symbolic link, not read" in row.reason
    staged = batch[1] / "submitted" / SPARSE_STUDENT / ASSIGNMENT
    assert sorted(p.name for p in staged.iterdir()) == [f"{ASSIGNMENT}.ipynb"]


def test_finding_12_no_network_few_processes_small_files(batch):
    seen = _said(batch, "finding-12-network-processes-disk", "ESCAPE")
    assert seen["raw"].startswith("refused")
    if batch[2]["host_ip"]:
        assert "unreachable" in seen["udp"] and "unreachable" in seen["tcp"]
        assert not seen["curl"].startswith("exit 0")
    assert batch[2]["heard"] == []
    assert seen["fork"].startswith("refused") and seen["started"] < 300
    assert "File too large" in seen["five_gib"] and "File too large" in seen["sparse"]
    row = _row(batch, "finding-12-network-processes-disk")
    assert row.score == FULL
    for limit in ("network unreachable", "process limit", "disk limit"):
        assert limit in row.reason


def test_memory_is_capped_for_the_sandbox_as_a_whole_where_cgroups_work(batch):
    from grader.sandbox import cgroups

    seen = _said(batch, "memory-in-children", "CHILDREN")
    row = _row(batch, "memory-in-children")
    assert row.score == FULL  # 4 x 500 MiB children, each under its own 1536 MiB limit
    group = cgroups.create(64, 16)
    if group is None:
        pytest.skip("no cgroups v1 here: each process is capped by RLIMIT_AS alone")
    group.remove()
    assert -9 in seen["exit"]  # killed at the sandbox's 1536 MiB memory cgroup
    assert "the sandbox stopped: memory limit (" in row.reason


# --- round 2, item 4: no link is followed, at any level ---------------------------------


def test_an_assignment_folder_linked_to_the_solutions_is_not_graded_as_them(batch):
    row = _row(batch, records.LINKED_ASSIGNMENT)
    assert (row.status, row.score, row.max_score) == ("error", 0.0, 8.0)
    assert f"{ASSIGNMENT}: a symbolic link, not followed" in row.reason
    staged = batch[1] / "submitted" / records.LINKED_ASSIGNMENT / ASSIGNMENT
    assert not staged.is_symlink() and list(staged.iterdir()) == []


def test_a_student_folder_linked_to_a_classmate_is_a_row_of_its_own_never_graded(batch):
    row = _row(batch, records.LINKED_STUDENT)
    assert (row.status, row.score) == ("error", 0.0)
    assert "the student folder is a symbolic link, not followed" in row.reason
    assert not (batch[1] / "autograded" / records.LINKED_STUDENT).exists()
    assert _row(batch, "perfect").score == FULL  # the classmate is untouched


# --- round 2, item 7: no cell of any CSV is a formula ----------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return [cell for record in csv.reader(handle) for cell in record]


def _formulas(path: Path) -> list[str]:
    """The cells of ``path`` a spreadsheet would run (a plain number is not one)."""
    return [
        cell
        for cell in _cells(path)
        if cell.startswith(_FORMULA_START) and not cell.lstrip("+-").replace(".", "").isdigit()
    ]


def test_formula_ids_are_refused_with_a_row_and_a_reason(batch):
    for student in records.FORMULA_STUDENTS:
        row = _row(batch, student)  # read back: the id as the folder is named
        assert (row.status, row.score, row.assignment) == ("error", 0.0, ASSIGNMENT), student
        assert f"student id {student!r} refused" in row.reason
        assert not (batch[1] / "autograded" / student).exists()
    assert _row(batch, "perfect").score == FULL


def test_a_refused_file_named_as_a_formula_is_named_in_the_reason(batch):
    row = _row(batch, records.FORMULA_FILE_STUDENT)
    assert (row.status, row.score) == ("graded", FULL)
    assert "=1+1: a symbolic link, not read" in row.reason


def test_no_csv_the_grader_writes_holds_a_formula(batch, tmp_path):
    from grader.records.export import export_grades
    from grader.records.report import write_report

    grades = batch[1] / "grades.csv"
    assert _formulas(grades) == []
    assert "'=2+3" in _cells(grades) and "'@SUM(1+9)" in _cells(grades)
    assert any(cell.startswith("'=1+1: a symbolic link") for cell in _cells(grades))
    _, report = write_report(COURSE, batch[1], tmp_path / "report")
    assert _formulas(report) == [] and "'-2+3" in _cells(report)
    done = export_grades(batch[1], tmp_path / "lms.csv")
    assert _formulas(done.path) == [] and _formulas(done.maxima) == []


def test_a_linked_notebook_or_subfolder_is_never_read(batch):
    row = _row(batch, records.LINKED_NOTEBOOK)
    assert (row.status, row.score, row.max_score) == ("error", 0.0, 8.0)
    assert f"{ASSIGNMENT}.ipynb: a symbolic link, not read" in row.reason
    assert "solutions: a symbolic link, not read" in row.reason


# --- round 2, item 3: replies the judge stops reading ------------------------------------


def test_round_2_item_3_a_reply_too_costly_to_read_is_stopped_and_named(batch):
    row = _row(batch, SLOW_REPLY_STUDENT)
    assert row.status == "graded"
    assert "the judge stopped reading a reply from the kernel" in row.reason
    said = _outputs(batch[1], SLOW_REPLY_STUDENT)
    assert "a set or map of 60,000 members" in said
    assert "NbGraderException" not in row.reason


# --- issue "round 2", item 10: constant answers ------------------------------------------


def test_answers_memorizing_the_visible_checks_earn_no_hidden_point(batch):
    """The memorizer passes every visible check and fails every test that has hidden checks:
    it earns only the points of the tests that have none."""
    from grader.judge.script import VISIBLE_PASSED, judge_script

    from .fixtures.hostile import MEMORIZER_STUDENT

    tests = judge_script(nbformat.read(COURSE.source_notebook(ASSIGNMENT), as_version=4)).tests
    with_hidden = [test for test in tests if test.hidden.strip()]
    assert with_hidden
    row = _row(batch, MEMORIZER_STUDENT)
    assert (row.status, row.score) == (
        "graded",
        sum(test.points for test in tests if not test.hidden.strip()),
    )
    said = _outputs(batch[1], MEMORIZER_STUDENT)
    assert said.count(f"{VISIBLE_PASSED} A hidden check failed.") == len(with_hidden)


# --- round 2, item 6: one huge output; item 9: limits named ----------------------------


class _GraderMemory:
    """Samples, every 50 ms, the resident memory of this process and of every process it
    started outside a sandbox (grading workers, their judges), and keeps each one's peak."""

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[int, str]] = {}  # pid -> (peak KiB, command line)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _children(pid: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                found += [int(x) for x in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
        return found

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            todo = [os.getpid()]
            while todo:
                pid = todo.pop()
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if argv and argv[0].endswith(b"bwrap"):
                    continue  # a sandbox: the student's side, under its own limits
                rss = [int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:")]
                if rss and rss[0] > self.peaks.get(pid, (0, ""))[0]:
                    self.peaks[pid] = (rss[0], b" ".join(argv[:4]).decode(errors="replace"))
                todo += self._children(pid)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def largest(self) -> tuple[float, str]:
        """The largest peak (MiB) and its process's command line."""
        kib, command = max(self.peaks.values(), default=(0, ""))
        return kib / 1024, command


@pytest.fixture(scope="module", autouse=True)
def grader_memory():
    """The grader-side processes' peak resident memory while this module grades."""
    memory = _GraderMemory()
    yield memory
    memory.stop()


def test_item_6_one_500_mib_output_is_dropped_with_a_reason(batch):
    row = _row(batch, HUGE_STUDENT)
    assert (row.status, row.score) == ("graded", FULL)
    assert "output limit" in row.reason
    seen = _outputs(batch[1], HUGE_STUDENT)
    assert "[grader] an output was dropped: a message from the kernel may hold at most" in seen
    assert "an output of 4,194,3" in seen and "one output may hold at most 2,097,152" in seen
    assert "HUGE after" in seen  # the output channel works again after the reset
    path = batch[1] / "autograded" / HUGE_STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 500_000


def test_item_6_every_grader_side_process_stays_under_1_gib(batch, grader_memory):
    assert _row(batch, HUGE_STUDENT).status == "graded"  # the batch ran, huge output and all
    peak, command = grader_memory.largest()
    assert len(grader_memory.peaks) >= 3  # this process, the workers, their judges
    assert peak < 1024, f"{command} reached {peak:.0f} MiB"


def test_item_9_each_stop_names_its_limit_and_value(batch):
    assert (
        "process limit (256 processes and threads)"
        in _row(batch, "finding-12-network-processes-disk").reason
    )
    assert "time limit (10 s per cell)" in _row(batch, "infinite-loop").reason
    assert "memory limit (1536 MiB" in _row(batch, "runaway-memory").reason
