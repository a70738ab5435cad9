"""CUSTOM (Lambda) authorizers on the local API Gateway, over HTTP on 127.0.0.1.

An HTTP API is created in moto with three REQUEST authorizers (payload 2.0 with IAM
policies, payload 2.0 with simple responses, payload 1.0 without caching); Python
functions stand in for the Lambdas; requests go through :class:`authlab.cloud.gateway.Gateway`.
"""

from __future__ import annotations

import pytest
import requests

from authlab.clock import FrozenClock
from authlab.cloud.gateway import Gateway, parse_method_arn, policy

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"


def _authorizer_uri(name: str) -> str:
    return (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{LAMBDA}{name}/invocations"
    )


def policy_authorizer(event, context):
    """Decides on the identity source; shows every outcome a Lambda authorizer can have."""
    token = event["identitySource"][0]
    arn = parse_method_arn(event["routeArn"])
    whole_api = f"arn:aws:execute-api:{arn.region}:{arn.account_id}:{arn.api_id}/{arn.stage}/*"
    if token == "allow":
        return policy("alice", "Allow", whole_api, {"tenant": "acme", "admin": False, "n": 3})
    if token == "deny":
        return policy("mallory", "Deny", whole_api)
    if token == "only-this-route":  # the pitfall: allows exactly the first routeArn
        return policy("bob", "Allow", event["routeArn"])
    if token == "get-only":
        return policy("carol", "Allow", whole_api.replace("/*", "/GET/*"))
    if token == "crash":
        raise RuntimeError("database unreachable")
    if token == "malformed":
        return {"principalId": "x"}
    if token == "nested-context":
        return policy("dave", "Allow", whole_api, {"groups": ["admin"]})
    raise Exception("Unauthorized")


def simple_authorizer(event, context):
    token, tenant = event["identitySource"]
    return {"isAuthorized": token == "good" and tenant == "acme", "context": {"tenant": tenant}}


def v1_authorizer(event, context):
    assert event["version"] == "1.0" and event["type"] == "REQUEST"
    if event["identitySource"] != "v1-token":
        raise Exception("Unauthorized")
    return policy("erin", "Allow", event["methodArn"], {"payload": "1.0"})


def echo(event, context):
    return {"authorizer": event["requestContext"].get("authorizer"), "route": event["routeKey"]}


@pytest.fixture(scope="module")
def stack(moto_server):
    moto_server.reset()
    apigw = moto_server.client("apigatewayv2")
    api = apigw.create_api(Name="pets", ProtocolType="HTTP")["ApiId"]

    def authorizer(name, function, version, ttl, sources, simple=False):
        extra = {"EnableSimpleResponses": True} if simple else {}
        if ttl is not None:
            extra["AuthorizerResultTtlInSeconds"] = ttl
        return apigw.create_authorizer(
            ApiId=api,
            Name=name,
            AuthorizerType="REQUEST",
            AuthorizerUri=_authorizer_uri(function),
            AuthorizerPayloadFormatVersion=version,
            IdentitySource=sources,
            **extra,
        )["AuthorizerId"]

    iam = authorizer("iam", "policy-auth", "2.0", 300, ["$request.header.Authorization"])
    simple = authorizer(
        "simple",
        "simple-auth",
        "2.0",
        60,
        ["$request.header.Authorization", "$request.querystring.tenant"],
        simple=True,
    )
    v1 = authorizer("v1", "v1-auth", "1.0", 0, ["$request.header.Authorization"])
    default_ttl = authorizer("default", "policy-auth", "2.0", None, ["$request.header.X-Key"])
    target = apigw.create_integration(
        ApiId=api,
        IntegrationType="AWS_PROXY",
        IntegrationUri=LAMBDA + "echo",
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    for key, auth in [
        ("GET /pets", iam),
        ("POST /pets", iam),
        ("GET /pets/{id}", iam),
        ("GET /simple", simple),
        ("GET /v1", v1),
        ("GET /default", default_ttl),
    ]:
        apigw.create_route(
            ApiId=api,
            RouteKey=key,
            AuthorizationType="CUSTOM",
            AuthorizerId=auth,
            Target=f"integrations/{target}",
        )
    clock = FrozenClock(1_800_000_000)
    gateway = Gateway(
        api,
        apigw=apigw,
        clock=clock,
        handlers={
            "echo": echo,
            "policy-auth": policy_authorizer,
            "simple-auth": simple_authorizer,
            "v1-auth": v1_authorizer,
        },
    )
    with gateway:
        yield gateway, clock, api


def call(gateway, method, path, token=None, **kwargs):
    headers = {"Authorization": token} if token is not None else {}
    headers.update(kwargs.pop("headers", {}))
    return requests.request(method, gateway.url + path, headers=headers, timeout=5, **kwargs)


def calls(gateway, name="policy-auth"):
    return gateway.invocations[name]


def test_missing_identity_source_is_401_without_calling_the_authorizer(stack):
    gateway, _, _ = stack
    before = calls(gateway)
    response = call(gateway, "GET", "/pets")
    assert response.status_code == 401 and response.json() == {"message": "Unauthorized"}
    assert "www-authenticate" not in response.headers  # only JWT authorizers send one
    assert calls(gateway) == before and gateway.invocations["echo"] == 0


def test_unauthorized_exception_is_401_and_the_backend_never_runs(stack):
    gateway, _, _ = stack
    before, echoes = calls(gateway), gateway.invocations["echo"]
    response = call(gateway, "GET", "/pets", "who-knows")
    assert response.status_code == 401
    assert response.headers["x-authlab-error"] == "authorizer_unauthorized"
    assert "www-authenticate" not in response.headers
    assert calls(gateway) == before + 1 and gateway.invocations["echo"] == echoes
    call(gateway, "GET", "/pets", "who-knows")  # a 401 is not cached: called again
    assert calls(gateway) == before + 2


@pytest.mark.parametrize("token", ["crash", "malformed", "nested-context"])
def test_crash_or_malformed_response_is_500(stack, token):
    gateway, _, _ = stack
    response = call(gateway, "GET", "/pets", token)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert response.headers["x-authlab-error"] == "authorizer_error"


def test_allow_passes_context_to_the_handler_and_is_cached(stack):
    gateway, clock, api = stack
    before = calls(gateway)
    first = call(gateway, "GET", "/pets/7", "allow")
    assert first.status_code == 200
    assert first.json()["authorizer"] == {"lambda": {"tenant": "acme", "admin": False, "n": 3}}
    assert calls(gateway) == before + 1
    second = call(gateway, "POST", "/pets", "allow")  # other route, same token: cache hit
    assert second.status_code == 200 and second.json()["route"] == "POST /pets"
    assert calls(gateway) == before + 1
    clock.advance(299)
    assert call(gateway, "GET", "/pets", "allow").status_code == 200
    assert calls(gateway) == before + 1
    clock.advance(1)  # the TTL (300 s) has passed: the authorizer runs again
    assert call(gateway, "GET", "/pets", "allow").status_code == 200
    assert calls(gateway) == before + 2


def test_deny_is_403_and_the_cached_deny_does_not_call_again(stack):
    gateway, _, _ = stack
    before, echoes = calls(gateway), gateway.invocations["echo"]
    first = call(gateway, "GET", "/pets", "deny")
    assert first.status_code == 403 and first.json() == {"message": "Forbidden"}
    assert first.headers["x-authlab-error"] == "policy_denied"
    assert "www-authenticate" not in first.headers
    for path in ("/pets", "/pets/1"):
        assert call(gateway, "GET", path, "deny").status_code == 403
    assert calls(gateway) == before + 1 and gateway.invocations["echo"] == echoes


def test_allow_that_does_not_cover_the_route_is_403(stack):
    gateway, _, _ = stack
    assert call(gateway, "GET", "/pets/3", "get-only").status_code == 200
    assert call(gateway, "POST", "/pets", "get-only").status_code == 403


def test_the_cached_policy_pitfall(stack):
    gateway, clock, _ = stack
    clock.advance(3600)  # start from an expired cache
    before = calls(gateway)
    assert call(gateway, "GET", "/pets/1", "only-this-route").status_code == 200
    # Same token, next route: the cached policy names only GET /pets/1, so 403 from cache.
    assert call(gateway, "GET", "/pets/2", "only-this-route").status_code == 403
    assert calls(gateway) == before + 1


def test_route_arn_in_the_event(stack):
    gateway, _, api = stack
    seen = []

    def spy(event, context):
        seen.append(event)
        return {"isAuthorized": True}

    gateway.register("simple-auth", spy)
    try:
        response = call(gateway, "GET", "/simple?tenant=spy", "spy-token", cookies={"c": "1"})
    finally:
        gateway.register("simple-auth", simple_authorizer)
    assert response.status_code == 200
    event = seen[0]
    assert (
        event["routeArn"] == f"arn:aws:execute-api:us-east-1:123456789012:{api}/$default/GET/simple"
    )
    assert event["version"] == "2.0" and event["identitySource"] == ["spy-token", "spy"]
    assert event["routeKey"] == "GET /simple" and event["rawQueryString"] == "tenant=spy"
    assert event["cookies"] == ["c=1"]


def test_simple_responses_keyed_on_every_identity_source(stack):
    gateway, _, _ = stack
    before = calls(gateway, "simple-auth")
    ok = call(gateway, "GET", "/simple?tenant=acme", "good")
    assert ok.status_code == 200 and ok.json()["authorizer"] == {"lambda": {"tenant": "acme"}}
    assert call(gateway, "GET", "/simple?tenant=acme", "good").status_code == 200  # cached
    assert calls(gateway, "simple-auth") == before + 1
    assert call(gateway, "GET", "/simple?tenant=evil", "good").status_code == 403  # new key
    assert call(gateway, "GET", "/simple?tenant=evil", "good").status_code == 403  # cached deny
    assert calls(gateway, "simple-auth") == before + 2
    assert call(gateway, "GET", "/simple", "good").status_code == 401  # query source missing


def test_payload_1_0_with_caching_off(stack):
    gateway, _, _ = stack
    before = calls(gateway, "v1-auth")
    for _ in range(2):
        response = call(gateway, "GET", "/v1", "v1-token")
        assert response.status_code == 200
        assert response.json()["authorizer"] == {"lambda": {"payload": "1.0"}}
    assert calls(gateway, "v1-auth") == before + 2  # TTL 0: every request calls the authorizer
    assert call(gateway, "GET", "/v1", "nope").status_code == 401


def test_ttl_defaults_to_300_when_unset(stack):
    gateway, clock, _ = stack
    before = calls(gateway)
    headers = {"X-Key": "allow"}
    call(gateway, "GET", "/default", headers=headers)
    clock.advance(299)
    call(gateway, "GET", "/default", headers=headers)
    assert calls(gateway) == before + 1
    clock.advance(1)
    call(gateway, "GET", "/default", headers=headers)
    assert calls(gateway) == before + 2


def test_an_unregistered_authorizer_function_is_500(stack):
    gateway, _, _ = stack
    saved = gateway.handlers.pop("v1-auth")
    try:
        assert call(gateway, "GET", "/v1", "v1-token").status_code == 500
    finally:
        gateway.register("v1-auth", saved)
