"""Serverless Auth Lab's support library: the machinery that is not the lesson.

Each module is one concept; the most used names are re-exported here.

- foundations: :mod:`~authlab.errors` (the exception tree), :mod:`~authlab.clock`,
  :mod:`~authlab.aws` (moto on 127.0.0.1), :mod:`~authlab.data`, :mod:`~authlab.feedback`,
  :mod:`~authlab.fleet` (containers behind a load balancer)
- tokens: :mod:`~authlab.jws` (parsing), :mod:`~authlab.jwks` (key sets),
  :mod:`~authlab.verify` (the strict reference verifier), :mod:`~authlab.display`,
  :mod:`~authlab.forge` and :mod:`~authlab.attacks` (the attack gallery), ``python -m authlab``
- identity: :mod:`~authlab.cognito`, :mod:`~authlab.idp` (simulated OIDC issuers),
  :mod:`~authlab.federation`, :mod:`~authlab.refresh`, :mod:`~authlab.denylist`
- the API: :mod:`~authlab.gateway` (with ``gateway_auth``, ``gateway_config``,
  ``gateway_events``, ``gateway_custom``), :mod:`~authlab.authorizers`
  (with ``authorizer_events``), :mod:`~authlab.signin`, :mod:`~authlab.localhttp`
- practice: :mod:`~authlab.pricing`, :mod:`~authlab.quiz`, :mod:`~authlab.questions`
"""

from .aws import MotoServer, client, current_server, real_aws, start_moto, stop_moto
from .clock import SYSTEM_CLOCK, Clock, FrozenClock, SystemClock
from .data import data_path, project_root
from .display import show_token
from .errors import (
    AccessDeniedError,
    AuthLabError,
    ClaimError,
    TokenError,
    http_status,
)
from .feedback import check, check_equal, check_raises, install_hints, passed
from .fleet import Fleet, Request, Response
from .jwks import KeySet
from .verify import Verifier, verify_token

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
