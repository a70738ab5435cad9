"""authlab.cloud.denylist: the jti denylist table on the local DynamoDB (moto)."""

from __future__ import annotations

import pytest

from authlab.cloud.denylist import TTL_ATTRIBUTE, DenylistTable, time_calls
from authlab.errors import ConfigurationError

from .apigw import LAMBDA, add_integration


@pytest.fixture
def table(aws):
    return DenylistTable(aws.client("dynamodb")).create()


def test_create_turns_ttl_on_and_is_idempotent(table):
    assert table.ttl_attribute() == TTL_ATTRIBUTE == "expires_at"
    assert table.create() is table
    assert table.count() == 0


def test_put_and_get_round_trip_with_a_consistent_read(table):
    assert table.get("nope") is None
    table.put("abc123", 1_700_000_900.9, sub="alice", reason="logout")
    entry = table.get("abc123")
    assert entry == {
        "jti": "abc123",
        "expires_at": 1_700_000_900,
        "sub": "alice",
        "reason": "logout",
    }
    assert table.reads == 2 and table.count() == 1


def test_expired_entries_stay_until_a_reader_ignores_them(table):
    """moto, like DynamoDB within its deletion delay, still returns items past their TTL."""
    table.put("old", 1_000)
    assert table.get("old")["expires_at"] == 1_000


def test_put_needs_a_jti(table):
    with pytest.raises(ConfigurationError):
        table.put("", 1_700_000_000)


def test_reference_is_revoked_on_top_of_the_table(table):
    """The notebook's exercise, answered here to check the table supports it."""
    now = 1_700_000_000

    def is_revoked(claims):
        entry = table.get(claims["jti"]) if claims.get("jti") else None
        return entry is not None and entry["expires_at"] > now

    table.put("live", now + 600)
    table.put("stale", now - 1)
    assert is_revoked({"jti": "live"}) and not is_revoked({"jti": "stale"})
    assert not is_revoked({"jti": "other"}) and not is_revoked({})


def test_time_calls_returns_one_duration_per_argument():
    times = time_calls(lambda x: sum(range(x)), [10, 1000], repeat=2)
    assert len(times) == 2 and all(t >= 0 for t in times)


def test_denylist_in_a_lambda_authorizer_and_the_cache_window(aws, table):
    """Notebook 08's design: the check lives in a REQUEST Lambda authorizer (a JWT authorizer
    has no hook); without a cache a revoked token stops at once, with a TTL it passes until the
    cached answer expires."""
    from authlab.clock import FrozenClock
    from authlab.cloud.gateway import Gateway
    from authlab.cloud.idp import OidcIssuer
    from authlab.cloud.localhttp import HttpRequest
    from authlab.cloud.refresh import TokenService
    from authlab.errors import TokenError
    from authlab.tokens.jwks import KeySet
    from authlab.tokens.verify import verify_token

    clock = FrozenClock(1_764_000_000)
    issuer = OidcIssuer("https://issuer.example", clock=clock)
    service = TokenService(issuer, clock=clock)
    keys = KeySet.from_jwks(issuer.jwks())
    apigw = aws.client("apigatewayv2")
    api = apigw.create_api(Name="orders-test", ProtocolType="HTTP")["ApiId"]
    integration = add_integration(apigw, api, "orders")
    for path, ttl in (("/live", 0), ("/cached", 120)):
        authorizer = apigw.create_authorizer(
            ApiId=api,
            Name=f"deny{ttl}",
            AuthorizerType="REQUEST",
            AuthorizerUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"{LAMBDA}deny/invocations",
            AuthorizerPayloadFormatVersion="2.0",
            EnableSimpleResponses=True,
            IdentitySource=["$request.header.Authorization"],
            AuthorizerResultTtlInSeconds=ttl,
        )["AuthorizerId"]
        apigw.create_route(
            ApiId=api,
            RouteKey=f"GET {path}",
            AuthorizationType="CUSTOM",
            AuthorizerId=authorizer,
            Target=f"integrations/{integration}",
        )

    def deny(event, context):
        token = event["identitySource"][0].removeprefix("Bearer ")
        try:
            claims = verify_token(
                token,
                keys,
                issuer=issuer.issuer,
                client_id=service.client_id,
                token_use="access",
                clock=clock,
            )
        except TokenError:
            raise Exception("Unauthorized") from None
        entry = table.get(claims["jti"])
        if entry is not None and entry["expires_at"] > clock.now():
            raise Exception("Unauthorized")
        return {"isAuthorized": True}

    gateway = Gateway(
        api, apigw=apigw, clock=clock, handlers={"orders": lambda e, c: {"ok": 1}, "deny": deny}
    )

    def status(path, token):
        headers = [("Authorization", f"Bearer {token}")]
        return gateway.handle(HttpRequest("GET", path, headers=headers)).status

    victim = service.sign_in("grace")
    assert status("/live", victim.access_token) == status("/cached", victim.access_token) == 200
    runs = gateway.invocations["deny"]
    table.put(victim.jti, victim.expires_at)
    assert status("/live", victim.access_token) == 401
    assert status("/cached", victim.access_token) == 200  # the cached allow
    assert gateway.invocations["deny"] == runs + 1  # only the uncached route ran the authorizer
    clock.advance(seconds=119)
    assert status("/cached", victim.access_token) == 200
    clock.advance(seconds=2)
    assert status("/cached", victim.access_token) == 401
