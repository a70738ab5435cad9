"""The judge: every graded test of a notebook, run outside the learner's kernel.

While a notebook is graded, the learner's code runs in its own sandboxed kernel; the graded
test cells are never sent there (:mod:`grader.judge.execute`). The judge, a separate
process that never runs learner code (:mod:`grader.judge.server`), replays the
*instructor's* notebook, taken from the course's sources:

* lesson cells run here, as the instructor wrote them (the learner's copies are ignored),
  except those tagged :data:`FIGURE_ONLY`: they only draw, and no test reads a figure;
* an answer cell is not run: each name the solution defines there is bound to the learner's
  version, reached through the kernel (:mod:`grader.judge.link`). A function becomes a
  :class:`~grader.judge.link.RemoteObject` (its arguments go in as a pickle made here, its result
  comes back as plain data, an exception as its class names and message); a value is read
  once, as plain data;
* before the learner's code runs, the kernel gets the judge's lesson values (ids, keys,
  issuers: the world the tests see), as a deployment configures a function. What cannot be
  copied (an AWS client) is lent: the learner's code uses the judge's own object, through
  the kernel's link to the judge, so its AWS calls reach the judge's local AWS, whose state
  the tests then read; the judge's local servers are reachable from the kernel at their
  own addresses;
* test cells, visible and hidden, run here and give a :class:`Verdict` each: passed, or the
  failure's message. Output the learner's code prints during a test is never read.

A hostile notebook can make its replies wrong or unreadable; it cannot make a test pass
without answering inputs it never saw, see a hidden test, or reach the judge's memory.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import time
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..course import solution_text
from .link import JudgeError, KernelLink, RemoteObject, Unreadable
from .wire import RemoteRaised

__all__ = [
    "FIGURE_ONLY",
    "VISIBLE_PASSED",
    "JudgeScript",
    "JudgeStep",
    "Lessons",
    "Verdict",
    "Watch",
    "judge_script",
    "judge_shell",
    "lessons_key",
    "run_lessons",
    "run_script",
]

VISIBLE_PASSED = "Visible checks passed."
"""How a test cell's output starts when its visible checks passed and a hidden one failed."""

FIGURE_ONLY = "figure-only"
"""The tag of a lesson cell that only draws (imports a plotting library, makes a figure and
shows it). The judge does not run it: its figure would be drawn for no one, and importing
matplotlib alone costs a judge about 40 MiB. ``grader lint`` checks that such a cell changes
nothing the judge's cells could see (:func:`grader.authoring.lint.figure_only_problems`)."""


@dataclass
class JudgeStep:
    """One code cell of the instructor's notebook, as the judge replays it."""

    kind: str  # "lesson", "answer" or "test"
    source: str = ""  # lesson cells, and a test cell's visible checks: the instructor's source
    hidden: str = ""  # a test cell's hidden checks (run after its visible ones)
    names: list[str] = field(default_factory=list)  # answer cells: the names they define
    grade_id: str = ""
    points: float = 0.0


@dataclass
class JudgeScript:
    """The instructor's notebook reduced to what the judge replays (plain data)."""

    steps: list[JudgeStep]
    lend_types: list[str] = field(default_factory=list)
    """Classes whose instances the judge lends rather than copies when a test hands one to
    the learner's code (a token service that counts the refreshes it is asked for)."""
    unanswered: list[str] = field(default_factory=list)
    """Answer names whose answer cell, in the submitted notebook, still raises
    ``NotImplementedError`` (set by :mod:`grader.judge.execute` from the notebook's source,
    never from the kernel): a test that misses one says "not answered yet"."""

    @property
    def tests(self) -> list[JudgeStep]:
        """The graded test cells the judge scores (those worth points)."""
        return [step for step in self.steps if step.kind == "test" and step.points > 0]

    @property
    def answer_names(self) -> list[str]:
        """Every name an answer cell defines, in order."""
        return [name for step in self.steps if step.kind == "answer" for name in step.names]

    def to_dict(self) -> dict:
        """The script as JSON-ready data."""
        return {
            "steps": [asdict(step) for step in self.steps],
            "lend_types": list(self.lend_types),
            "unanswered": list(self.unanswered),
        }

    @classmethod
    def from_dict(cls, data: dict) -> JudgeScript:
        """The script from :meth:`to_dict`'s data."""
        return cls(
            [JudgeStep(**step) for step in data["steps"]],
            list(data.get("lend_types", [])),
            list(data.get("unanswered", [])),
        )


@dataclass
class Verdict:
    """The judge's decision on one graded test cell."""

    grade_id: str
    passed: bool
    message: str = ""
    visible_passed: bool = False  # the cell's visible checks passed before a hidden one failed


def defined_names(source: str) -> list[str]:
    """The top-level names a cell defines (functions, classes, assignments, imports)."""
    names: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def judge_script(nb: Any) -> JudgeScript:
    """The :class:`JudgeScript` of an instructor's (source) notebook."""
    steps = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            names = defined_names(solution_text(cell.source))
            steps.append(JudgeStep("answer", names=names, grade_id=meta.get("grade_id", "")))
        elif meta.get("grade"):
            visible, hidden = _split_hidden(cell.source)
            steps.append(
                JudgeStep(
                    "test",
                    source=visible,
                    hidden=hidden,
                    grade_id=meta["grade_id"],
                    points=float(meta.get("points") or 0),
                )
            )
        elif cell.source.strip() and FIGURE_ONLY not in cell.metadata.get("tags", []):
            steps.append(JudgeStep("lesson", source=cell.source))
    scored = [i for i, step in enumerate(steps) if step.kind == "test" and step.points > 0]
    steps = steps[: scored[-1] + 1] if scored else []  # what follows the last test decides nothing
    settings = nb.metadata.get("grader") or {}
    return JudgeScript(steps, [str(name) for name in settings.get("lend_types") or []])


def _split_hidden(source: str) -> tuple[str, str]:
    """A test cell's visible checks and its hidden ones (nbgrader's HIDDEN TESTS block)."""
    begin, end = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
    if begin not in source:
        return source, ""
    before, _, rest = source.partition(begin)
    hidden, _, after = rest.partition(end)
    return before + after, hidden


# -- replaying the instructor's notebook -------------------------------------------------------


def _message(
    exc: BaseException,
    answers: set[str],
    *,
    hidden: bool = False,
    unanswered: frozenset[str] = frozenset(),
) -> str:
    """The verdict's message for a failed check. For a hidden check it names what was
    checked, never the expected value nor what the learner's code said (which could carry
    the hidden inputs out). A missing answer whose cell still raises ``NotImplementedError``
    (``unanswered``) is "not answered yet", as an unanswered function is."""
    from authlab.course.feedback import CheckFailed

    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, NotImplementedError):
        message = "not answered yet (the answer still raises NotImplementedError)"
    elif isinstance(exc, RemoteRaised):
        said = "" if hidden else (f": {first}" if first else "")
        during = " during a hidden check" if hidden else ""
        message = f"your code raised {type(exc).__name__}{said}{during}{exc.learner_where}"
    elif isinstance(exc, NameError) and getattr(exc, "name", None) in unanswered:
        message = (
            f"not answered yet ({exc.name} is set in an answer cell that still raises "
            "NotImplementedError)"
        )
    elif isinstance(exc, NameError) and getattr(exc, "name", None) in answers:
        message = (
            f"{exc.name} is not defined in your notebook: did its answer cell run, or was it "
            "renamed?"
        )
    elif isinstance(exc, JudgeError):
        message = text
    elif hidden:
        what = str(getattr(exc, "what", "") or "") if isinstance(exc, CheckFailed) else ""
        message = f"a hidden check failed{f' ({what[:150]})' if what else ''}"
    elif isinstance(exc, CheckFailed):
        message = text
    elif isinstance(exc, AssertionError):
        message = f"a check failed{': ' + first if first else ''}"
    else:
        message = f"{type(exc).__name__}{': ' + first if first else ''}"
    return message[:600]


_shell: Any = None


def judge_shell() -> Any:
    """The judge's IPython shell, made on the first call: no display, magics work,
    ``%matplotlib inline`` draws nothing. The warm judge makes it before it forks (it holds
    nothing a lesson ran: every forked judge starts from the same empty namespace)."""
    global _shell
    if _shell is None:
        from IPython.core.interactiveshell import InteractiveShell

        class JudgeShell(InteractiveShell):
            def enable_gui(self, gui: str | None = None) -> None:
                """No GUI event loop: the judge draws nothing."""

            def enable_matplotlib(self, gui: str | None = None) -> tuple[None, str]:
                """``%matplotlib``, whatever it asks: matplotlib's non-interactive backend.
                No figure is shown, so none is rendered (the inline backend would make a
                PNG of each at the end of every cell)."""
                import matplotlib

                matplotlib.use("agg")
                return None, "agg"

        os.environ["MPLBACKEND"] = "agg"
        _shell = JudgeShell.instance()
    return _shell


@dataclass
class Lessons:
    """What the lesson cells before a script's first answer left in the judge's shell
    (:func:`run_lessons`): a judge forked from here starts from them."""

    first: int  # the index of the script's first step that is not a lesson
    values: dict[str, Any]  # each name a lesson bound, with the value it bound
    errors: list[str]  # the lessons' errors
    timings: dict[str, float]  # the seconds they took, by phase


def lessons_key(script: JudgeScript) -> str:
    """What :func:`run_lessons` depends on: the sources of the lessons before the first
    answer (two scripts with the same key leave the same :class:`Lessons`)."""
    import hashlib
    import json

    sources = [step.source for step in script.steps[: _first_answer(script)]]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def _first_answer(script: JudgeScript) -> int:
    """The index of the script's first step that is not a lesson."""
    steps = script.steps
    return next((i for i, step in enumerate(steps) if step.kind != "lesson"), len(steps))


def run_lessons(script: JudgeScript) -> Lessons:
    """Run ``script``'s lesson cells before its first answer in the judge's shell (emptied
    first if it replayed before)."""
    timings: dict[str, float] = {}
    clock = _Clock(timings)
    with clock("shell"):
        shell = judge_shell()
        if getattr(shell, "_replayed", False):  # a second replay in this process
            shell.reset(new_session=False)
        shell._replayed = True
    first = _first_answer(script)
    lessons = Lessons(first, {}, [], timings)
    with clock("lessons before answers"):
        for step in script.steps[:first]:
            _lesson(shell, step, lessons.errors, lessons.values)
    return lessons


def run_script(
    script: JudgeScript,
    connect: Callable[[], KernelLink],
    lesson_errors: list[str] | None = None,
    ready: Callable[[], bool] = lambda: True,
    watch: Watch | None = None,
    timings: dict[str, float] | None = None,
    before: Lessons | None = None,
) -> list[Verdict]:
    """Replay ``script`` against the learner's kernel; one verdict per test.

    The lesson cells before the first answer run at once (while the learner's notebook still
    runs in its kernel), unless ``before`` says what they left (:func:`run_lessons`, run
    in this process or in the one it was forked from); then ``ready()`` waits until the
    notebook has run (``False``: grading was abandoned, no verdict) and ``connect()`` links
    the judge to the kernel.

    The error of a lesson cell that fails here is appended to ``lesson_errors``: a lesson that
    uses an unanswered exercise fails, as it does in the learner's kernel; one that fails on
    the solution too is a problem of the course (the tests after it usually fail as well).

    ``watch`` (for the course's own checks, never for grading) sees each test's visible
    checks run and may try its hidden ones first (:class:`Watch`).

    ``timings``, if given, gets the seconds each phase of the replay took.
    """
    totals = timings if timings is not None else {}
    clock = _Clock(totals)
    if before is None:
        before = run_lessons(script)
    for phase, seconds in before.timings.items():  # where they ran: here, or in the template
        totals[phase] = totals.get(phase, 0.0) + seconds
    if lesson_errors is not None:
        lesson_errors += before.errors
    lessons = before.values
    shell = judge_shell()
    with clock("waiting for the notebook"):
        if not ready():
            return []
    with clock("connect"):
        link = connect()
    try:
        return _replay(
            script, script.steps[before.first :], shell, link, lesson_errors, lessons, watch, clock
        )
    finally:
        link.close()


class _Clock:
    """Adds the seconds of ``with clock(phase):`` blocks to a dict (nested blocks are
    subtracted from the block around them)."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals
        self._inner: list[float] = []

    @contextlib.contextmanager
    def __call__(self, phase: str):
        started = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            inner = self._inner.pop()
            self.totals[phase] = self.totals.get(phase, 0.0) + spent - inner
            if self._inner:
                self._inner[-1] += spent


def _lesson(
    shell: Any, step: JudgeStep, lesson_errors: list[str] | None, lessons: dict[str, Any]
) -> None:
    """Run a lesson cell; ``lessons`` records each name it binds, with the value it bound
    (what :func:`_share` may give the kernel: never a value a test cell set)."""
    ns = shell.user_ns
    before = dict(ns)
    result = shell.run_cell(step.source, store_history=False, silent=True)
    for name, value in ns.items():
        if name not in before or before[name] is not value:
            lessons[name] = value
    for name in [name for name in lessons if name not in ns]:
        del lessons[name]
    error = result.error_before_exec or result.error_in_exec
    if error is not None and lesson_errors is not None:
        first = (str(error).strip().splitlines() or [""])[0]
        lesson_errors.append(f"{type(error).__name__}: {first}"[:300])


def _replay(
    script: JudgeScript,
    steps: list[JudgeStep],
    shell: Any,
    link: KernelLink,
    lesson_errors: list[str] | None,
    lessons: dict[str, Any],
    watch: Watch | None = None,
    clock: _Clock | None = None,
) -> list[Verdict]:
    clock = clock or _Clock({})
    answers = set(script.answer_names)

    def share() -> None:
        with clock("lesson values to the kernel"):
            _share(shell.user_ns, lessons, answers, link)

    link.before_call = share
    kinds: dict[str, str] = {}
    if answers:
        try:
            with clock("answers bound"):
                kinds = link.request("describe", names=sorted(answers)).get("kinds") or {}
        except JudgeError as exc:
            return [Verdict(t.grade_id, False, str(exc)) for t in script.tests]
    verdicts = []
    for step in steps:
        if step.kind == "answer":
            with clock("answers bound"):
                for name in step.names:
                    _bind(shell.user_ns, name, str(kinds.get(name, "missing")), link)
        elif step.kind == "lesson":
            link.stale = True
            with clock("lessons replayed"):
                _lesson(shell, step, lesson_errors, lessons)
        elif step.points > 0:
            link.stale = True
            with clock("tests"):
                verdicts.append(_test(shell, step, answers, watch, frozenset(script.unanswered)))
    return verdicts


def _test(
    shell: Any,
    step: JudgeStep,
    answers: set[str],
    watch: Watch | None = None,
    unanswered: frozenset[str] = frozenset(),
) -> Verdict:
    """Run a test cell's visible checks, then its hidden ones; the verdict."""
    for part, hidden in ((step.source, False), (step.hidden, True)):
        if not part.strip():
            continue
        if watch is not None and hidden:
            watch.hidden(step, shell.user_ns, lambda code: _run_part(shell, code))
        seen = watch.visible(step, shell.user_ns) if watch is not None and not hidden else None
        with seen or contextlib.nullcontext():
            error = _run_part(shell, part)
        if error is not None:
            message = _message(error, answers, hidden=hidden, unanswered=unanswered)
            return Verdict(step.grade_id, False, message, visible_passed=hidden)
    return Verdict(step.grade_id, True)


def _run_part(shell: Any, part: str) -> BaseException | None:
    """Run part of a test cell in the judge's shell; its error, if any."""
    with contextlib.redirect_stdout(io.StringIO()):
        result = shell.run_cell(part, store_history=False, silent=True)
    return result.error_before_exec or result.error_in_exec


class Watch(Protocol):
    """What :func:`run_script` lets the course's own checks see (:mod:`grader.authoring.memorize`)."""

    def visible(self, step: JudgeStep, ns: dict) -> contextlib.AbstractContextManager:
        """Entered while ``step``'s visible checks run in namespace ``ns``."""

    def hidden(self, step: JudgeStep, ns: dict, run: Callable[[str], BaseException | None]) -> None:
        """Called before ``step``'s hidden checks run; ``run(code)`` runs code as they would
        run (its error, if any)."""


_NOT_SHARED = {"In", "Out", "exit", "quit", "get_ipython"}
_MISSING = object()


def _share(ns: dict, lessons: dict[str, Any], answers: set[str], link: KernelLink) -> None:
    """Give the kernel the judge's lesson values: the world the answers run in is the one
    the tests see (ids, keys, issuers, AWS clients). Only names a lesson cell bound, still
    bound to the lesson's value: never a name a test cell set (a hidden check's inputs and
    expected values stay in the judge). Values are copied, or lent when they cannot be
    and :meth:`~grader.judge.link.KernelLink.may_lend` allows (an AWS client); the kernel keeps
    its own modules, functions and classes (they read the values given here), the
    learner's names and whatever it cannot load."""
    values = {}
    for name, value in list(lessons.items()):
        if ns.get(name, _MISSING) is not value:
            continue  # rebound since by a test cell (or deleted): not the lesson's
        if name.startswith("_") or name in answers or name in _NOT_SHARED:
            continue
        if isinstance(value, _KEPT) or isinstance(value, RemoteObject | Unreadable):
            continue
        try:
            values[name] = link.pack(value)
        except Exception:  # noqa: BLE001, S112 - pickle raises many kinds: lend it, or not share
            if link.may_lend(value):
                link.lend(value)
                values[name] = link.pack(value)
    if values:
        link.request("set", values=values)


_KEPT = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _bind(ns: dict, name: str, kind: str, link: KernelLink) -> None:
    if kind == "callable":
        ns[name] = RemoteObject(link, {"name": name}, name)
    elif kind == "value":
        try:
            ns[name] = link.result(link.request("get", target={"name": name}), name)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the tests that use it fail
            ns[name] = Unreadable(name, str(exc)[:200])
    else:
        ns.pop(name, None)
