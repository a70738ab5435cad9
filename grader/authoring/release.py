"""``python -m grader release``: regenerate the student notebooks from the solutions.

nbgrader's ``generate_assignment`` does the work (solutions replaced by stubs, hidden
tests removed, outputs cleared, the assignment recorded in the gradebook); this module
then normalises each notebook so regeneration is byte-for-byte stable: execution counts
cleared, cell ids kept, the notebook written in nbformat's canonical layout.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nbformat

from ..course import Course, GraderError

__all__ = ["normalise_notebook", "release"]

log = logging.getLogger(__name__)


RAISES_EXCEPTION = "raises-exception"
"""Cell tag: JupyterLab's Run All (and nbclient) carry on past an error in such a cell."""


def normalise_notebook(path: Path) -> None:
    """Clear outputs and execution counts in place, keeping cell ids and metadata.

    Exercise code cells (answers and tests) are tagged ``raises-exception``: unanswered,
    they fail by design, and Run All should still run the lesson cells below them rather
    than stop (or, worse, race the kernel's abort of the queued cells).
    """
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            grading = cell.metadata.get("nbgrader", {})
            tags = cell.metadata.get("tags", [])
            if (grading.get("solution") or grading.get("grade")) and RAISES_EXCEPTION not in tags:
                cell.metadata["tags"] = [*tags, RAISES_EXCEPTION]
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
    nbformat.write(nb, path)


def release(
    course: Course,
    assignments: list[str] | None = None,
    *,
    release_dir: Path | None = None,
    db_url: str | None = None,
) -> list[Path]:
    """Generate the student version of ``assignments`` (default: all) and return its notebooks.

    ``release_dir`` defaults to the course's ``notebooks/``; ``db_url`` to nbgrader's
    gradebook at the course root.
    """
    from nbgrader.apps import NbGraderAPI

    names = assignments or course.assignments()
    target = (release_dir or course.release_dir).resolve()
    overrides: dict[str, object] = {"release_directory": target}
    if db_url:
        overrides["db_url"] = db_url
    api = NbGraderAPI(config=course.nbgrader_config(**overrides))
    written: list[Path] = []
    for name in names:
        if name not in course.assignments():
            raise GraderError(f"No assignment {name!r}; known: {', '.join(course.assignments())}.")
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            details = (result.get("error") or result.get("log") or "").strip()
            raise GraderError(f"nbgrader could not generate {name}:\n{details}")
        for path in sorted((target / name).glob("*.ipynb")):
            normalise_notebook(path)
            written.append(path)
        log.info("released %s", name)
    return written
