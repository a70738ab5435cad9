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
from .cloud.aws import MotoServer, client, current_server, real_aws, start_moto, stop_moto
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
from .tokens.display import show_token
from .tokens.jwks import KeySet
from .tokens.verify import Verifier, verify_token

__version__ = "0.1.0"

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
