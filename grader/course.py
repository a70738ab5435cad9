"""The course on disk: where the sources, the student notebooks and nbgrader's settings are."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

__all__ = [
    "ASSIGNMENT_RE",
    "RECEIPTS_FILE",
    "STUDENT_ID_RE",
    "Course",
    "GraderError",
    "notebook_points",
    "read_schema_version_here",
    "solution_text",
    "student_id_problem",
]

ASSIGNMENT_RE = re.compile(r"^\d\d-[a-z0-9]+(?:-[a-z0-9]+)*$")
"""An assignment (and its notebook) is named ``NN-kebab-slug``."""

STUDENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
"""A student id: a letter or digit, then letters, digits and ``. _ @ + -`` (128 at most).
It never starts with a character a spreadsheet reads as a formula (``= + - @``)."""


RECEIPTS_FILE = "received.json"
"""The receipts file ``grader ingest`` writes beside the student folders
(:mod:`grader.records.receipts`): a name no student id may take."""


def student_id_problem(name: str) -> str | None:
    """Why ``name`` is not a usable student id (``ingest`` and ``autograde`` apply the same
    rule), or None when it is one."""
    if name == RECEIPTS_FILE:
        return f"reserved: {RECEIPTS_FILE} is the name of the grader's receipts file"
    if STUDENT_ID_RE.fullmatch(name):
        return None
    return (
        "not a student id: it must start with a letter or digit and hold only letters, "
        "digits and . _ @ + - (at most 128)"
    )


def notebook_points(path: Path) -> float:
    """Total points of the graded cells in the notebook at ``path``."""
    total = 0.0
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            total += float(meta.get("points", 0))
    return total


_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def solution_text(source: str) -> str:
    """A solution cell's source with nbgrader's solution markers removed.

    In a written answer, a ``**Rubric`` section (for graders only) is left out.
    """
    text = _MARKERS.sub("", source)
    return text.split("**Rubric", 1)[0].rstrip() + "\n" if "**Rubric" in text else text


def _put_tools_on_path() -> None:
    """nbgrader runs ``alembic`` by name: make this environment's scripts findable."""
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + path


def read_schema_version_here() -> None:
    """Make nbgrader's new gradebooks cheap in this process.

    nbgrader stamps each new gradebook with its newest schema version, which it asks an
    ``alembic heads`` command for, every time: a new Python process, about 5 s on 2 cores,
    for each gradebook a run creates. From now on in this process the version comes from
    alembic's own API on nbgrader's migration scripts (what that command reads), once. If
    that fails, or nbgrader's function has changed, nbgrader's own way is used."""
    import nbgrader.api as api

    asked = getattr(api, "get_alembic_version", None)
    if not callable(asked) or getattr(asked, "read_here_by_grader", False):
        return

    def get_alembic_version(*args: Any, **kwargs: Any) -> str:
        if args or kwargs:  # a newer nbgrader's signature: its own way
            return asked(*args, **kwargs)
        return _schema_head() or asked()

    get_alembic_version.read_here_by_grader = True  # type: ignore[attr-defined]
    api.get_alembic_version = get_alembic_version


@functools.cache
def _schema_head() -> str | None:
    """The head revision of nbgrader's migration scripts, or ``None`` (several heads, or an
    nbgrader or alembic this code does not know)."""
    try:
        from alembic.config import Config as AlembicConfig
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import _temp_alembic_ini

        with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
            return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()
    except Exception:  # noqa: BLE001 - the caller asks nbgrader's own way
        return None


class GraderError(Exception):
    """A problem an instructor must fix before the command can run; the message says how."""


@dataclass(frozen=True)
class Course:
    """A course folder holding ``nbgrader_config.py``, ``solutions/`` and ``notebooks/``."""

    root: Path

    @classmethod
    def find(cls, start: Path | str | None = None) -> Course:
        """The course whose folder holds ``start`` (default: the working directory)."""
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
                return cls(folder)
        raise GraderError(
            f"No course found at or above {here}: expected nbgrader_config.py beside a "
            "solutions/ folder. Run the command from the course repository."
        )

    @property
    def source_dir(self) -> Path:
        """``solutions/``: the nbgrader sources, the only notebooks edited by hand."""
        return self.root / "solutions"

    @property
    def release_dir(self) -> Path:
        """``notebooks/``: the student notebooks generated from the sources."""
        return self.root / "notebooks"

    def assignments(self) -> list[str]:
        """The assignment names (``NN-slug``), in course order."""
        return sorted(
            p.name for p in self.source_dir.iterdir() if p.is_dir() and ASSIGNMENT_RE.match(p.name)
        )

    def source_notebooks(self, assignment: str) -> list[Path]:
        """The source notebooks of one assignment."""
        folder = self.source_dir / assignment
        if not folder.is_dir():
            raise GraderError(f"No assignment {assignment!r} in {self.source_dir}.")
        return sorted(folder.glob("*.ipynb"))

    def notebook_names(self, assignment: str) -> list[str]:
        """The notebook names (without ``.ipynb``) of one assignment."""
        return [p.stem for p in self.source_notebooks(assignment)]

    def student_notebook(self, assignment: str, name: str | None = None) -> Path:
        """The released student notebook (the assignment's own name by default)."""
        return self.release_dir / assignment / f"{name or assignment}.ipynb"

    def source_notebook(self, assignment: str, name: str | None = None) -> Path:
        """The source notebook (the assignment's own name by default)."""
        return self.source_dir / assignment / f"{name or assignment}.ipynb"

    def max_points(self, assignment: str) -> float:
        """Total points of an assignment's graded cells, read from the sources."""
        return sum(notebook_points(path) for path in self.source_notebooks(assignment))

    def nbgrader_config(self, **overrides: object) -> Config:
        """nbgrader's settings from ``nbgrader_config.py``, with ``CourseDirectory`` overrides.

        Paths in the result are absolute, so nbgrader does not depend on the working
        directory.
        """
        _put_tools_on_path()
        read_schema_version_here()
        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        if not logging.getLogger("grader").isEnabledFor(logging.INFO):
            config.Application.log_level = "WARNING"  # nbgrader's per-file chatter only with -v
        course = config.CourseDirectory
        course.root = str(self.root)
        course.source_directory = str(self.source_dir)
        course.release_directory = str(self.release_dir)
        for key, value in overrides.items():
            course[key] = str(value) if isinstance(value, Path) else value
        return config
