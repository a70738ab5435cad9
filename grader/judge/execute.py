"""nbgrader's Execute step, with the graded tests judged outside the learner's kernel.

:class:`JudgedExecute` runs a submitted notebook in the sandboxed kernel as nbgrader's
``Execute`` does, except for the graded test cells of a notebook that has a judge script
(:mod:`grader.judge.script`): those are never sent to the kernel, so hidden tests never enter the
sandbox. Once the last cell has run, the judge replays the instructor's notebook against the
kernel and each test cell gets its verdict as output: nothing for a pass but a line saying
so, an error output with the judge's message for a failure. nbgrader's own ``SaveAutoGrades``
then scores the cells from those outputs, as it would have scored the kernel's.
"""

from __future__ import annotations

import os

from nbformat import NotebookNode
from nbformat.v4 import new_output
from traitlets import Dict

from ..sandbox.kernel import SandboxExecute
from .link import JudgeError
from .script import VISIBLE_PASSED, JudgeScript
from .server import JudgeRun

__all__ = ["PASSED_TEXT", "JudgeFailed", "JudgedExecute", "unanswered_names"]

PASSED_TEXT = "passed (judged by the grader, outside your notebook's kernel)\n"
"""The output a passed test cell gets."""


class JudgeFailed(RuntimeError):
    """The judge itself could not run: the notebook is not graded (a grader problem)."""


class JudgedExecute(SandboxExecute):
    """Execute, with graded test cells judged by :mod:`grader.judge.script` (see the module)."""

    scripts = Dict(
        {}, help="notebook name -> judge script (JudgeScript.to_dict()); others run as usual"
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km=None):
        name = ((resources or {}).get("metadata") or {}).get("name", "")
        data = self.scripts.get(name)
        self._script = JudgeScript.from_dict(data) if data else None
        if self._script is not None:
            self._script.unanswered = unanswered_names(self._script, nb)
        self._judged = {t.grade_id for t in self._script.tests} if self._script else set()
        self._skipped = (
            {s.grade_id for s in self._script.steps if s.kind == "test"} if self._script else set()
        )
        self._run: JudgeRun | None = None
        self.judge_phases: dict[str, float] = {}
        """Seconds per phase in the judge, once it has given its verdicts."""
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._run is not None:
                self._run.cancel()  # the notebook stopped before its end: no verdicts
                self._run = None

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if self._script is not None and index == 0:
            connection = self.kc.get_connection_info(session=False)
            self._run = JudgeRun(
                self._script,
                connection,
                timeout=float(self.timeout or 60),
                folder=_shared_folder(connection, self.km.connection_file),
            )
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type == "code" and grade_id in self._skipped:
            cell.outputs = []
            cell.execution_count = None
        else:
            cell, resources = super().preprocess_cell(cell, resources, index)
        if self._script is not None and index == len(self.nb.cells) - 1:
            self._judge()
        return cell, resources

    def _judge(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        limit = float(self.timeout or 60) * (len(self._script.steps) + 5)
        lesson_errors: list[str] = []
        try:
            verdicts = run.finish(limit, lesson_errors)
        except JudgeError as exc:
            raise JudgeFailed(str(exc)) from None
        self.judge_phases = dict(run.phases)
        for error in lesson_errors:
            self.log.info("a lesson cell failed in the judge: %s", error)
        found = {verdict.grade_id: verdict for verdict in verdicts}
        for cell in self.nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if grade_id not in self._judged:
                continue
            verdict = found.get(grade_id)
            if verdict is not None and verdict.passed:
                cell.outputs = [new_output("stream", name="stdout", text=PASSED_TEXT)]
            else:
                message = verdict.message if verdict else "the judge gave no verdict"
                cell.outputs = [
                    new_output("error", ename="Failed", evalue=message, traceback=[message])
                ]
                if verdict is not None and verdict.visible_passed:
                    line = f"{VISIBLE_PASSED} A hidden check failed.\n"
                    cell.outputs.insert(0, new_output("stream", name="stdout", text=line))


def unanswered_names(script: JudgeScript, nb: NotebookNode) -> list[str]:
    """The answer names of ``script`` whose answer cell in the submitted ``nb`` still raises
    ``NotImplementedError`` at its top level (read from the cell's source, never run)."""
    from authlab.course.feedback import raises_not_implemented

    sources = {
        cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""): cell.source
        for cell in nb.cells
        if cell.cell_type == "code"
    }
    return [
        name
        for step in script.steps
        if step.kind == "answer" and raises_not_implemented(sources.get(step.grade_id, ""))
        for name in step.names
    ]


def _shared_folder(connection: dict, connection_file: str) -> str:
    """A folder the kernel and the judge both see: where the kernel's sockets or its
    connection file are (the sandbox binds it at the same path)."""
    if connection.get("transport") == "ipc":
        return os.path.dirname(os.path.abspath(str(connection["ip"])))
    return os.path.dirname(os.path.abspath(connection_file))
