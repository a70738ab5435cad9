"""Instant feedback in the notebooks: checks, calls into the learner's code, and hints.

- :mod:`.checks`: the checks a visible test makes (:func:`check_equal`...), and :func:`passed`
- :mod:`.calls`: :func:`call`, a learner's function called by a test: its result or one failed check
- :mod:`.frames`: where in the learner's own code an error happened, in one line
- :mod:`.saved`: the learner's notebook as last saved (which cell defines a name)
- :mod:`.answers`: answers not given yet (an empty written answer, demos that wait)
- :mod:`.hints`: one line of what to do next under a common error's traceback
"""

from .answers import (
    UNANSWERED,
    awaiting_answer,
    check_written,
    needs_answers,
    raises_not_implemented,
)
from .calls import call
from .checks import CheckFailed, check, check_equal, check_raises, passed
from .frames import learner_frame
from .hints import hint_for, install_hints
from .saved import defining_cell

__all__ = [
    "UNANSWERED",
    "CheckFailed",
    "awaiting_answer",
    "call",
    "check",
    "check_equal",
    "check_raises",
    "check_written",
    "defining_cell",
    "hint_for",
    "install_hints",
    "learner_frame",
    "needs_answers",
    "passed",
    "raises_not_implemented",
]
