"""The local AWS: moto on 127.0.0.1 and what the course builds on it.

- :mod:`~authlab.cloud.aws`: the moto server and boto3 clients pointed at it
- :mod:`~authlab.cloud.cognito`: the demo user pool and sign-in
- :mod:`~authlab.cloud.idp`: simulated OIDC issuers (Entra-like, Firebase-shaped)
- :mod:`~authlab.cloud.federation`: an upstream identity linked into the pool
- :mod:`~authlab.cloud.refresh`: token lifetimes and a refreshing client
- :mod:`~authlab.cloud.denylist`: revoked token ids in DynamoDB with a TTL
- :mod:`~authlab.cloud.localhttp`: the small HTTP server the gateway and issuers use
- :mod:`~authlab.cloud.signin`: the sign-in page the gateway serves
- :mod:`authlab.cloud.gateway`: the local API Gateway and its authorizers

This room stands on the ground floor and on :mod:`authlab.tokens`.
"""

from .aws import MotoServer, client, current_server, real_aws, start_moto, stop_moto

__all__ = ["MotoServer", "client", "current_server", "real_aws", "start_moto", "stop_moto"]
