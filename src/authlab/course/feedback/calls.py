"""A test calls the learner's function through :func:`call`: its result, or one failed check.

An exception inside the learner's function becomes one :class:`~.checks.CheckFailed`: what
was called, what it raised, the line of the learner's own cell where it happened, and the
test's hint, with no library frames in sight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .checks import CheckFailed
from .frames import error_name, in_one_line
from .hints import hint_for

__all__ = ["call"]


def call(
    func: Callable[..., Any],
    *args: Any,
    what: str | None = None,
    hint: str | None = None,
    **kwargs: Any,
) -> Any:
    """``func(*args, **kwargs)`` for a visible or hidden test: its result, or one failed check.

    If the learner's function raises, the test fails with a :class:`CheckFailed` that names
    the call (``what``), the exception in one line, the line of the learner's code where it
    was raised and ``hint``. ``NotImplementedError`` passes through unchanged: the exercise
    is simply not answered yet.
    """
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the learner as one failed check
        label = what or f"{getattr(func, '__name__', 'your function')}(...)"
        first, place = in_one_line(exc)
        raise CheckFailed(
            f"{label} raised {error_name(exc)}{': ' + first if first else ''}{place}.",
            hint=hint or hint_for(exc) or "",
            what=label,
        ) from None
