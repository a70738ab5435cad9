"""The checks a visible test cell makes, each failing with one line a learner can act on.

A visible test cell reads like this::

    check_equal(claims["role"], "user", what="the role claim", hint="Copy it from the user.")
    passed()

On failure the learner sees one line saying what was expected, what was found and what
to try, instead of a bare ``AssertionError``. :func:`passed` is honest about hidden
tests: it says the visible checks passed and that more run at grading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import AuthLabError
from .frames import error_name, in_one_line

__all__ = ["CheckFailed", "check", "check_equal", "check_raises", "passed"]


class CheckFailed(AuthLabError, AssertionError):
    """A visible test found something to fix. The message says what and how.

    ``what`` names what was checked (``"the sub claim"``), without its value: the grader
    shows only that for a hidden check, whose expected values stay hidden.
    """

    code = "check_failed"

    def __init__(self, message: str, *, hint: str | None = None, what: str = "") -> None:
        super().__init__(message, hint=hint)
        self.what = what


def check(condition: object, message: str, *, hint: str | None = None) -> None:
    """Fail with ``message`` (and ``hint``) unless ``condition`` is true."""
    if not condition:
        raise CheckFailed(message, hint=hint or "")


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_equal(actual: Any, expected: Any, *, what: str, hint: str | None = None) -> None:
    """Fail unless ``actual == expected``, naming ``what`` was compared."""
    if actual != expected:
        raise CheckFailed(
            f"{what}: expected {_short(expected)}, got {_short(actual)}.",
            hint=hint or "",
            what=what,
        )


def check_raises(
    func: Callable[[], object],
    expected: type[BaseException] | tuple[type[BaseException], ...],
    *,
    what: str,
    hint: str | None = None,
) -> BaseException:
    """Call ``func()`` and fail unless it raises ``expected``; return the exception."""
    names = (
        " or ".join(e.__name__ for e in expected)
        if isinstance(expected, tuple)
        else expected.__name__
    )
    try:
        result = func()
    except expected as exc:
        return exc
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the learner
        first, place = in_one_line(exc)
        raise CheckFailed(
            f"{what}: expected {names}, but {error_name(exc)} was raised: {first}{place}",
            hint=hint or "",
            what=what,
        ) from None
    raise CheckFailed(
        f"{what}: expected {names}, but nothing was raised (it returned {_short(result, 60)}).",
        hint=hint or "",
        what=what,
    )


def passed(*, hidden: bool = True) -> None:
    """Tell the learner the visible checks passed, and whether more run at grading."""
    if hidden:
        print("✔ Visible checks passed. More checks run when your work is graded.")
    else:
        print("✔ All checks for this exercise passed.")
