"""A check never rewards guessing: hidden checks must fail an answer that memorized the visible ones.

For every judged source notebook, :func:`memorizer_problems` grades the solution in the
judge (:mod:`grader.judge.script`), as ``autograde`` does, with a :class:`Memorizer` watching:

* while a test cell's visible checks run, every call they make to an answer function (the
  names the solution's answer cells define) is recorded with its arguments and the
  solution's result (or the exception it raised);
* before the cell's hidden checks run against the solution, they are run once with each
  answer function replaced by a *memorizer*: a function that returns what the solution
  returned for the arguments the visible checks passed (the same exception, if it raised),
  and for any other arguments something fixed: the most common of those results, then the
  second most common, and so on (a few tries, one per fixed answer, as a learner would guess).

The hidden block is then run one top-level statement at a time: each *check* (a statement
that asserts, raises, or calls a ``check...`` function or a helper of the test cell that
does) that passes with a memorizer would reward an answer hard-coded to the visible
examples (or a constant one, or a guess): it is reported with the test's grade id and line.
A test whose checks call no answer function with arguments (a prediction kept in a
variable, or returned by a function of no arguments) is not about an answer function and is
not tried.

The judge runs in a subprocess of its own (``python -m grader.authoring.memorize SOURCE``), against a
local kernel that runs the solution notebook: it is the instructor's own code, so no sandbox.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from ..course import Course, solution_text
from .lint import Problem

__all__ = [
    "GUESSES",
    "Memorizer",
    "hidden_statements",
    "kernel_cells",
    "lint_answers",
    "memorizer_problems",
    "memorizer_report",
]

GUESSES = 3
"""How many fixed answers a memorizer tries for inputs it has not seen (most common first)."""

CELL_TIMEOUT = 600.0
"""Seconds one cell of the solution may take in its kernel (a hung lesson stops the check)."""


@dataclass
class Recorded:
    """One call a visible check made to an answer function, and how the solution answered."""

    args: tuple
    kwargs: dict
    value: Any = None
    raised: BaseException | None = None


@dataclass
class Memorizer:
    """The :class:`grader.judge.script.Watch` that records visible calls and tries memorizers."""

    answers: list[str]
    guesses: int = GUESSES
    calls: dict[str, list[Recorded]] = field(default_factory=dict)
    memorized: dict[str, list[str]] = field(default_factory=dict)
    """grade_id -> the hidden checks of that test a memorizer passes, and how."""
    called: bool = False

    @contextlib.contextmanager
    def visible(self, step: Any, ns: dict) -> Iterator[None]:
        """Record the answer functions' calls while ``step``'s visible checks run."""
        self.called = False
        with self._bound(ns, lambda name, answer: self._recorder(name, answer)):
            yield

    def hidden(self, step: Any, ns: dict, run: Callable[[str], BaseException | None]) -> None:
        """Run ``step``'s hidden checks one statement at a time with memorizers, once per
        fixed guess; note each check that passes."""
        called = self.called
        passing: dict[int, str] = {}
        for guess in range(max(1, self._distinct())):
            with self._bound(ns, lambda name, answer, guess=guess: self._memorizer(name, guess)):
                for line, source, is_check in hidden_statements(step.hidden, step.source):
                    self.called = False
                    error = run(source)
                    called = called or self.called
                    if is_check and error is None and line not in passing:
                        first = " ".join(source.split())[:80]
                        passing[line] = f"line {line}: {first} ({self._describe(guess)})"
        if called and passing:  # else no answer function in this test: a value's check
            self.memorized[step.grade_id] = [passing[line] for line in sorted(passing)]

    # -- the stand-ins ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _bound(self, ns: dict, make: Callable[[str, Any], Any]) -> Iterator[None]:
        """Bind each callable answer in ``ns`` to ``make(name, answer)``, then put it back."""
        originals = {name: ns[name] for name in self.answers if callable(ns.get(name))}
        stand_ins = {name: make(name, answer) for name, answer in originals.items()}
        ns.update(stand_ins)
        try:
            yield
        finally:
            for name, answer in originals.items():
                if ns.get(name) is stand_ins[name]:
                    ns[name] = answer

    def _recorder(self, name: str, answer: Any) -> Callable[..., Any]:
        def recorder(*args: Any, **kwargs: Any) -> Any:
            self.called = self.called or bool(args or kwargs)
            record = Recorded(args, kwargs)
            self.calls.setdefault(name, []).append(record)
            try:
                record.value = answer(*args, **kwargs)
            except Exception as exc:
                record.raised = exc
                raise
            return record.value

        recorder.__name__ = recorder.__qualname__ = name
        return recorder

    def _memorizer(self, name: str, guess: int) -> Callable[..., Any]:
        def memorizer(*args: Any, **kwargs: Any) -> Any:
            self.called = self.called or bool(args or kwargs)
            seen = self.calls.get(name, [])
            record = next((r for r in seen if _same(r, args, kwargs)), None)
            if record is None:
                common = _most_common(seen)
                if not common:
                    return None
                record = common[min(guess, len(common) - 1)]
            if record.raised is not None:
                raise record.raised
            return record.value

        memorizer.__name__ = memorizer.__qualname__ = name
        return memorizer

    def _distinct(self) -> int:
        return min(
            self.guesses, max((len(_most_common(c)) for c in self.calls.values()), default=1)
        )

    def _describe(self, guess: int) -> str:
        fixed = ["the most common", "the second most common", "the third most common"]
        which = fixed[guess] if guess < len(fixed) else f"guess {guess + 1} of the"
        return f"{which} visible result for new inputs"


def _is_check(node: ast.AST, helpers: frozenset[str] = frozenset()) -> bool:
    """Whether a statement checks something: an assert, a raise, or a call of a ``check...``
    function or of a helper (``helpers``: functions of the block that check)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert | ast.Raise):
            return True
        if isinstance(sub, ast.Call):
            func = sub.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name.startswith("check") or name in helpers:
                return True
    return False


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def hidden_statements(hidden: str, visible: str = "") -> list[tuple[int, str, bool]]:
    """``(line, source, is a check)`` for each top-level statement of a hidden block.

    A *check* is a statement that can fail the test by itself: one that asserts, raises or
    calls a ``check...`` function, or a function of the test cell that does (defined in its
    ``visible`` part or in the block: :func:`_is_check`). Imports and definitions only set the
    checks up.
    """
    lines = hidden.splitlines()
    body = ast.parse(hidden).body
    helpers: set[str] = set()
    for node in _parsed(visible) + body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_is_check(stmt, frozenset(helpers)) for stmt in node.body):
                helpers.add(node.name)
    found = []
    for node in body:
        decorators = getattr(node, "decorator_list", [])
        first = min([node.lineno] + [d.lineno for d in decorators])
        source = "\n".join(lines[first - 1 : node.end_lineno]) + "\n"
        checks = not isinstance(node, _DEFINITIONS) and _is_check(node, frozenset(helpers))
        found.append((first, source, checks))
    return found


def _parsed(source: str) -> list[ast.stmt]:
    """The top-level statements of ``source``, or none if it does not parse as Python."""
    try:
        return ast.parse(source).body
    except SyntaxError:
        return []


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - a value that cannot be compared is not the same
        return False


def _same(record: Recorded, args: tuple, kwargs: dict) -> bool:
    return _equal(record.args, args) and _equal(record.kwargs, kwargs)


def _outcome(record: Recorded) -> tuple[str, Any]:
    if record.raised is not None:
        return ("raised", (type(record.raised).__name__, str(record.raised)))
    return ("value", record.value)


def _most_common(records: list[Recorded]) -> list[Recorded]:
    """One record per distinct result (or exception), the most frequent first."""
    groups: list[tuple[tuple[str, Any], list[Recorded]]] = []
    for record in records:
        outcome = _outcome(record)
        for seen, members in groups:
            if _equal(seen, outcome):
                members.append(record)
                break
        else:
            groups.append((outcome, [record]))
    groups.sort(key=lambda group: -len(group[1]))  # stable: ties keep the first seen first
    return [members[0] for _, members in groups]


# -- running the solution in the judge --------------------------------------------------------


def kernel_cells(nb: Any) -> list[str]:
    """The code the learner's kernel runs for a perfect answer: lessons and solutions, no test."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cells.append(solution_text(cell.source))
        elif not meta.get("grade"):
            cells.append(cell.source)
    return cells


def memorizer_report(path: Path) -> dict:
    """Grade the solution at ``path`` in the judge, memorizers watching (in this process).

    Returns ``{"memorized": {grade_id: how}, "failed": {grade_id: message}}``: the tests whose
    hidden checks a memorizer passes, and the tests the solution itself fails in the judge.
    """
    from jupyter_client.manager import KernelManager

    from ..judge.link import KernelLink
    from ..judge.script import judge_script, run_script
    from .integrity import judged

    nb = nbformat.read(path, as_version=4)
    script = judge_script(nb)
    if not judged(nb) or not any(test.hidden.strip() for test in script.tests):
        return {"memorized": {}, "failed": {}}
    memo = Memorizer(script.answer_names)
    with tempfile.TemporaryDirectory(prefix="memorize-") as scratch:
        km = KernelManager(kernel_name="python3")
        km.start_kernel(cwd=scratch)  # the learner's kernel works in a scratch folder too
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=CELL_TIMEOUT)

            def ready() -> bool:
                for source in kernel_cells(nb):
                    with contextlib.suppress(Exception):  # a failing cell fails its tests
                        kc.execute_interactive(
                            source, timeout=CELL_TIMEOUT, store_history=False, output_hook=_quiet
                        )
                return True

            def connect() -> KernelLink:
                connection = {
                    k: (v.decode() if isinstance(v, bytes) else v)
                    for k, v in km.get_connection_info(session=False).items()
                }
                folder = os.path.dirname(os.path.abspath(km.connection_file))
                return KernelLink(connection, CELL_TIMEOUT, tuple(script.lend_types), folder)

            here = os.getcwd()
            os.chdir(scratch)  # the lessons replayed in the judge write here
            try:
                verdicts = run_script(script, connect, [], ready, watch=memo)
            finally:
                os.chdir(here)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    failed = {v.grade_id: v.message for v in verdicts if not v.passed}
    return {"memorized": memo.memorized, "failed": failed}


def _quiet(message: dict) -> None:
    """Output of the solution's cells is not read."""


def memorizer_problems(path: Path) -> list[Problem]:
    """The tests of a source notebook whose hidden checks an answer memorizing the visible
    ones passes (and the tests its solution fails in the judge): one problem each."""
    done = subprocess.run(
        [sys.executable, "-m", "grader.authoring.memorize", str(path)],
        capture_output=True,
        check=False,
        text=True,
        cwd=tempfile.gettempdir(),
        env={**os.environ, "PYTHONPATH": _pythonpath()},
    )
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [Problem(path, f"the memorizer check could not run: {tail[:200]}")]
    problems = [
        Problem(
            path,
            f"the solution fails this test in the judge ({message[:150]}): the memorizer check "
            "needs a passing solution",
            grade_id,
        )
        for grade_id, message in report["failed"].items()
    ]
    problems += [
        Problem(
            path,
            "an answer that memorized the visible checks (their results for their inputs, a "
            "fixed guess for any other) passes hidden check(s): "
            + "; ".join(checks)
            + ". Hidden checks must use inputs the visible ones do not, and expect what no "
            "fixed answer gives",
            grade_id,
        )
        for grade_id, checks in report["memorized"].items()
    ]
    return problems


def _pythonpath() -> str:
    """This checkout first, so the subprocess imports this grader."""
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


def lint_answers(course: Course) -> list[Problem]:
    """:func:`memorizer_problems` for every source notebook of the course, one at a time."""
    return [
        problem
        for assignment in course.assignments()
        for source in course.source_notebooks(assignment)
        for problem in memorizer_problems(source)
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.authoring.memorize SOURCE``: print :func:`memorizer_report` as one JSON line
    (what the lessons print goes nowhere)."""
    args = sys.argv[1:] if argv is None else argv
    out = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    report = memorizer_report(Path(args[0]).resolve())
    os.write(out, b"\n" + json.dumps(report).encode() + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
