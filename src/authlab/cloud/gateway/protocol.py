"""What an authorizer and an event builder may ask of the gateway that runs them.

The local gateway's server (:mod:`authlab.cloud.gateway.server`) imports the authorizer
modules and builds its dispatch table from them; they never import the server back, not
even for types. Instead they take a :class:`GatewayContext`: the few attributes and
methods of a running gateway they need. :class:`~authlab.cloud.gateway.server.Gateway`
satisfies it, and a test can hand in any object that does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from ...clock import Clock
from ...tokens.jwks import KeySet

__all__ = ["GatewayContext", "Handler"]

Handler = Callable[[dict[str, Any], Any], Any]
"""A Lambda function in Python: ``handler(event, context) -> result``."""


class GatewayContext(Protocol):
    """The gateway as its authorizers and event builder see it."""

    api_id: str
    """The HTTP API's id (``requestContext.apiId``, and part of every route ARN)."""
    stage: str
    """The stage served (``$default`` or a name)."""
    region: str
    """The AWS region in ARNs."""
    account_id: str
    """The AWS account id in ARNs."""
    clock: Clock
    """The time tokens, caches and events are measured on."""
    invocations: Counter[str]
    """Lambda calls per function name, authorizers included."""

    def keys_for(self, issuer: str) -> KeySet:
        """The trusted keys of ``issuer``."""
        ...

    def handler_for(self, uri: str, integration_id: str | None = None) -> tuple[str, Handler]:
        """``(function name, handler)`` registered for a Lambda ARN or URI."""
        ...
