"""Where an error happened in the learner's own code, and its name and message in one line.

A traceback through the course library (``authlab``) or Python's own modules says nothing a
learner can act on; :func:`learner_frame` finds the innermost frame in a notebook cell, and
:func:`in_one_line` puts the error's first line and that place together.
"""

from __future__ import annotations

import linecache
import sys
import traceback
from pathlib import Path
from types import TracebackType

from ...errors import AuthLabError

__all__ = ["error_name", "in_one_line", "learner_frame"]


_LIBRARY_ROOTS = tuple(
    str(root)
    for root in {
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
        Path(__file__).resolve().parents[2],  # the authlab package
    }
)


def _is_library(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return True
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return resolved.startswith(_LIBRARY_ROOTS)


def error_name(exc: BaseException) -> str:
    """``ValueError`` for a built-in exception, ``binascii.Error`` for another module's."""
    kind = type(exc)
    module = kind.__module__
    distinctive = kind.__name__ != "Error" and kind.__name__.endswith(("Error", "Exception"))
    if module == "builtins" or distinctive:
        return kind.__name__
    return f"{module}.{kind.__name__}"


def learner_frame(tb: TracebackType | None) -> tuple[str, int, str] | None:
    """``(filename, line number, source line)`` of the innermost frame of ``tb`` that is in
    the learner's own code (a notebook cell, not the Python library or ``authlab``)."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if not _is_library(filename):
            found = (filename, lineno, linecache.getline(filename, lineno).strip())
    return found


def in_one_line(error: BaseException) -> tuple[str, str]:
    """The first line of ``error``'s message, and where in the learner's code it was raised
    (`` (your code, line N: source)``, or ``""`` when no learner frame is in its traceback)."""
    text = error.message if isinstance(error, AuthLabError) else str(error)  # hint shown apart
    first = (str(text).strip().splitlines() or [""])[0][:160]
    reported = getattr(
        error, "learner_where", None
    )  # raised in the learner's kernel, seen by the grader's judge
    if isinstance(reported, str):
        return first, reported
    where = learner_frame(error.__traceback__)
    place = f" (your code, line {where[1]}: {where[2]})" if where and where[2] else ""
    return first, place
