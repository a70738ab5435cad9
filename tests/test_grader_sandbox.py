"""The grading sandbox's pieces: the environment, the network guard, the progress line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from grader.progress import Progress
from grader.sandbox.kernel import SITE_DIR, STARTUP_SITE, sandbox_env, scrub_env


def test_scrub_env_keeps_the_basics_and_drops_secrets():
    env = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_PROFILE": "prod",
        "GITHUB_TOKEN": "x",
        "MY_API_KEY": "x",
        "DB_PASSWORD": "x",
        "AUTHLAB_AWS": "local",
        "RANDOM_THING": "x",
        "JPY_PARENT_PID": "1",
    }
    clean = scrub_env(env, home="/tmp/h", memory_mb=512)
    assert clean["PATH"] == "/usr/bin" and clean["LANG"] == "C.UTF-8"
    assert clean["AUTHLAB_AWS"] == "local" and clean["JPY_PARENT_PID"] == "1"
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GITHUB_TOKEN", "MY_API_KEY"):
        assert name not in clean
    assert "DB_PASSWORD" not in clean and "RANDOM_THING" not in clean
    assert clean["HOME"] == "/tmp/h" and clean["GRADER_MEMORY_MB"] == "512"
    assert clean["PYTHONPATH"] == str(SITE_DIR) and clean["GRADER_SANDBOX"] == "1"


# The guard is loaded over recorders standing in for the real socket calls, so nothing here
# ever leaves the machine, whether the guard works or not.
_PROBE = textwrap.dedent(
    """
    import importlib.util, json, socket, sys
    calls = []
    socket.getaddrinfo = lambda host, *a, **k: calls.append(("dns", host)) or []
    socket.socket.connect = lambda self, address: calls.append(("connect", address[0]))
    spec = importlib.util.spec_from_file_location("guard", sys.argv[1])
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    outcome = {}
    for host in ("192.0.2.1", "0.0.0.0", "127.0.0.1", "::1", "localhost"):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            sock.connect((host, 9))
            outcome[host] = "allowed"
        except OSError:
            outcome[host] = "refused"
        finally:
            sock.close()
    try:
        socket.getaddrinfo("example.com", 80)
        outcome["dns"] = "allowed"
    except socket.gaierror:
        outcome["dns"] = "refused"
    print(json.dumps({"outcome": outcome, "calls": calls}))
    """
)


def test_network_guard_allows_only_loopback():
    env = {**os.environ, "GRADER_SANDBOX": "1", "GRADER_NETWORK": "loopback"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(SITE_DIR / "sitecustomize.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    seen = json.loads(done.stdout)
    assert seen["outcome"] == {
        "192.0.2.1": "refused",
        "0.0.0.0": "refused",
        "127.0.0.1": "allowed",
        "::1": "allowed",
        "localhost": "allowed",
        "dns": "refused",
    }
    assert all(host in {"127.0.0.1", "::1", "localhost"} for _, host in seen["calls"])


def test_memory_limit_is_set_in_sandboxed_pythons():
    env = {**os.environ, "GRADER_SANDBOX": "1", "GRADER_MEMORY_MB": "700"}
    env["PYTHONPATH"] = str(SITE_DIR)
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "700"


def test_progress_line_counts_and_estimates():
    stream = io.StringIO()
    bar = Progress(4, label="grading ", stream=stream, every=0)
    assert "0/4" in bar.line() and "ETA --:--" in bar.line()
    bar.advance(note="s1/01")
    bar.advance(3)
    text = stream.getvalue()
    assert "1/4" in text and "s1/01" in text and "4/4 100%" in text


# --- the OS sandbox: probe, refusal, --no-sandbox, scores clamped in the parent ----------

NB = "01-sessions-vs-tokens"


def _no_bwrap(monkeypatch):
    from grader.sandbox import bwrap

    bwrap.probe.cache_clear()
    monkeypatch.setattr(bwrap.shutil, "which", lambda name: None)
    return bwrap


def _shown_as_python_does(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` as outside pytest: to ``sys.stderr`` as it is when shown."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


class SAWarning(Warning):
    """Stands in for SQLAlchemy's, which nbgrader's gradebook code raises while grading."""


def test_warnings_during_a_run_go_to_the_log_not_the_terminal(tmp_path, capfd):
    from grader.console import stderr_to_log

    log = tmp_path / "autograde.log"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _shown_as_python_does
        with stderr_to_log(log) as terminal:
            print("grading [1/1]", file=terminal)
            warnings.warn("Object of type <Grade> not in session", SAWarning, stacklevel=1)
        warnings.warn("after the run", UserWarning, stacklevel=1)
    err = capfd.readouterr().err
    assert "grading [1/1]" in err and "not in session" not in err
    assert "SAWarning: Object of type <Grade> not in session" in log.read_text()
    assert "after the run" in err  # the terminal gets warnings back after the block


def test_the_probe_says_when_bubblewrap_is_missing_and_caches_its_answer(monkeypatch):
    bwrap = _no_bwrap(monkeypatch)
    try:
        assert bwrap.probe() == "bubblewrap (bwrap) is not installed"
        monkeypatch.setattr(bwrap.shutil, "which", lambda name: "/usr/bin/bwrap")
        assert bwrap.probe() == "bubblewrap (bwrap) is not installed"  # once per process
    finally:
        bwrap.probe.cache_clear()


def test_the_probe_runs_true_in_a_real_sandbox_here():
    from grader.sandbox import bwrap

    bwrap.probe.cache_clear()
    assert bwrap.probe() is None, "bubblewrap must work where the grader's tests run"


def test_autograde_refuses_without_a_sandbox_and_names_the_fix(monkeypatch, tmp_path, capsys):
    from grader.cli import main

    from .conftest import ROOT

    bwrap = _no_bwrap(monkeypatch)
    try:
        (tmp_path / "class").mkdir()
        code = main(
            ["--course", str(ROOT), "autograde", str(tmp_path / "class")]
            + ["--out", str(tmp_path / "grades.csv"), "--workdir", str(tmp_path / "work")]
        )
    finally:
        bwrap.probe.cache_clear()
    said = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "grades.csv").exists()
    assert "Cannot grade in a sandbox: bubblewrap (bwrap) is not installed" in said
    assert "sudo apt-get install bubblewrap" in said and "--no-sandbox" in said


@pytest.mark.notebooks
def test_no_sandbox_grades_anyway_and_says_so_everywhere(monkeypatch, tmp_path, capsys):
    import shutil

    from grader.cli import main
    from grader.records.grades import UNSANDBOXED_NOTE, read_csv

    from .conftest import ROOT

    bwrap = _no_bwrap(monkeypatch)
    submissions = tmp_path / "class"
    shutil.copytree(ROOT / "data" / "submissions" / "partial" / NB, submissions / "partial" / NB)
    try:
        code = main(
            ["--course", str(ROOT), "autograde", str(submissions), "--no-sandbox"]
            + ["--out", str(tmp_path / "grades.csv"), "--workdir", str(tmp_path / "work")]
            + ["--jobs", "1", "--no-progress"]
        )
    finally:
        bwrap.probe.cache_clear()
    said = capsys.readouterr().out
    assert code == 0 and "WARNING: graded WITHOUT the OS sandbox (--no-sandbox)" in said
    [row] = read_csv(tmp_path / "grades.csv")
    assert (row.status, row.score) == ("graded", 2.0) and UNSANDBOXED_NOTE in row.reason
    import csv

    with (tmp_path / "grades.csv").open(newline="") as handle:
        [record] = list(csv.DictReader(handle))
    assert record["sandbox"] == "off"
    from grader.records.report import write_report

    from .conftest import COURSE

    page, _ = write_report(COURSE, tmp_path / "work", tmp_path / "report")
    assert "1 notebook(s) were graded WITHOUT the OS sandbox" in page.read_text()
    from grader.records.feedback import write_feedback

    [feedback] = write_feedback(tmp_path / "work")
    assert UNSANDBOXED_NOTE in feedback.read_text()


def test_scores_are_clamped_to_each_cells_maximum():
    from grader.gradebook import clamp_score

    assert clamp_score(100, 2) == 2.0
    assert clamp_score(-5, 2) == 0.0
    assert clamp_score(1.5, 2) == 1.5
    assert clamp_score(float("nan"), 2) == 0.0 and clamp_score(float("inf"), 2) == 0.0
    assert clamp_score("many", 2) == 0.0
    assert clamp_score(None, 2) is None  # awaiting a grade by hand


@pytest.mark.notebooks
def test_a_forged_notebook_claiming_100_points_scores_at_most_the_gradebooks_points(tmp_path):
    import nbformat
    from nbgrader.apps import NbGraderAPI

    from grader.gradebook import record_assignments, record_result
    from grader.records.results import class_rows
    from grader.worker import JobResult, NotebookResult

    from .conftest import COURSE

    db = tmp_path / "gradebook.db"
    config = COURSE.nbgrader_config(root=tmp_path, db_url=f"sqlite:///{db}")
    record_assignments(NbGraderAPI(config=config), [NB], tmp_path, db)
    forged = nbformat.read(COURSE.student_notebook(NB), as_version=4)
    for cell in forged.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 100
            if cell.cell_type == "code":
                cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "100"})]
    notebook = NotebookResult(NB, "graded", autograded=nbformat.writes(forged), attempted=True)
    record_result(f"sqlite:///{db}", config, JobResult("mallory", NB, [notebook], 1.0), tmp_path)
    [row] = [r for r in class_rows(tmp_path) if r.student_id == "mallory"]
    assert row.max_score == 8.0 and row.score <= 5.0


# --- round 2, item 9: memory is resident memory; the limits are checked on the solutions --


def test_item_9_memory_is_what_processes_allocate_not_their_address_space():
    import resource

    from grader.sandbox.bwrap import AS_FACTOR, AS_HEADROOM_MB, NPROC_MARGIN, Limits, outside_uid

    found = dict(Limits(memory_mb=1024, processes=256).rlimits())
    assert found[resource.RLIMIT_DATA] == 1024 * 2**20
    assert found[resource.RLIMIT_AS] == (AS_FACTOR * 1024 + AS_HEADROOM_MB) * 2**20
    if outside_uid() is not None:  # the cgroup (256 tasks) refuses first, and counts it
        assert found[resource.RLIMIT_NPROC] == 256 + NPROC_MARGIN
    unlimited = dict(Limits(memory_mb=0).rlimits())
    assert unlimited[resource.RLIMIT_DATA] == resource.RLIM_INFINITY
    assert resource.RLIMIT_AS not in unlimited


def test_item_9_each_stop_is_named_with_its_limits_value():
    from grader.stopped import label_stops, what_stopped

    limits = {"memory_mb": 1024, "processes": 256, "disk_mb": 512, "timeout": 10}
    text = {"cells": [{"outputs": [{"ename": "MemoryError", "evalue": ""}]}]}
    assert label_stops(what_stopped(text), limits) == ["memory limit (1024 MiB)"]
    assert label_stops(["process limit", "time limit", "disk limit"], limits) == [
        "process limit (256 processes and threads)",
        "time limit (10 s per cell)",
        "disk limit (512 MiB)",
    ]
    kept = "memory limit (1024 MiB; 2 process(es) killed)"
    assert label_stops([kept], limits) == [kept]
    # a thread that could not start is not blamed on the process limit alone
    text = {"cells": [{"outputs": [{"ename": "RuntimeError", "evalue": "can't start new thread"}]}]}
    assert what_stopped(text) == ["a thread could not start (memory or process limit)"]


def _solutions_result(assignment: str, passed: bool, note: str = "", peak: int = 150):
    import json

    from grader.worker import JobResult, NotebookResult

    test = {
        "cell_type": "code",
        "metadata": {"nbgrader": {"grade": True, "solution": False, "grade_id": "t1"}},
        "outputs": [] if passed else [{"output_type": "error", "ename": "Failed"}],
    }
    nb = NotebookResult(
        assignment,
        "graded",
        notes=[note] if note else [],
        autograded=json.dumps({"cells": [test]}),
        attempted=True,
        peak_mb=peak,
    )
    return JobResult("/solutions", assignment, [nb], 1.0)


def test_item_9_the_limits_check_runs_once_per_assignment_sources_and_limits(tmp_path):
    from grader.limits import CACHE_NAME, check_limits

    from .conftest import COURSE

    runs: list[tuple[str, int]] = []

    def make_job(student, assignment, files, memory_mb):
        assert student == "/solutions" and files  # the solutions, filled from solutions/
        return (assignment, memory_mb)

    def run(jobs):
        runs.extend(jobs)
        return [_solutions_result(assignment, True) for assignment, _ in jobs]

    limits = {"memory_mb": 1024, "processes": 256, "timeout": 10}
    hashes = {NB: "sources-v1"}
    check_limits(COURSE, [NB], hashes, limits, tmp_path, make_job, run)
    check_limits(COURSE, [NB], hashes, limits, tmp_path, make_job, run)
    assert runs == [(NB, 1024)]  # once, then reused from the work folder
    assert (tmp_path / CACHE_NAME).is_file()
    check_limits(COURSE, [NB], hashes, {**limits, "memory_mb": 2048}, tmp_path, make_job, run)
    check_limits(COURSE, [NB], {NB: "sources-v2"}, limits, tmp_path, make_job, run)
    assert runs == [(NB, 1024), (NB, 2048), (NB, 1024)]


def test_item_9_limits_that_stop_the_solutions_are_refused_with_the_least_that_works(tmp_path):
    from grader.limits import LimitsTooSmall, check_limits

    from .conftest import COURSE

    tried: list[int] = []

    def run(jobs):
        found = []
        for assignment, memory_mb in jobs:
            tried.append(memory_mb)
            stopped = 0 < memory_mb < 300  # these solutions need 300 MiB
            note = "the sandbox stopped: memory limit (x MiB)" if stopped else ""
            found.append(_solutions_result(assignment, not stopped, note))
        return found

    limits = {"memory_mb": 128, "processes": 256, "timeout": 10}
    with pytest.raises(LimitsTooSmall) as refused:
        check_limits(COURSE, [NB], {NB: "h"}, limits, tmp_path, lambda *a: (a[1], a[3]), run)
    said = str(refused.value)
    assert "stop the instructor's own solutions" in said and "nothing was graded" in said
    assert "memory limit" in said and "the least that works is --memory 320" in said
    assert tried[:2] == [128, 0]  # the chosen limit, then none: the peak is measured
    assert "--memory 320" in said and "peak without a limit: 150 MiB" in said


def test_item_9_solutions_failing_without_limits_are_not_the_limits_fault(tmp_path):
    from grader.limits import check_limits

    from .conftest import COURSE

    def run(jobs):
        return [_solutions_result(assignment, False) for assignment, _ in jobs]

    limits = {"memory_mb": 1024, "processes": 256, "timeout": 10}
    check_limits(COURSE, [NB], {NB: "h"}, limits, tmp_path, lambda *a: (a[1], a[3]), run)


@pytest.mark.notebooks
def test_item_9_the_perfect_sample_keeps_full_marks_with_memory_1024_and_jobs_2(tmp_path):
    import csv
    import shutil

    from grader.autograde import autograde

    from .conftest import COURSE, ROOT

    samples = ROOT / "data" / "submissions"
    names = ("05-api-gateway-jwt-authorizer", "07-federation", "08-token-lifecycle")
    for name in names:
        shutil.copytree(samples / "perfect" / name, tmp_path / "class" / "perfect" / name)
    with (samples / "expected_scores.csv").open() as handle:
        expected = {
            r["assignment"]: float(r["score"])
            for r in csv.DictReader(handle)
            if r["student_id"] == "perfect"
        }
    rows = autograde(COURSE, tmp_path / "class", workdir=tmp_path / "work", jobs=2, memory_mb=1024)
    for row in rows:
        assert (row.status, row.score) == ("graded", expected[row.assignment]), row
        assert "sandbox stopped" not in row.reason and "kernel died" not in row.reason, row


@pytest.mark.notebooks
def test_item_9_a_too_small_memory_is_refused_before_grading_naming_the_least(tmp_path, capsys):
    import re
    import shutil

    from grader.cli import main
    from grader.records.grades import read_csv

    from .conftest import ROOT

    submissions = tmp_path / "class"
    shutil.copytree(ROOT / "data" / "submissions" / "perfect" / NB, submissions / "perfect" / NB)
    common = ["--course", str(ROOT), "autograde", str(submissions), "--jobs", "2"]
    common += ["--out", str(tmp_path / "grades.csv"), "--workdir", str(tmp_path / "work")]
    code = main([*common, "--memory", "96", "--no-progress"])
    said = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "grades.csv").exists(), said
    assert "stop the instructor's own solutions" in said and "nothing was graded" in said
    least = int(re.search(r"the least that works is --memory (\d+)", said).group(1))
    assert 96 < least <= 1024
    assert main([*common, "--memory", str(least), "--no-progress"]) == 0
    [row] = read_csv(tmp_path / "grades.csv")
    assert (row.status, row.score) == ("graded", 5.0) and "stopped" not in row.reason


@pytest.mark.notebooks
def test_item_9_a_kernel_killed_at_the_cpu_time_limit_says_so(tmp_path, monkeypatch):
    import nbformat

    from grader import autograde as module
    from grader.authoring.samples import KINDS, fill_answers

    from .conftest import COURSE

    nb = fill_answers(COURSE.source_notebook(NB), COURSE.student_notebook(NB), KINDS["perfect"])
    nb.cells.insert(1, nbformat.v4.new_code_cell("while True:\n    pass"))
    folder = tmp_path / "class" / "spinner" / NB
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{NB}.ipynb")
    plain = module._worker_config

    def with_cpu(*args, **kwargs):
        found = plain(*args, **kwargs)
        found["SandboxKernelManager"]["cpu_seconds"] = 20
        return found

    monkeypatch.setattr(module, "_worker_config", with_cpu)
    [row] = module.autograde(
        COURSE, tmp_path / "class", workdir=tmp_path / "work", jobs=1, timeout=120
    )
    assert row.status == "error" and "CPU time limit (20 s of CPU per process)" in row.reason


_DEFERRED = """
import sys
import jsonschema
import moto.apigateway.models  # imports jsonschema's format checkers, as lessons do
print("deferred", "rfc3987_syntax.syntax_helpers" not in sys.modules)
check = jsonschema.FormatChecker()
print("iri", check.conforms("https://example.com/a?b#c", "iri"), check.conforms("a b", "iri"))
print("iri-ref", check.conforms("../x", "iri-reference"), check.conforms("\\\\x", "iri-reference"))
from rfc3987_syntax import is_valid_syntax_iri, RFC3987_SYNTAX_TERMS
import rfc3987_syntax.syntax_helpers as helpers
print("direct", is_valid_syntax_iri("urn:x"), helpers.is_valid_syntax("iri", "ht tp:"), "iri" in RFC3987_SYNTAX_TERMS)
"""


def test_the_sandboxs_sitecustomize_defers_unused_grammars_and_changes_no_answer(tmp_path):
    """The kernels' startup file (grader/sandbox/startup) only makes rfc3987_syntax's
    grammars load on first use: every answer is the one the real module gives."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(startup: bool) -> list[str]:
        extra = {"PYTHONPATH": str(STARTUP_SITE.parent)} if startup else {}
        done = subprocess.run(
            [sys.executable, "-c", _DEFERRED],
            env={**env, **extra},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.splitlines()

    deferred, plain = run(True), run(False)
    assert deferred[0] == "deferred True" and plain[0] == "deferred False"
    assert deferred[1:] == plain[1:]
    assert deferred[1] == "iri True False" and deferred[3] == "direct True False True"


def test_sandboxed_kernels_get_the_startup_file_on_their_path(tmp_path):
    from grader.sandbox.bwrap import STARTUP_DIR, Sandbox

    assert sandbox_env({"PYTHONPATH": "/grader/secret"})["PYTHONPATH"] == STARTUP_DIR
    sandbox = Sandbox(tmp_path, startup={"sitecustomize.py": b"print(1)"})
    try:
        argv = sandbox.command(["true"])
    finally:
        sandbox.close()
    at = argv.index(f"{STARTUP_DIR}/sitecustomize.py")
    assert argv[at - 2] == "--ro-bind-data"  # read-only: the kernel cannot change it


_WARM_JUDGE = """
import importlib, sys
from grader.judge import server
for name in server.PRELOAD:
    importlib.import_module(name)
server.judge_shell()
import gc
print(type(sys.modules["rfc3987_syntax"]).__name__, "nbgrader" in sys.modules, gc.get_threshold())
"""


def test_judges_start_with_the_startup_file_and_load_no_grammar_or_nbgrader(tmp_path):
    """A judge's interpreter has the kernels' startup file first on its path, so what it
    preloads before forking builds no rfc3987_syntax grammar, and it never imports nbgrader;
    the collector's thresholds are the startup file's, in kernels and judges alike."""
    from grader.judge.server import STARTUP_DIR, _judge_env

    env = _judge_env()
    assert Path(env["PYTHONPATH"].split(os.pathsep)[0]) == STARTUP_SITE.parent == Path(STARTUP_DIR)
    done = subprocess.run(
        [sys.executable, "-c", _WARM_JUDGE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split(None, 2) == ["_Deferred", "False", "(10000, 20, 20)\n"]
