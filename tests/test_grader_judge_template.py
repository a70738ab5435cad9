"""grader.judge.server: the warm judge runs a script's first lessons once (its template), and
judges each request in a process forked from there, with its own copy of their state.

The warm judge runs as the worker starts it (``python -m grader.judge.server --serve``), with
a stand-in for the link to a kernel: these scripts have lessons and tests, no answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.judge.script import JudgeScript, JudgeStep
from grader.sandbox.bwrap import probe

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or probe() is not None, reason="needs fork and namespaces"
)

HARNESS = """
import sys
import grader.judge.server as server

class Link:
    def __init__(self, *args, **kwargs):
        self.before_call, self.stale = None, False
    def close(self):
        pass

server.KernelLink = Link
sys.argv = ["server", "--serve"]
server.main()
"""

LESSON = """
import json, os, urllib.request
from authlab.cloud.localhttp import HttpResponse, LocalHttpServer
open(os.environ["LESSONS_RAN"], "a").write("x")
counts = []
def count(request):
    counts.append(1)
    return HttpResponse.json(200, {"n": len(counts), "pid": os.getpid()})
server = LocalHttpServer(count, name="counter").start()
def hit():
    with urllib.request.urlopen(server.url, timeout=10) as reply:
        return json.loads(reply.read())
assert hit()["n"] == 1  # a kept-alive connection is not reused here; the state is
"""

TEST = """
seen = hit()
assert seen["n"] == 2 and seen["pid"] == os.getpid(), seen
open(f"left-by-{os.getpid()}", "w").write("a file in the judge's working folder")
"""

CLEAN = 'assert os.listdir(".") == [f"left-by-{os.getpid()}"], os.listdir(".")'


def _script(lesson: str, *tests: str) -> dict:
    steps = [JudgeStep("lesson", source=lesson)]
    steps += [JudgeStep("test", source=t, grade_id=f"t{i}", points=1) for i, t in enumerate(tests)]
    return JudgeScript(steps).to_dict()


class _Judge:
    def __init__(self, tmp_path: Path, transport: str = "ipc"):
        self.transport = transport  # ipc: the kernel is sandboxed, the judge isolated
        self.log = tmp_path / "lessons-ran"
        self.log.write_text("")
        env = {**os.environ, "LESSONS_RAN": str(self.log)}
        env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [sys.executable, "-c", HARNESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )

    def ask(self, script: dict, word: str = "go") -> dict | str:
        request = {"script": script, "connection": {"transport": self.transport}, "timeout": 10}
        self.process.stdin.write(json.dumps(request).encode() + b"\n" + word.encode() + b"\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().decode()
        try:
            return json.loads(line)
        except ValueError:
            return line

    def lessons_ran(self) -> int:
        return len(self.log.read_text())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def judge(tmp_path):
    found = _Judge(tmp_path)
    yield found
    found.close()


def _passed(reply: dict | str) -> list[bool]:
    assert isinstance(reply, dict), reply
    return [verdict["passed"] for verdict in reply["verdicts"]]


def test_the_first_lessons_run_once_and_each_judge_has_its_own_copy_of_their_state(judge):
    script = _script(LESSON, TEST, CLEAN)
    replies = [judge.ask(script) for _ in range(3)]
    assert all(_passed(reply) == [True, True] for reply in replies), replies
    assert judge.lessons_ran() == 1
    phases = [reply["phases"].get("lessons before answers", 0.0) for reply in replies]
    assert phases[0] > 0 and phases[1:] == [0.0, 0.0]  # what each judge spent, not the template


def test_another_script_gets_a_template_of_its_own(judge):
    first, other = _script(LESSON, TEST), _script(LESSON + "\nother = 1\n", TEST)
    assert _passed(judge.ask(first)) == [True]
    assert _passed(judge.ask(other)) == [True]
    assert _passed(judge.ask(first)) == [True]
    assert judge.lessons_ran() == 3


def test_lessons_that_leave_a_thread_are_judged_in_the_template_once(judge):
    threaded = (
        LESSON
        + "\nimport threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    )
    script = _script(threaded, TEST)
    assert _passed(judge.ask(script)) == [True]
    assert _passed(judge.ask(script)) == [True]
    assert judge.lessons_ran() == 2  # not forked from: run again


def test_a_stopped_request_gets_no_verdict_and_the_next_is_judged(judge):
    script = _script(LESSON, TEST)
    assert judge.ask(script, "stop")["verdicts"] == []
    assert _passed(judge.ask(script)) == [True]
    assert judge.lessons_ran() == 1


def test_a_failing_lesson_is_reported_by_every_judge_of_the_template(judge):
    script = _script(LESSON + "\nraise ValueError('a broken lesson')\n", TEST)
    replies = [judge.ask(script) for _ in range(2)]
    assert all(reply["lesson_errors"] == ["ValueError: a broken lesson"] for reply in replies)
    assert judge.lessons_ran() == 1


def test_an_unreadable_request_is_answered_and_the_judge_goes_on(judge):
    judge.process.stdin.write(b"{not json\ngo\n")
    judge.process.stdin.flush()
    assert judge.process.stdout.readline().startswith(b"unreadable request")
    assert _passed(judge.ask(_script(LESSON, TEST))) == [True]


def test_switched_off_every_judge_runs_its_lessons(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_JUDGE_TEMPLATE", "0")
    judge = _Judge(tmp_path)
    try:
        script = _script(LESSON, TEST, CLEAN)
        assert [_passed(judge.ask(script)) for _ in range(2)] == [[True, True]] * 2
        assert judge.lessons_ran() == 2
    finally:
        judge.close()


def test_the_judges_matplotlib_renders_no_figure():
    """``%matplotlib inline`` in a lesson leaves the judge on the non-interactive backend:
    the figures it draws are never shown, so never rendered."""
    code = """
import matplotlib
from grader.judge.script import judge_shell
shell = judge_shell()
result = shell.run_cell("%matplotlib inline\\nimport matplotlib.pyplot as plt\\nplt.plot([1, 2]);")
hooks = [repr(hook) for hook in shell.events.callbacks["post_execute"]]
print(result.success, matplotlib.get_backend(), any("flush_figures" in h for h in hooks))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split()[-3:] == ["True", "agg", "False"], done.stdout + done.stderr


def test_lessons_that_leave_a_file_open_or_a_process_are_run_by_each_judge(judge, tmp_path):
    for leaves in (
        f"kept = open({str(tmp_path / 'log')!r}, 'a')",
        "import subprocess\nkept = subprocess.Popen(['sleep', '60'])",
    ):
        script = _script(LESSON + "\n" + leaves + "\n", TEST)
        before = judge.lessons_ran()
        assert [_passed(judge.ask(script)) for _ in range(2)] == [[True]] * 2
        assert judge.lessons_ran() == before + 2, leaves


def test_without_the_sandbox_no_judge_is_forked_from_a_template(tmp_path):
    judge = _Judge(tmp_path, transport="tcp")  # the machine's loopback: its ports are shared
    try:
        script = _script(LESSON, TEST)
        assert [_passed(judge.ask(script)) for _ in range(2)] == [[True]] * 2
        assert judge.lessons_ran() == 2
    finally:
        judge.close()


def test_a_template_that_died_or_failed_a_judge_is_replaced(judge):
    import psutil

    script = _script(LESSON, TEST)
    assert _passed(judge.ask(script)) == [True]
    [template] = psutil.Process(judge.process.pid).children()
    template.kill()  # serve's child: it reaps it on the next request
    while template.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.05)
    assert _passed(judge.ask(script)) == [True]  # a new template, not "crashed"
    assert judge.lessons_ran() == 2
    broken = JudgeScript.from_dict(script)  # the same lessons, so the same template
    broken.steps.append(JudgeStep("test", source="import os; os._exit(3)", grade_id="x", points=1))
    assert judge.ask(broken.to_dict()) == "the judge process crashed\n"
    assert _passed(judge.ask(script)) == [True]  # not from the template that saw it crash
    assert judge.lessons_ran() == 3
