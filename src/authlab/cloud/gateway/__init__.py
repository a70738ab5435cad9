"""The local API Gateway: an HTTP API read from moto, enforced on real HTTP at 127.0.0.1.

- :mod:`~authlab.cloud.gateway.server`: :class:`Gateway`, and the dispatch table on a
  route's ``AuthorizationType``, built from the authorizer modules below
- :mod:`~authlab.cloud.gateway.config`: the API's routes, integrations and authorizers read from moto
- :mod:`~authlab.cloud.gateway.events`: payload-2.0 events for handlers, and their answers
- :mod:`~authlab.cloud.gateway.protocol`: what authorizers may ask of the gateway
- :mod:`~authlab.cloud.gateway.jwt_authorizer`: the JWT authorizer
- :mod:`~authlab.cloud.gateway.lambda_authorizer`: Lambda (``CUSTOM``) authorizers on routes
- :mod:`~authlab.cloud.gateway.lambda_runtime`: calling an authorizer, caching, deciding
- :mod:`~authlab.cloud.gateway.authorizer_events`: the events a Lambda authorizer receives
- :mod:`~authlab.cloud.gateway.policies`: IAM policies and authorizer answers
"""

from .authorizer_events import (
    MethodArn,
    http_event_v1,
    http_event_v2,
    identity_values,
    method_arn,
    parse_method_arn,
    request_event,
    token_event,
)
from .events import LambdaContext
from .lambda_runtime import DEFAULT_TTL, MAX_TTL, AuthorizerCache, Decision, run_authorizer
from .policies import (
    POLICY_VERSION,
    AuthorizerResult,
    evaluate_policy,
    policy,
    resource_matches,
    validate_policy_response,
    validate_simple_response,
)
from .protocol import GatewayContext
from .server import AUTHORIZATION_TYPES, STATIC_DIR, Gateway

__all__ = [
    "AUTHORIZATION_TYPES",
    "DEFAULT_TTL",
    "MAX_TTL",
    "POLICY_VERSION",
    "STATIC_DIR",
    "AuthorizerCache",
    "AuthorizerResult",
    "Decision",
    "Gateway",
    "GatewayContext",
    "LambdaContext",
    "MethodArn",
    "evaluate_policy",
    "http_event_v1",
    "http_event_v2",
    "identity_values",
    "method_arn",
    "parse_method_arn",
    "policy",
    "request_event",
    "resource_matches",
    "run_authorizer",
    "token_event",
    "validate_policy_response",
    "validate_simple_response",
]
