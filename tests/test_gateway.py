"""The local API Gateway, end to end over HTTP on 127.0.0.1: every status path.

One HTTP API is created in moto with boto3 (routes, integrations, JWT authorizers for
a Cognito pool and for a simulated issuer whose scopes we control), then served by
:class:`authlab.cloud.gateway.Gateway` and called with ``requests``.
"""

from __future__ import annotations

import base64
import json
import string
from datetime import UTC, datetime
from types import SimpleNamespace

import jwt
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from authlab.clock import FrozenClock
from authlab.cloud.cognito import admin_tokens, create_demo_pool, session_tokens
from authlab.cloud.gateway import Gateway
from authlab.cloud.gateway.config import ApiConfig, RouteConfig
from authlab.cloud.gateway.events import function_name
from authlab.cloud.idp import OidcIssuer
from authlab.cloud.localhttp import HttpRequest
from authlab.errors import ConfigurationError

from .apigw import LAMBDA, add_integration, add_jwt_authorizer


@pytest.fixture(scope="module")
def stack(moto_server):
    moto_server.reset()
    cognito = moto_server.client("cognito-idp")
    apigw = moto_server.client("apigatewayv2")
    pool = create_demo_pool(cognito, endpoint_url=moto_server.endpoint_url)
    other_pool = create_demo_pool(cognito, endpoint_url=moto_server.endpoint_url, name="other")
    other_client = cognito.create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="other-app", ExplicitAuthFlows=["USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp = OidcIssuer(audience="notes-api").start()

    api = apigw.create_api(Name="notes", ProtocolType="HTTP")["ApiId"]
    cog = add_jwt_authorizer(apigw, api, "cognito", pool.issuer, [pool.client_id])
    ext = add_jwt_authorizer(apigw, api, "idp", idp.issuer, ["notes-api"])
    by_query = add_jwt_authorizer(
        apigw, api, "query", idp.issuer, ["notes-api"], "$request.querystring.token"
    )
    custom = apigw.create_authorizer(
        ApiId=api,
        Name="lambda",
        AuthorizerType="REQUEST",
        IdentitySource=["$request.header.Authorization"],
        AuthorizerUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        + LAMBDA
        + "auth/invocations",
        AuthorizerPayloadFormatVersion="2.0",
    )["AuthorizerId"]
    notes, health = add_integration(apigw, api, "notes"), add_integration(apigw, api, "health")
    boom, missing = add_integration(apigw, api, "boom"), add_integration(apigw, api, "missing")

    def route(key, target, kind="NONE", authorizer=None, scopes=None):
        extra = {"AuthorizerId": authorizer} if authorizer else {}
        if scopes:
            extra["AuthorizationScopes"] = scopes
        apigw.create_route(
            ApiId=api,
            RouteKey=key,
            AuthorizationType=kind,
            Target=f"integrations/{target}",
            **extra,
        )

    route("GET /notes", notes, "JWT", cog)
    route("GET /admin", notes, "JWT", cog, ["admin"])  # Cognito access tokens never carry it
    route("GET /notes/{id}", notes, "JWT", ext, ["notes/read"])
    route("POST /notes", notes, "JWT", ext, ["notes/write", "notes/admin"])
    route("GET /by-query", notes, "JWT", by_query)
    route("GET /health", health)
    route("ANY /files/{path+}", health)
    route("GET /iam", notes, "AWS_IAM")
    route("GET /custom", notes, "CUSTOM", custom)
    route("GET /boom", boom)
    route("GET /orphan", missing)

    revoked: set[str] = set()

    def notes_handler(event, context):
        return {"event": event, "function": context.function_name}

    def health_handler(event, context):
        return {"statusCode": 204, "headers": {"X-Health": "ok"}}

    def boom_handler(event, context):
        raise RuntimeError("the Lambda crashed")

    gateway = Gateway(
        api,
        apigw=apigw,
        handlers={"notes": notes_handler, "health": health_handler, "boom": boom_handler},
        jwks_urls={pool.issuer: pool.jwks_url, other_pool.issuer: other_pool.jwks_url},
    ).start()
    alice = session_tokens(cognito, pool, "alice")
    yield SimpleNamespace(
        gateway=gateway,
        http=requests.Session(),
        cognito=cognito,
        apigw=apigw,
        api=api,
        pool=pool,
        other_pool=other_pool,
        other_client=other_client,
        idp=idp,
        alice=alice,
        revoked=revoked,
    )
    gateway.stop()
    idp.stop()


def call(stack, path, token=None, *, method="GET", authorization=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    return stack.http.request(
        method, stack.gateway.url + path, headers=headers, timeout=10, **kwargs
    )


def assert_unauthorized(response, reason: str) -> None:
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer scope="" error="invalid_token" error_description="')
    assert response.headers["x-authlab-error"] == reason, challenge


def invoked(stack, function="notes") -> int:
    return stack.gateway.invocations[function]


# --------------------------------------------------------------------------- 200


def test_id_and_access_tokens_both_pass_a_route_without_scopes(stack):
    before = invoked(stack)
    for kind in ("IdToken", "AccessToken"):
        response = call(stack, "/notes", stack.alice[kind])
        assert response.status_code == 200, response.headers
    assert invoked(stack) == before + 2
    bare = call(stack, "/notes", authorization=stack.alice["AccessToken"])  # no "Bearer "
    assert bare.status_code == 200


def test_handler_gets_a_payload_2_event_with_string_claims(stack):
    response = call(
        stack, "/notes?tag=a&tag=b&x=1", stack.alice["IdToken"], headers={"Cookie": "c=1; d=2"}
    )
    body = response.json()
    assert body["function"] == "notes"
    event = body["event"]
    assert event["version"] == "2.0" and event["routeKey"] == "GET /notes"
    assert event["rawPath"] == "/notes" and event["rawQueryString"] == "tag=a&tag=b&x=1"
    assert event["queryStringParameters"] == {"tag": "a,b", "x": "1"}
    assert event["cookies"] == ["c=1", "d=2"]
    context = event["requestContext"]
    assert context["http"]["method"] == "GET" and context["apiId"] == stack.api
    authorizer = context["authorizer"]["jwt"]
    claims = authorizer["claims"]
    assert all(isinstance(v, str) for v in claims.values())
    assert claims["token_use"] == "id" and claims["exp"].isdigit()
    assert claims["cognito:groups"] in ("[admin editors]", "[editors admin]")
    assert authorizer["scopes"] is None  # the route requires none


def test_route_scopes_pass_with_scope_or_scp(stack):
    token = stack.idp.issue({"scope": "openid notes/read"})
    response = call(stack, "/notes/42", token)
    assert response.status_code == 200
    event = response.json()["event"]
    assert event["pathParameters"] == {"id": "42"}
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] == ["openid", "notes/read"]
    assert call(stack, "/notes", token, method="POST").status_code == 403
    as_list = stack.idp.issue({"scp": ["notes/admin"]})
    posted = call(stack, "/notes", as_list, method="POST", data=b"\xff\x00")
    assert posted.status_code == 200
    event = posted.json()["event"]
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\xff\x00"


def test_no_auth_routes_greedy_paths_and_handler_responses(stack):
    response = call(stack, "/health")
    assert (response.status_code, response.headers["x-health"], response.content) == (
        204,
        "ok",
        b"",
    )
    assert call(stack, "/files/a/b/c.txt", method="DELETE").status_code == 204


def test_identity_source_in_the_query_string(stack):
    token = stack.idp.issue()
    assert call(stack, f"/by-query?token={token}").status_code == 200
    assert_unauthorized(call(stack, "/by-query", token), "invalid_token")  # header is ignored


# --------------------------------------------------------------------------- 401


def test_missing_or_empty_token_is_401_and_the_handler_never_runs(stack):
    before = invoked(stack)
    assert_unauthorized(call(stack, "/notes"), "invalid_token")
    assert_unauthorized(call(stack, "/notes", authorization="Bearer "), "invalid_token")
    assert invoked(stack) == before


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer not-a-jwt", "malformed"),
        ("Bearer a.b.c", "malformed"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer ...", "malformed"),
    ],
)
def test_malformed_tokens_are_401_never_500(stack, header, reason):
    before = invoked(stack)
    assert_unauthorized(call(stack, "/notes", authorization=header), reason)
    assert invoked(stack) == before


def test_tampered_token_has_a_bad_signature(stack):
    header, payload, signature = stack.alice["IdToken"].split(".")
    claims = jwt.decode(stack.alice["IdToken"], options={"verify_signature": False})
    claims["cognito:groups"] = ["admin", "root"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_unauthorized(call(stack, "/notes", f"{header}.{forged}.{signature}"), "bad_signature")


def test_token_of_another_pool_fails_on_the_issuer_although_moto_signed_it(stack):
    other = stack.other_pool
    tokens = session_tokens(stack.cognito, other, "alice")
    # same moto key ("dummy"), so the signature verifies: only iss tells the pools apart
    assert jwt.get_unverified_header(tokens["IdToken"])["kid"] == "dummy"
    assert_unauthorized(call(stack, "/notes", tokens["IdToken"]), "wrong_issuer")


def test_token_of_another_app_client_fails_on_the_audience(stack):
    tokens = admin_tokens(
        stack.cognito,
        stack.pool.pool_id,
        stack.other_client,
        "bob",
        stack.pool.user("bob").password,
    )
    for kind in ("IdToken", "AccessToken"):  # aud, and client_id when there is no aud
        response = call(stack, "/notes", tokens[kind])
        assert_unauthorized(response, "wrong_audience")
        assert "valid audience" in response.headers["www-authenticate"]


def test_expired_token_after_two_hours(stack):
    clock = FrozenClock()
    clock.advance(hours=2)
    with Gateway(
        stack.api,
        apigw=stack.apigw,
        handlers={"notes": lambda event, context: {}},
        jwks_urls={stack.pool.issuer: stack.pool.jwks_url},
        clock=clock,
    ) as later:
        response = requests.get(
            later.url + "/notes",
            headers={"Authorization": f"Bearer {stack.alice['IdToken']}"},
            timeout=10,
        )
        assert_unauthorized(response, "expired")
        assert "expired" in response.headers["www-authenticate"]
        assert later.invocations["notes"] == 0


def test_not_yet_valid_and_issued_in_the_future_are_401(stack):
    now = int(stack.gateway.clock.now())
    assert_unauthorized(
        call(stack, "/by-query?token=" + stack.idp.issue({"nbf": now + 600})), "not_yet_valid"
    )
    future = stack.idp.issue(issued_at=now + 600)
    assert_unauthorized(call(stack, f"/by-query?token={future}"), "issued_in_future")


def test_unknown_kid_and_foreign_keys_are_401(stack):
    stranger = OidcIssuer(stack.idp.issuer, audience="notes-api", kid=stack.idp.current_kid)
    assert_unauthorized(
        call(stack, "/notes/1", stranger.issue({"scope": "notes/read"})), "bad_signature"
    )
    unknown = stack.idp.issue({"scope": "notes/read"}, headers={"kid": "no-such-key"})
    assert_unauthorized(call(stack, "/notes/1", unknown), "unknown_kid")


def test_alg_none_and_hs256_are_refused(stack):
    claims = {
        "iss": stack.idp.issuer,
        "aud": "notes-api",
        "exp": 4_000_000_000,
        "scope": "notes/read",
    }
    kid = {"kid": stack.idp.current_kid}
    none = jwt.encode(claims, None, algorithm="none", headers=kid)
    hs = jwt.encode(
        claims, "a-guessed-secret-of-enough-length-1234", algorithm="HS256", headers=kid
    )
    for token in (none, hs):
        response = call(stack, "/notes/1", token)
        assert response.status_code == 401, response.headers


def test_a_jwt_authorizer_has_no_revocation_hook(stack):
    """As on AWS, a JWT authorizer cannot consult a denylist: a token whose jti someone
    "revoked" still passes until exp (revocation lives in a Lambda authorizer or the function)."""
    import inspect

    from authlab.cloud.gateway import Gateway

    token = stack.idp.issue({"scope": "notes/read"})
    stack.revoked.add(jwt.decode(token, options={"verify_signature": False})["jti"])
    assert call(stack, "/notes/1", token).status_code == 200
    assert "is_revoked" not in inspect.signature(Gateway).parameters


# --------------------------------------------------------------------------- 403


def test_valid_token_without_the_route_scope_is_403(stack):
    before = invoked(stack)
    response = call(stack, "/notes/1", stack.idp.issue({"scope": "profile"}))
    assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="notes/read"' in response.headers["www-authenticate"]
    # a moto access token carries only aws.cognito.signin.user.admin, never a custom scope
    assert call(stack, "/admin", stack.alice["AccessToken"]).status_code == 403
    assert invoked(stack) == before


# --------------------------------------------------------------------------- 404 / 500 / static


def test_unknown_route_is_404(stack):
    response = call(stack, "/nowhere")
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})
    assert call(stack, "/health", method="POST").status_code == 404


def test_unsupported_authorization_types_are_500(stack):
    for path in ("/iam", "/custom"):
        response = call(stack, path, stack.alice["IdToken"])
        assert response.status_code == 500 and response.json() == {
            "message": "Internal Server Error"
        }


def test_custom_authorizers_plug_into_the_dispatch_table(stack):
    seen = {}

    def authorize_custom(gateway, request, route, authorizer):
        seen["uri"] = authorizer.raw["AuthorizerUri"]
        if request.header("Authorization") != "let-me-in":
            from authlab.errors import TokenError

            raise TokenError("The Lambda authorizer said Unauthorized.")
        return {"lambda": {"user": "alice"}}

    previous = stack.gateway.authorization_types.get("CUSTOM")
    stack.gateway.authorization_types["CUSTOM"] = authorize_custom
    try:
        ok = call(stack, "/custom", authorization="let-me-in")
        assert ok.status_code == 200
        assert ok.json()["event"]["requestContext"]["authorizer"] == {"lambda": {"user": "alice"}}
        assert call(stack, "/custom", authorization="nope").status_code == 401
        assert function_name(seen["uri"]) == "auth"  # where a CUSTOM type finds its Lambda
    finally:
        stack.gateway.authorization_types["CUSTOM"] = previous


def test_crashing_or_missing_handlers_are_500(stack):
    before = stack.gateway.invocations["boom"]
    assert call(stack, "/boom").status_code == 500
    assert stack.gateway.invocations["boom"] == before + 1  # it ran, and crashed
    orphan = call(stack, "/orphan")
    assert orphan.status_code == 500 and orphan.headers["x-authlab-error"] == "configuration"


def test_static_files(stack):
    readme = call(stack, "/_static/README.md")
    assert readme.status_code == 200 and b"/_static/" in readme.content
    for bad in ("/_static/../gateway.py", "/_static/", "/_static/.hidden", "/_static/nope.html"):
        assert call(stack, bad).status_code == 404


def test_a_named_stage_prefixes_the_path_and_handle_works_without_sockets(stack):
    with Gateway(
        stack.api,
        apigw=stack.apigw,
        handlers={"health": lambda e, c: {}},
        stage="prod",
        jwks_urls={stack.pool.issuer: stack.pool.jwks_url},
    ) as staged:
        assert staged.url.endswith("/prod")
        assert requests.get(staged.url + "/health", timeout=5).status_code == 200
        assert (
            requests.get(staged.url.removesuffix("/prod") + "/health", timeout=5).status_code == 404
        )
    response = stack.gateway.handle(HttpRequest("GET", "/health"))
    assert response.status == 204


def test_handler_lookup_and_configuration_errors(stack):
    name, handler = stack.gateway.handler_for(LAMBDA + "notes:live")
    assert name == "notes" and callable(handler)
    with pytest.raises(ConfigurationError, match="register"):
        stack.gateway.handler_for(LAMBDA + "nobody")
    with pytest.raises(ConfigurationError, match="jwks_urls"):
        Gateway(stack.api, apigw=stack.apigw).reload()  # Cognito issuer without a key URL
    with pytest.raises(ConfigurationError, match="No HTTP API"):
        Gateway("nope", apigw=stack.apigw).reload()
    assert any(entry["status"] == 401 for entry in stack.gateway.log)


def test_route_precedence():
    def route(key):
        return RouteConfig(route_id=key, route_key=key)

    config = ApiConfig(
        "a",
        "n",
        "HTTP",
        routes=[
            route("$default"),
            route("ANY /pets/{proxy+}"),
            route("GET /pets/{id}"),
            route("ANY /pets/dog"),
            route("GET /pets/dog"),
        ],
    )

    def key(method, path):
        found = config.find_route(method, path)
        return found[0].route_key, found[1]

    assert key("GET", "/pets/dog") == ("GET /pets/dog", {})
    assert key("POST", "/pets/dog") == ("ANY /pets/dog", {})
    assert key("GET", "/pets/7") == ("GET /pets/{id}", {"id": "7"})
    assert key("POST", "/pets/7/toys") == ("ANY /pets/{proxy+}", {"proxy": "7/toys"})
    assert key("GET", "/cats") == ("$default", {})


# --------------------------------------------------------------------------- property

_HEADER_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_categories=("Cc",))
_SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-_=+/", max_size=40)


@st.composite
def _mutated_token(draw, token: str) -> str:
    index = draw(st.integers(0, len(token) - 1))
    return token[:index] + draw(st.sampled_from("AaZz09-_.")) + token[index + 1 :]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_authorization_headers_never_give_a_5xx(stack, data):
    header = data.draw(
        st.one_of(
            st.text(_HEADER_CHARS, min_size=1, max_size=80).filter(lambda s: not s[0].isspace()),
            st.builds(lambda s: "Bearer " + s, st.text(_HEADER_CHARS, max_size=80)),
            st.builds(lambda a, b, c: f"Bearer {a}.{b}.{c}", _SEGMENT, _SEGMENT, _SEGMENT),
            _mutated_token(stack.alice["IdToken"]).map(lambda t: "Bearer " + t),
        )
    )
    path = data.draw(st.sampled_from(["/notes", "/notes/1", "/admin"]))
    response = call(stack, path, authorization=header)
    assert response.status_code in (200, 401, 403), (header, response.headers)


def test_event_time_comes_from_the_gateway_clock(stack):
    seen = []
    clock = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))
    with Gateway(
        stack.api,
        apigw=stack.apigw,
        handlers={"health": lambda event, context: seen.append(event) or {"statusCode": 204}},
        jwks_urls={
            stack.pool.issuer: stack.pool.jwks_url,
            stack.other_pool.issuer: stack.other_pool.jwks_url,
        },
        clock=clock,
    ) as frozen:
        assert requests.get(frozen.url + "/health", timeout=10).status_code == 204
    assert seen[0]["requestContext"]["timeEpoch"] == int(clock.now() * 1000)


def test_reset_api_deletes_routes_and_authorizers_and_keeps_integrations(moto_server):
    from authlab.cloud.gateway.config import load_api, reset_api

    apigw = moto_server.client("apigatewayv2")
    api = apigw.create_api(Name="reset-me", ProtocolType="HTTP")["ApiId"]
    target = f"integrations/{add_integration(apigw, api, 'notes')}"
    first = None
    for _ in range(2):  # configure twice, as a learner re-running a cell would
        reset_api(apigw, api)
        auth = add_jwt_authorizer(apigw, api, "cognito", "https://issuer.example", ["app"])
        first = first or auth
        apigw.create_route(
            ApiId=api, RouteKey="GET /a", Target=target, AuthorizationType="JWT", AuthorizerId=auth
        )
        apigw.create_route(ApiId=api, RouteKey="GET /b", Target=target)
    config = load_api(apigw, api)
    assert sorted(r.route_key for r in config.routes) == ["GET /a", "GET /b"]
    assert list(config.authorizers) == [auth] and auth != first
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.get_authorizer(ApiId=api, AuthorizerId=first)  # the first run's authorizer is gone
    assert reset_api(apigw, api) == 3
    assert apigw.get_routes(ApiId=api)["Items"] == []
    assert len(apigw.get_integrations(ApiId=api)["Items"]) == 1


def test_a_stopped_gateway_answers_nothing_on_an_open_keep_alive_connection(aws):
    """A browser tab keeps its connection open: after stop() it must see a server that is down."""
    apigw = aws.client("apigatewayv2")
    api = apigw.create_api(Name="empty", ProtocolType="HTTP")["ApiId"]
    gateway = Gateway(api, apigw=apigw).start()
    url = gateway.url + "/nothing"
    with requests.Session() as session:
        assert session.get(url, timeout=5).status_code == 404
        gateway.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=5)


@pytest.mark.parametrize(
    ("issuer", "local"),
    [
        ("http://127.0.0.1:8080/pool", True),
        ("http://localhost/pool", True),
        ("https://issuer.example/pool", False),
        ("http://127.0.0.1.example.com/pool", False),
        ("ftp://127.0.0.1/pool", False),
    ],
)
def test_an_issuer_is_local_by_its_parsed_host(issuer, local):
    from authlab.cloud.gateway.server import is_local_url

    assert is_local_url(issuer) is local


def test_an_issuer_with_a_user_before_its_host_is_refused_clearly_never_a_500(moto_server):
    """``http://127.0.0.1@host:port/`` starts like loopback but its host is ``host``: the
    gateway fetches nothing from it, says why on reload, and answers its routes 401."""
    from authlab.cloud.gateway.server import is_local_url
    from authlab.errors import IssuerUrlError

    apigw = moto_server.client("apigatewayv2")
    api = apigw.create_api(Name="userinfo", ProtocolType="HTTP")["ApiId"]
    target = f"integrations/{add_integration(apigw, api, 'notes')}"
    for issuer in ("http://127.0.0.1@192.0.2.1:9/x", "http://127.0.0.1:1@localhost/x"):
        with pytest.raises(IssuerUrlError, match="user name before its host"):
            is_local_url(issuer, "issuer")
    with pytest.raises(IssuerUrlError, match="not a valid URL"):
        is_local_url("http://127.0.0.1:port/x", "issuer")
    auth = add_jwt_authorizer(apigw, api, "home", "http://127.0.0.1@192.0.2.1:9/x", ["app"])
    apigw.create_route(
        ApiId=api, RouteKey="GET /a", Target=target, AuthorizationType="JWT", AuthorizerId=auth
    )
    gateway = Gateway(api, apigw=apigw, handlers={"notes": lambda event, context: {}})
    with pytest.raises(IssuerUrlError) as refused:
        gateway.reload()
    assert "the host is '192.0.2.1'" in str(refused.value) and "Hint:" in str(refused.value)
    answer = gateway.handle(HttpRequest("GET", "/a", headers=[("Authorization", "Bearer x.y.z")]))
    assert answer.status == 401
