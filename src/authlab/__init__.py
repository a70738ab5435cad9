"""Serverless Auth Lab's support library: the machinery that is not the lesson.

Import what a notebook needs from here; each name lives in a small module named after
what it does (:mod:`authlab.aws`, :mod:`authlab.errors`, :mod:`authlab.clock`,
:mod:`authlab.feedback`, :mod:`authlab.data`, :mod:`authlab.fleet`).
"""

from .aws import MotoServer, client, current_server, real_aws, start_moto, stop_moto
from .clock import SYSTEM_CLOCK, Clock, FrozenClock, SystemClock
from .data import data_path, project_root
from .errors import (
    AccessDeniedError,
    AuthLabError,
    ClaimError,
    TokenError,
    http_status,
)
from .feedback import check, check_equal, check_raises, install_hints, passed
from .fleet import Fleet, Request, Response

__version__ = "0.1.0"

__all__ = [
    "SYSTEM_CLOCK",
    "AccessDeniedError",
    "AuthLabError",
    "ClaimError",
    "Clock",
    "Fleet",
    "FrozenClock",
    "MotoServer",
    "Request",
    "Response",
    "SystemClock",
    "TokenError",
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
    "start_moto",
    "stop_moto",
]
