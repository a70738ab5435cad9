"""Every CSV the grader writes goes through here: no cell is a spreadsheet formula.

Student ids, file names and reasons reach ``grades.csv``, the LMS export and the report's
CSV, and a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab
or carriage return before one) as a formula: ``=HYPERLINK(...)`` on the instructor's
machine. As OWASP advises against CSV injection, such a cell is written with a leading
``'`` (a spreadsheet shows the text, and runs nothing); a cell that already starts with
``'`` gets one more, so :func:`unescape_cell` gives back exactly what was written. A plain
number (``-1``, ``2.5``) is a number, not a formula, and is written as it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["FORMULA_STARTS", "escape_cell", "read_rows", "unescape_cell", "write_rows"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
"""A cell starting with one of these is written behind a ``'``."""

_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def escape_cell(value: object) -> str:
    """``value`` as the text of a CSV cell no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """What :func:`escape_cell` was given (for text it wrote)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def write_rows(path: Path, rows: Iterable[Sequence[object]]) -> None:
    """Write ``rows`` (the header first) to ``path`` as UTF-8 CSV, every cell escaped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([escape_cell(value) for value in row])


def read_rows(path: Path) -> list[dict[str, str]]:
    """The records of a CSV written by :func:`write_rows`, keyed by its header, unescaped."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {unescape_cell(k): unescape_cell(v or "") for k, v in record.items()}
            for record in csv.DictReader(handle)
        ]
