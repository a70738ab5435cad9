"""``python -m grader lint``: the house rules every course notebook must follow.

Checked for each source notebook and its student version:

* stored clean: no outputs, no execution counts;
* graded cells have meaningful ``grade_id``s (``exN_...``, never ``cell-<hex>``), unique,
  equal to the cell id, and each test cell opens with a one-line docstring;
* each ``## Exercise N: ... (P points)`` heading equals the points in the metadata of
  that exercise's cells, and every graded cell belongs to a headed exercise;
* the notebook opens with its objectives and minutes and closes with what comes next;
* the student version holds no solution, no hidden test and no marker of either;
* a notebook with graded tests is graded by the judge (:mod:`grader.judge.script`): every name a
  test cell reads is defined by a lesson cell, an answer cell or an earlier test cell of
  the source, so the test runs in the judge, which has the instructor's lessons and only the
  learner's answers (a test reading what the learner's kernel alone holds would fail
  there).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..course import Course
from ..judge.script import FIGURE_ONLY

__all__ = [
    "Problem",
    "figure_only_problems",
    "judge_problems",
    "lint_course",
    "lint_notebook",
    "lint_release",
]

GRADE_ID_RE = re.compile(r"^ex(\d+)_[a-z0-9]+(?:_[a-z0-9]+)*$")
HEADING_RE = re.compile(
    r"^#{2,3}\s*Exercise\s+(\d+)\b[^\n]*?\((\d+(?:\.\d+)?)\s+points?\)\s*$", re.MULTILINE
)
MARKERS = (
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "### BEGIN HIDDEN TESTS",
    "### END HIDDEN TESTS",
)
_BLOCK_RE = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """One broken rule in one notebook."""

    path: Path
    message: str
    cell: str = ""

    def __str__(self) -> str:
        where = f" [cell {self.cell}]" if self.cell else ""
        return f"{self.path}{where}: {self.message}"


def _docstring_first_line(source: str) -> bool:
    first = source.lstrip().splitlines()[0] if source.strip() else ""
    return bool(re.match(r'^("""|\'\'\')[^\n]+("""|\'\'\')$', first))


def lint_notebook(path: Path) -> list[Problem]:
    """Problems with one notebook (source or student version)."""
    problems: list[Problem] = []

    def add(message: str, cell: str = "") -> None:
        problems.append(Problem(path, message, cell))

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001
        return [Problem(path, f"not a readable notebook: {exc}")]

    seen: set[str] = set()
    points_by_exercise: dict[int, float] = {}
    headings: dict[int, float] = {}
    for cell in nb.cells:
        cid = str(cell.get("id", ""))
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            add("has outputs or an execution count: store notebooks cleared", cid)
        if cell.cell_type == "markdown":
            for number, points in HEADING_RE.findall(cell.source):
                if int(number) in headings:
                    add(f"two headings for exercise {number}", cid)
                headings[int(number)] = float(points)
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        grade_id = str(meta.get("grade_id", ""))
        if not (meta.get("grade") or meta.get("solution")):
            continue  # a read-only cell: no grade_id rules
        match = GRADE_ID_RE.match(grade_id)
        if not match:
            add(f"grade_id {grade_id!r} must look like ex3_validate_exp", cid)
            continue
        if grade_id in seen:
            add(f"duplicate grade_id {grade_id!r}", cid)
        seen.add(grade_id)
        if cid != grade_id:
            add(f"cell id {cid!r} should equal its grade_id {grade_id!r}", cid)
        if meta.get("grade"):
            number = int(match.group(1))
            points_by_exercise[number] = points_by_exercise.get(number, 0.0) + float(
                meta.get("points", 0)
            )
            if not meta.get("solution") and not _docstring_first_line(cell.source):
                add("a test cell opens with a one-line docstring saying what it checks", cid)

    for number, points in sorted(points_by_exercise.items()):
        if number not in headings:
            add(
                f"exercise {number} has graded cells but no '## Exercise {number}: ... (N points)' heading"
            )
        elif abs(headings[number] - points) > 1e-9:
            add(
                f"exercise {number}: the heading says {headings[number]:g} points, "
                f"the metadata {points:g}"
            )
    for number in sorted(set(headings) - set(points_by_exercise)):
        add(f"exercise {number} has a heading with points but no graded cell")

    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    if (
        not markdown
        or "minutes" not in markdown[0].lower()
        or "objective" not in markdown[0].lower()
    ):
        add("the first cell states the objectives and the minutes the notebook takes")
    if not markdown or "next" not in markdown[-1].lower():
        add("the last markdown cell gives the key points and the next notebook")
    return problems


_SHELL_NAMES = {"get_ipython", "display", "In", "Out", "exit", "quit"}


def _names(source: str) -> tuple[set[str], set[str]]:
    """``(names a cell defines, names it reads)``; IPython magics are ignored."""
    from IPython.core.inputtransformer2 import TransformerManager

    tree = ast.parse(TransformerManager().transform_cell(source))
    defined: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.alias):
            defined.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    return defined, read


def figure_only_problems(source: str, judged_text: str) -> list[str]:
    """Why a lesson cell tagged ``figure-only`` could make the judge, which skips it, see a
    different world from the learner's kernel (``judged_text``: the source of every code cell
    the judge runs). Such a cell runs no magic but ``%matplotlib``, deletes nothing, sets no
    attribute or item and declares nothing global, and binds only names no judged cell
    mentions (in any scope, or as a string such as ``globals()["name"]``). A call that
    changes an object (``clock.advance()``) is beyond this check: the README asks that such
    a cell call nothing that changes what a later cell uses."""
    problems = []
    for line in source.splitlines():
        text = line.strip()
        if text.startswith(("%", "!")) and not text.startswith("%matplotlib"):
            problems.append(
                f"runs {text.split()[0]!r}: a {FIGURE_ONLY} cell runs no magic but %matplotlib "
                "(what a magic binds is hidden from this check)"
            )
    if problems:
        return problems
    defined, _ = _names(source)
    from IPython.core.inputtransformer2 import TransformerManager

    for node in ast.walk(ast.parse(TransformerManager().transform_cell(source))):
        changed = ""
        if isinstance(node, ast.Delete):
            changed = "deletes"
        elif isinstance(node, ast.Global | ast.Nonlocal):
            changed = f"declares {', '.join(node.names)}"
        elif isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.ctx, ast.Store):
            changed = f"sets {ast.unparse(node)}"
        if changed:
            problems.append(
                f"{changed} (line {node.lineno}): a {FIGURE_ONLY} cell changes nothing a cell "
                "the judge runs could see"
            )
    for name in sorted(defined):
        if re.search(rf"(?<![\w.]){re.escape(name)}\b", judged_text):
            problems.append(
                f"binds {name}, which a cell the judge runs also names: the judge skips this "
                f"cell, so its {name} would differ (use another name, or bind it in a lesson)"
            )
    return problems


def judge_problems(path: Path) -> list[Problem]:
    """Test cells of a judged source notebook that read a name the judge would not have."""
    from .integrity import judged

    nb = nbformat.read(path, as_version=4)
    tested = any(
        cell.metadata.get("nbgrader", {}).get("grade")
        and not cell.metadata["nbgrader"].get("solution")
        and float(cell.metadata["nbgrader"].get("points") or 0) > 0
        for cell in nb.cells
    )
    if not judged(nb):
        if tested:
            return [
                Problem(
                    path,
                    'graded tests must run in the judge: add {"grader": {"judge": true}} to the '
                    "notebook's metadata (grader/judge/script.py says how tests reach the answers)",
                )
            ]
        return []
    known = set(dir(builtins)) | _SHELL_NAMES
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    judged_text = "\n".join(c.source for c in code if FIGURE_ONLY not in c.metadata.get("tags", []))
    figure_bound: set[str] = set()  # what figure-only cells bind: the judge never has it
    problems = []
    for cell in code:
        meta = cell.metadata.get("nbgrader", {})
        cid = str(cell.get("id", ""))
        try:
            defined, read = _names(cell.source)
        except SyntaxError as exc:
            problems.append(Problem(path, f"does not parse: {exc}", cid))
            continue
        if FIGURE_ONLY in cell.metadata.get("tags", []):
            if not (meta.get("grade") or meta.get("solution")):
                for message in figure_only_problems(cell.source, judged_text):
                    problems.append(Problem(path, message, cid))
                figure_bound |= defined
                continue  # the judge skips it: nothing it binds is known
            message = (
                f"only a lesson cell can be tagged {FIGURE_ONLY!r}: the judge runs answers "
                "and tests"
            )
            problems.append(Problem(path, message, cid))
        if meta.get("grade") and not meta.get("solution"):
            missing = sorted(read - defined - known - figure_bound)  # those: said above
            if missing:
                problems.append(
                    Problem(
                        path,
                        f"the judge cannot run this test: {', '.join(missing)} not defined by a "
                        "lesson, an answer or an earlier test",
                        cid,
                    )
                )
        known |= defined
    return problems


def lint_release(source: Path, student: Path) -> list[Problem]:
    """Problems in a student notebook compared with its source: leaked solutions or tests."""
    problems: list[Problem] = []
    if not student.is_file():
        return [Problem(student, "missing: run python -m grader release")]
    text = student.read_text(encoding="utf-8")
    for marker in MARKERS:
        if marker in text:
            problems.append(Problem(student, f"contains the marker {marker!r}"))
    src = nbformat.read(source, as_version=4)
    stu = nbformat.read(student, as_version=4)
    student_sources = "\n".join(c.source for c in stu.cells)
    for cell in src.cells:
        for kind, block in _BLOCK_RE.findall(cell.source):
            for line in block.splitlines():
                line = line.strip()
                if len(line) >= 25 and not line.startswith("#") and line in student_sources:
                    problems.append(
                        Problem(
                            student,
                            f"{kind.lower()} text leaked: {line[:60]!r}",
                            cell.get("id", ""),
                        )
                    )
                    break
    return problems


def lint_course(course: Course) -> list[Problem]:
    """Every problem in every source and student notebook of the course."""
    problems: list[Problem] = []
    for assignment in course.assignments():
        for source in course.source_notebooks(assignment):
            student = course.release_dir / assignment / source.name
            if source.stem != assignment:
                problems.append(Problem(source, "the notebook must be named like its folder"))
            problems.extend(lint_notebook(source))
            problems.extend(judge_problems(source))
            if student.is_file():
                problems.extend(lint_notebook(student))
            problems.extend(lint_release(source, student))
    return problems
