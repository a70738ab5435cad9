"""Is a submitted notebook the one we asked for, and what did the student do to its cells?

Checked before nbgrader sees the notebook, from its bytes and the assignment's
:class:`AssignmentSpec` (made by the parent from the course, so a remote worker needs no
course checkout):

* unreadable: missing, empty, not JSON, not a notebook → the notebook is not graded and
  its row says why;
* a notebook of another assignment (recognised by its ``grade_id``s) → not graded;
* deleted test cells → restored by nbgrader (``OverwriteCells.add_missing_cells``) and
  noted on the row, never a silent zero; duplicated ones → graded once (nbgrader's
  ``DeduplicateIds``) and noted; edited locked cells → restored by nbgrader and noted.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..judge.script import judge_script

__all__ = [
    "AssignmentSpec",
    "Check",
    "NotebookSpec",
    "check_notebook",
    "judged",
    "notebook_spec",
]


@dataclass
class NotebookSpec:
    """What the released notebook holds: its graded cells and its locked cells' text."""

    points: float
    grade_ids: list[str]  # graded cells, in order
    cell_ids: list[str]  # every nbgrader cell (answers, tests, locked), in order
    locked: dict[str, str] = field(default_factory=dict)  # grade_id -> released source
    code_cells: int = 0
    order: list[tuple[str, str]] = field(default_factory=list)  # released (cell id, grade_id)
    released: dict[str, dict] = field(default_factory=dict)  # grade_id -> released graded cell
    judge: dict | None = (
        None  # the judge script (grader.judge.script.JudgeScript.to_dict()), if judged
    )


@dataclass
class AssignmentSpec:
    """An assignment as the workers need it: notebooks, the other assignments' cell ids."""

    name: str
    notebooks: dict[str, NotebookSpec]
    others: dict[str, set[str]] = field(default_factory=dict)  # assignment -> grade_ids
    extra_files: dict[str, bytes] = field(default_factory=dict)  # non-notebook source files


@dataclass
class Check:
    """The verdict on one submitted notebook."""

    problem: str | None = None  # set: the notebook is not graded
    notes: list[str] = field(default_factory=list)  # graded, but the row mentions these
    data: bytes | None = None  # the notebook to grade (deleted test cells put back)


def _nbgrader_ids(nb) -> list[str]:
    ids = []
    for cell in nb.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("grade_id") and (
            meta.get("grade") or meta.get("solution") or meta.get("locked")
        ):
            ids.append(str(meta["grade_id"]))
    return ids


def notebook_spec(released: Path, source: Path) -> NotebookSpec:
    """The spec of one notebook, from its released (student) version and its source."""
    src = nbformat.read(source, as_version=4)
    stu = nbformat.read(released, as_version=4) if released.is_file() else src
    grade_ids, points = [], 0.0
    for cell in src.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            grade_ids.append(meta["grade_id"])
            points += float(meta.get("points", 0))
    locked = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in stu.cells
        if cell.metadata.get("nbgrader", {}).get("locked")
        and not cell.metadata["nbgrader"].get("solution")
    }
    order = [
        (str(cell.get("id", "")), str(cell.metadata.get("nbgrader", {}).get("grade_id", "")))
        for cell in stu.cells
    ]
    released = {
        cell.metadata["nbgrader"]["grade_id"]: dict(cell)
        for cell in stu.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }
    return NotebookSpec(
        points=points,
        grade_ids=grade_ids,
        cell_ids=_nbgrader_ids(src),
        locked=locked,
        code_cells=sum(1 for c in src.cells if c.cell_type == "code"),
        order=order,
        released=released,
        judge=judge_script(src).to_dict() if judged(src) else None,
    )


def judged(nb) -> bool:
    """Whether a source notebook's graded tests run in the judge (:mod:`grader.judge.script`).

    A notebook opts in with ``{"grader": {"judge": true}}`` in its metadata, once its tests
    only reach the learner's work through the names its answer cells define.
    """
    return bool((nb.metadata.get("grader") or {}).get("judge"))


def _restore(nb, own: NotebookSpec, missing: list[str]) -> None:
    """Put each missing graded cell back after the nearest earlier cell still present.

    The released (student) version goes back; nbgrader's OverwriteCells then restores
    the full source, hidden tests included, as for any edited locked cell.
    """
    for grade_id in missing:
        position = next(i for i, (_, gid) in enumerate(own.order) if gid == grade_id)
        anchor = -1
        for cell_id, gid in reversed(own.order[:position]):
            for index, cell in enumerate(nb.cells):
                meta = cell.metadata.get("nbgrader") or {}
                if (cell_id and cell.get("id") == cell_id) or (gid and meta.get("grade_id") == gid):
                    anchor = index
                    break
            if anchor >= 0:
                break
        nb.cells.insert(anchor + 1, nbformat.from_dict(copy.deepcopy(own.released[grade_id])))


def _dedupe(nb) -> None:
    """Keep the last cell of each grade_id graded, as nbgrader's DeduplicateIds does, but
    drop the earlier copies' nbgrader metadata whole (an empty dict fails its schema check)."""
    seen: set[str] = set()
    for cell in reversed(nb.cells):
        gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        if gid in seen:
            del cell.metadata["nbgrader"]
        elif gid:
            seen.add(gid)


def _plural(ids: list[str]) -> str:
    return ", ".join(ids)


def check_notebook(name: str, data: bytes | None, spec: AssignmentSpec) -> Check:
    """Whether the bytes submitted as ``name`` can be graded, and what to say about them."""
    filename = f"{name}.ipynb"
    if data is None:
        return Check(f"missing notebook {filename}")
    if not data.strip():
        return Check(f"{filename} is an empty file")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Check(f"{filename} is not valid JSON: re-download the notebook and resubmit")
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return Check(f"{filename} is not a notebook (no list of cells)")
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        return Check(f"{filename} is not a readable notebook ({type(exc).__name__}: {exc})"[:300])

    own = spec.notebooks[name]
    submitted = _nbgrader_ids(nb)
    present = set(submitted)
    if not present & set(own.cell_ids):
        overlap = {a: len(present & ids) for a, ids in spec.others.items() if present & ids}
        if overlap:
            other = max(overlap, key=overlap.get)
            return Check(
                f"{filename} is a notebook of another assignment ({other}): "
                f"submit the {spec.name} notebook"
            )
        return Check(f"{filename} has none of the cells of the released {spec.name} notebook")

    check = Check(data=data)
    deleted = [gid for gid in own.grade_ids if gid not in present]
    if deleted:
        check.notes.append(f"deleted test cell(s) restored from the source: {_plural(deleted)}")
        restorable = [gid for gid in deleted if gid in own.released]
        _restore(nb, own, restorable)
        check.data = nbformat.writes(nb).encode("utf-8")
    twice = sorted(gid for gid, n in Counter(submitted).items() if n > 1)
    if twice:
        check.notes.append(f"duplicated cell(s) graded once: {_plural(twice)}")
        _dedupe(nb)
        check.data = nbformat.writes(nb).encode("utf-8")
    edited = [
        gid
        for cell in nb.cells
        if (gid := (cell.metadata.get("nbgrader") or {}).get("grade_id")) in own.locked
        and cell.source.strip() != own.locked[gid].strip()
    ]
    if edited:
        unique = list(dict.fromkeys(edited))
        check.notes.append(f"edited locked cell(s) restored from the source: {_plural(unique)}")
    return check
