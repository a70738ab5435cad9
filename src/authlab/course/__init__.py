"""What a notebook needs to teach: instant feedback, quizzes, prices, a fleet to reason about.

- :mod:`~authlab.course.feedback`: checks with hints a learner can act on
- :mod:`~authlab.course.questions` and :mod:`~authlab.course.quiz`: the question bank and drills
- :mod:`~authlab.course.pricing`: prices with their sources and dates
- :mod:`~authlab.course.fleet`: containers behind a load balancer (sessions vs tokens)

This room stands on the ground floor only.
"""

from .feedback import call, check, check_equal, check_raises, install_hints, passed
from .fleet import Fleet, Request, Response

__all__ = [
    "Fleet",
    "Request",
    "Response",
    "call",
    "check",
    "check_equal",
    "check_raises",
    "install_hints",
    "passed",
]
