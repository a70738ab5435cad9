"""Serverless Auth Lab's support library: the machinery that is not the lesson.

Three rooms on one ground floor; a room imports only the ground and the rooms listed
before it, and the most used names are re-exported here.

- the ground: :mod:`~authlab.errors` (the exception tree), :mod:`~authlab.clock`
  (injectable time), :mod:`~authlab.data` (where the course's data files are)
- :mod:`authlab.tokens`: what the course teaches about JWTs (``jws``, ``jwks``, ``verify``,
  ``display``, ``forge``, ``attacks``, and ``python -m authlab``)
- :mod:`authlab.cloud`: the local AWS on moto (``aws``, ``cognito``, ``idp``,
  ``federation``, ``refresh``, ``denylist``, ``localhttp``, ``signin``) and
  :mod:`authlab.cloud.gateway`, the local API Gateway with its authorizers
- :mod:`authlab.course`: what a notebook needs to teach (``feedback``, ``quiz``,
  ``questions``, ``pricing``, ``fleet``)
"""

from .clock import SYSTEM_CLOCK, Clock, FrozenClock, SystemClock
from .course.feedback import check, check_equal, check_raises, install_hints, passed
from .course.fleet import Fleet, Request, Response
from .data import data_path, project_root
from .errors import (
    AccessDeniedError,
    AuthLabError,
    ClaimError,
    TokenError,
    http_status,
)

__version__ = "0.1.0"

_LATER = {
    "MotoServer": "aws",
    "client": "aws",
    "current_server": "aws",
    "real_aws": "aws",
    "start_moto": "aws",
    "stop_moto": "aws",
    "show_token": "display",
    "KeySet": "jwks",
    "Verifier": "verify",
    "verify_token": "verify",
}
"""Names imported when first used: every kernel of the course imports this package (its
IPython extension), and a notebook that never calls AWS or verifies a token should not pay
for boto3 and cryptography (about 0.3 s of each kernel's start)."""


def __getattr__(name: str) -> object:
    """The names of :data:`_LATER`, from their modules on first use (PEP 562)."""
    where = _LATER.get(name)
    if where == "aws":
        from .cloud import aws as module
    elif where == "display":
        from .tokens import display as module
    elif where == "jwks":
        from .tokens import jwks as module
    elif where == "verify":
        from .tokens import verify as module
    else:
        raise AttributeError(f"module 'authlab' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LATER))


__all__ = [
    "SYSTEM_CLOCK",
    "AccessDeniedError",
    "AuthLabError",
    "ClaimError",
    "Clock",
    "Fleet",
    "FrozenClock",
    "KeySet",
    "MotoServer",
    "Request",
    "Response",
    "SystemClock",
    "TokenError",
    "Verifier",
    "check",
    "check_equal",
    "check_raises",
    "client",
    "current_server",
    "data_path",
    "http_status",
    "install_hints",
    "passed",
    "project_root",
    "real_aws",
    "show_token",
    "start_moto",
    "stop_moto",
    "verify_token",
]
