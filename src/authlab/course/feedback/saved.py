"""The learner's notebook as last saved, read from the kernel's working folder.

JupyterLab starts a notebook's kernel in the notebook's folder, and Validate saves before it
runs; so a check or a hint can read the cells the learner wrote (never run them): which cell
defines a name, whether a written answer is still empty, whether an exercise is answered.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

__all__ = ["defining_cell", "saved_cells"]


def saved_cells(folder: Path | None) -> Iterator[tuple[dict, str]]:
    """``(cell, source)`` for every cell of the saved notebooks in ``folder`` (default: the
    kernel's working folder), in order; unreadable notebooks are skipped."""
    for notebook in sorted((folder or Path.cwd()).glob("*.ipynb")):
        try:
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for cell in cells:
            if isinstance(cell, dict):
                source = cell.get("source", "")
                yield cell, "".join(source) if isinstance(source, list) else str(source)


class _Definitions(ast.NodeVisitor):
    """The names a cell defines at the top level (functions' and classes' insides skipped)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802 - ast's API
        self.names.add(node.name)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:  # noqa: N802
        self.names.add(node.name)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:  # noqa: N802
        self.names.add(node.name)

    def visit_Name(self, node: ast.Name) -> None:  # noqa: N802
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def visit_alias(self, node: ast.alias) -> None:
        self.names.add((node.asname or node.name).split(".")[0])


def defining_cell(name: str, folder: Path | None = None) -> str | None:
    """The first line of the first code cell that defines ``name`` in the notebook of ``folder``
    (the kernel's working folder, where JupyterLab starts it), or ``None`` if none does."""
    for cell, source in saved_cells(folder):
        if cell.get("cell_type") != "code":
            continue
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        finder = _Definitions()
        finder.visit(tree)
        if name in finder.names:
            first = next((ln.strip() for ln in lines if ln.strip()), "")
            return first if len(first) <= 70 else first[:67] + "..."
    return None
