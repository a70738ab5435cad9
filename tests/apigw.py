"""Building HTTP APIs in moto for the gateway tests (the boto3 calls notebook 05 teaches)."""

from __future__ import annotations

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
"""A Lambda ARN without its function name: the gateway maps the name to a Python handler."""


def add_integration(apigw, api_id: str, function: str) -> str:
    """A payload-2.0 Lambda proxy integration for ``function``; returns its id."""
    return apigw.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=LAMBDA + function,
        PayloadFormatVersion="2.0",
    )["IntegrationId"]


def add_jwt_authorizer(
    apigw, api_id, name, issuer, audience, source="$request.header.Authorization"
) -> str:
    """A JWT authorizer trusting ``issuer`` for ``audience``; returns its id."""
    return apigw.create_authorizer(
        ApiId=api_id,
        Name=name,
        AuthorizerType="JWT",
        IdentitySource=[source],
        JwtConfiguration={"Issuer": issuer, "Audience": audience},
    )["AuthorizerId"]


def pool_api(apigw, pool, functions: tuple[str, ...] = ("notes",)) -> str:
    """An HTTP API whose ``GET /<function>`` routes each need a token of ``pool`` (a demo pool):
    one JWT authorizer for the pool's app client, one Lambda integration per function. Returns
    the API's id."""
    api = apigw.create_api(Name="notes", ProtocolType="HTTP")["ApiId"]
    authorizer = add_jwt_authorizer(apigw, api, "cognito", pool.issuer, [pool.client_id])
    for function in functions:
        apigw.create_route(
            ApiId=api,
            RouteKey=f"GET /{function}",
            AuthorizationType="JWT",
            AuthorizerId=authorizer,
            Target=f"integrations/{add_integration(apigw, api, function)}",
        )
    return api
