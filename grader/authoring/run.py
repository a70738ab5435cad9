"""Run a notebook top to bottom in a fresh kernel (for tests, benchmarks and checks)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

__all__ = ["Run", "error_cells", "run_notebook"]


@dataclass
class Run:
    """An executed notebook and how long it took."""

    notebook: nbformat.NotebookNode
    seconds: float


def run_notebook(path: Path, *, allow_errors: bool = False, timeout: int = 60) -> Run:
    """Execute the notebook at ``path`` in its own folder; raise on the first error unless allowed."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    client.execute()
    return Run(nb, time.perf_counter() - started)


def error_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{cell id: "ErrorName: message"}`` for every cell whose outputs hold an error."""
    found: dict[str, str] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found[str(cell.get("id"))] = f"{output.get('ename')}: {output.get('evalue')}"[:300]
    return found
