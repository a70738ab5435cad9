"""Lambda authorizers: events, IAM policy matching, response validation, the result cache."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerResponseV2,
    APIGatewayAuthorizerTokenEvent,
)

from authlab.clock import FrozenClock
from authlab.cloud.gateway import (
    DEFAULT_TTL,
    AuthorizerCache,
    evaluate_policy,
    http_event_v1,
    http_event_v2,
    identity_values,
    method_arn,
    parse_method_arn,
    policy,
    request_event,
    resource_matches,
    run_authorizer,
    token_event,
    validate_policy_response,
    validate_simple_response,
)
from authlab.errors import (
    AuthorizerError,
    AuthorizerUnauthorizedError,
    ConfigurationError,
    PolicyDeniedError,
    http_status,
)

BASE = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod"
GET_PETS = f"{BASE}/GET/pets"
GET_PET = f"{BASE}/GET/pets/42"
POST_PETS = f"{BASE}/POST/pets"


# --------------------------------------------------------------------------- ARNs and events


def test_method_arn_has_the_documented_shape_and_round_trips():
    arn = method_arn(
        region="us-east-1",
        account_id="123456789012",
        api_id="abc123",
        stage="prod",
        method="get",
        path="/pets/42",
    )
    assert arn == GET_PET
    parts = parse_method_arn(arn)
    assert (parts.api_id, parts.stage, parts.method, parts.resource) == (
        "abc123",
        "prod",
        "GET",
        "pets/42",
    )
    assert str(parts) == arn
    root = method_arn(
        region="us-east-1", account_id="1", api_id="a", stage="s", method="GET", path="/"
    )
    assert root.endswith("a/s/GET/")


@pytest.mark.parametrize("bad", ["", "arn:aws:s3:::bucket/key", "arn:aws:execute-api:r:a:api"])
def test_parse_method_arn_refuses_other_arns(bad):
    with pytest.raises(ConfigurationError):
        parse_method_arn(bad)


def test_token_event_reads_with_powertools():
    event = APIGatewayAuthorizerTokenEvent(token_event("abc.def.ghi", GET_PETS))
    assert event.get_type == "TOKEN"
    assert event.authorization_token == "abc.def.ghi"
    assert event.method_arn == GET_PETS
    assert event.parsed_arn.resource == "pets"


def test_request_event_reads_with_powertools():
    raw = request_event(
        GET_PET,
        headers={"Authorization": "Bearer x", "X-Multi": ["a", "b"]},
        query={"q": "1"},
        resource="/pets/{id}",
        path_parameters={"id": "42"},
    )
    event = APIGatewayAuthorizerRequestEvent(raw)
    assert event.get_type == "REQUEST"
    assert event.http_method == "GET"
    assert event.path == "/pets/42" and event.resource == "/pets/{id}"
    assert event.headers.get("authorization") == "Bearer x"
    assert raw["multiValueHeaders"]["X-Multi"] == ["a", "b"] and raw["headers"]["X-Multi"] == "b"
    assert event.query_string_parameters == {"q": "1"}
    assert event.path_parameters == {"id": "42"}
    assert raw["requestContext"]["apiId"] == "abc123" and raw["requestContext"]["stage"] == "prod"


def test_http_event_v1_adds_identity_source_joined():
    raw = http_event_v1(GET_PETS, ["tok", "7"], headers={"Authorization": "tok"})
    assert raw["version"] == "1.0" and raw["type"] == "REQUEST"
    assert raw["identitySource"] == "tok,7" == raw["authorizationToken"]
    assert raw["methodArn"] == GET_PETS


def test_http_event_v2_reads_with_powertools():
    clock = FrozenClock(1_700_000_000)
    raw = http_event_v2(
        GET_PET,
        route_key="GET /pets/{id}",
        identity_source=["Bearer x"],
        headers={"Authorization": "Bearer x"},
        query={"a": ["1", "2"], "b": "3"},
        cookies=["c=1"],
        clock=clock,
    )
    event = APIGatewayAuthorizerEventV2(raw)
    assert event.version == "2.0" and event.get_type == "REQUEST"
    assert event.route_arn == GET_PET
    assert event.identity_source == ["Bearer x"]
    assert event.route_key == "GET /pets/{id}"
    assert event.raw_path == "/pets/42"
    assert raw["rawQueryString"] == "a=1&a=2&b=3"
    assert event.query_string_parameters == {"a": "1,2", "b": "3"}
    assert event.headers.get("authorization") == "Bearer x"
    assert event.request_context.http.method == "GET"
    assert raw["requestContext"]["timeEpoch"] == 1_700_000_000_000


def test_identity_values_finds_headers_case_insensitively_and_query():
    got = identity_values(
        ["$request.header.Authorization", "$request.querystring.tenant"],
        headers={"authorization": "Bearer t"},
        query={"tenant": "acme"},
    )
    assert got == ["Bearer t", "acme"]
    assert identity_values(["method.request.header.Auth"], headers={"AUTH": "x"}) == ["x"]
    assert identity_values(["$stageVariables.v"], stage_variables={"v": "1"}) == ["1"]
    assert identity_values(["$context.requestId"], context={"requestId": "r"}) == ["r"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}])
def test_identity_values_is_none_when_a_source_is_missing_or_empty(headers):
    assert identity_values(["$request.header.Authorization"], headers=headers) is None


def test_identity_values_refuses_unknown_expressions():
    with pytest.raises(ConfigurationError):
        identity_values(["$request.body.token"])


# --------------------------------------------------------------------------- wildcards


@pytest.mark.parametrize(
    "pattern, arn, expected",
    [
        (GET_PETS, GET_PETS, True),
        (GET_PETS, GET_PET, False),  # exact resources do not cover children
        (f"{BASE}/GET/pets/*", GET_PET, True),
        (f"{BASE}/GET/pets/*", GET_PETS, False),  # "pets/*" needs the slash
        (f"{BASE}/*/pets", POST_PETS, True),  # any verb
        (f"{BASE}/*", GET_PET, True),  # "*" crosses "/"
        (f"{BASE}/GET/*", POST_PETS, False),
        ("*", GET_PET, True),
        ("arn:aws:execute-api:*:*:abc123/*", GET_PET, True),
        ("arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/pets", GET_PETS, True),
        ("arn:aws:execute-api:us-east-1:123456789012:abc123/pro?/GET/pets", GET_PETS, True),
        ("arn:aws:execute-api:us-east-1:123456789012:abc123/pr?/GET/pets", GET_PETS, False),
        (f"{BASE}/GET/pets/??", GET_PET, True),
        (f"{BASE}/GET/pets/?", GET_PET, False),
        (f"{BASE}/get/pets", GET_PETS, False),  # case-sensitive
        (f"{BASE}/GET/pets.", GET_PETS + "x", False),  # "." is literal, not a regex
        (GET_PETS.replace("prod", "dev"), GET_PETS, False),
    ],
)
def test_resource_matches_like_iam(pattern, arn, expected):
    assert resource_matches(pattern, arn) is expected


def test_star_inside_a_segment_does_not_cross_colons():
    # "us-*-1" is inside the region segment: it must not swallow the account segment.
    assert resource_matches("arn:aws:execute-api:us-*-1:123456789012:abc123/*", GET_PETS)
    assert not resource_matches("arn:aws:execute-api:us-*1:abc123/*", GET_PETS)


# --------------------------------------------------------------------------- evaluation


def test_allow_must_cover_the_arn():
    document = policy("u", "Allow", [GET_PETS])["policyDocument"]
    assert evaluate_policy(document, GET_PETS) == "Allow"
    assert evaluate_policy(document, POST_PETS) == "ImplicitDeny"


def test_explicit_deny_wins_whatever_the_order():
    allow_all = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{BASE}/*"}
    deny_post = {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [POST_PETS]}
    for statements in ([allow_all, deny_post], [deny_post, allow_all]):
        document = {"Version": "2012-10-17", "Statement": statements}
        assert evaluate_policy(document, POST_PETS) == "Deny"
        assert evaluate_policy(document, GET_PETS) == "Allow"


def test_statements_for_other_actions_are_ignored_and_action_wildcards_apply():
    other = {
        "Version": "2012-10-17",
        "Statement": [{"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"}],
    }
    assert evaluate_policy(other, GET_PETS) == "ImplicitDeny"
    star = {
        "Version": "2012-10-17",
        "Statement": {"Action": ["execute-api:*"], "Effect": "Allow", "Resource": "*"},
    }
    assert evaluate_policy(star, GET_PETS) == "Allow"


def test_powertools_response_is_accepted_and_evaluated():
    response = APIGatewayAuthorizerResponse.from_route_arn(GET_PETS, "alice", {"tier": "gold"})
    response.allow_route("GET", "/pets/*")
    response.deny_route("GET", "/pets/13")
    result = validate_policy_response(response)  # an object with asdict() is fine
    assert result.principal_id == "alice" and result.context == {"tier": "gold"}
    assert result.effect(GET_PET) == "Allow"
    assert result.effect(f"{BASE}/GET/pets/13") == "Deny"
    assert result.effect(GET_PETS) == "ImplicitDeny"


# --------------------------------------------------------------------------- validation


def _good(**overrides):
    response = policy("user-1", "Allow", GET_PETS, {"s": "x", "n": 1, "f": 1.5, "b": True})
    response.update(overrides)
    return response


def test_a_valid_response_passes():
    result = validate_policy_response(_good(usageIdentifierKey="key-1"))
    assert result.principal_id == "user-1"
    assert result.context == {"s": "x", "n": 1, "f": 1.5, "b": True}
    assert result.usage_identifier_key == "key-1"


@pytest.mark.parametrize(
    "response",
    [
        None,
        "Allow",
        {"policyDocument": _good()["policyDocument"]},  # no principalId
        _good(principalId=""),
        _good(principalId=42),
        _good(policyDocument=None),
        _good(
            policyDocument={
                "Version": "2008-10-17",
                "Statement": _good()["policyDocument"]["Statement"],
            }
        ),
        _good(policyDocument={"Version": "2012-10-17", "Statement": []}),
        _good(policyDocument={"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}),
        _good(
            policyDocument={
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Maybe", "Action": "execute-api:Invoke", "Resource": "*"}],
            }
        ),
        _good(
            policyDocument={
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [1]}],
            }
        ),
        _good(context={"groups": ["admin"]}),
        _good(context={"claims": {"sub": "x"}}),
        _good(context={"none": None}),
        _good(context="not-an-object"),
        _good(usageIdentifierKey=5),
    ],
)
def test_malformed_responses_are_500(response):
    with pytest.raises(AuthorizerError) as info:
        validate_policy_response(response)
    assert http_status(info.value) == 500


def test_simple_responses():
    assert validate_simple_response({"isAuthorized": True}).is_authorized is True
    result = validate_simple_response(
        APIGatewayAuthorizerResponseV2(authorize=False, context={"why": "expired"})
    )
    assert result.is_authorized is False and result.context == {"why": "expired"}
    assert result.effect(GET_PETS) == "Deny"
    for bad in ({"isAuthorized": "true"}, {}, {"isAuthorized": True, "context": {"a": [1]}}):
        with pytest.raises(AuthorizerError):
            validate_simple_response(bad)


# --------------------------------------------------------------------------- running


def _allow_only_this_arn(event, context):
    """The classic pitfall: allow exactly the methodArn of the first call."""
    if event["authorizationToken"] != "good":
        raise Exception("Unauthorized")
    return policy("alice", "Allow", event["methodArn"])


def test_unauthorized_exception_is_401_and_not_cached():
    cache = AuthorizerCache(clock=FrozenClock(0))
    decision = run_authorizer(
        _allow_only_this_arn,
        token_event("bad", GET_PETS),
        arn=GET_PETS,
        cache=cache,
        cache_key="bad",
    )
    assert decision.status == 401 and isinstance(decision.error, AuthorizerUnauthorizedError)
    assert len(cache) == 0


def test_other_exceptions_and_bad_responses_are_500():
    def crashes(event, context):
        raise KeyError("authorizationToken")

    def answers_none(event, context):
        return None

    for function in (crashes, answers_none):
        decision = run_authorizer(function, token_event("t", GET_PETS), arn=GET_PETS)
        assert decision.status == 500 and isinstance(decision.error, AuthorizerError)

    def unauthorized_lowercase(event, context):
        raise Exception("unauthorized")  # only the exact message means 401

    assert run_authorizer(unauthorized_lowercase, {}, arn=GET_PETS).status == 500


def test_deny_and_uncovered_allow_are_403():
    def deny(event, context):
        return policy("alice", "Deny", "*")

    decision = run_authorizer(deny, {}, arn=GET_PETS)
    assert decision.status == 403 and isinstance(decision.error, PolicyDeniedError)
    decision = run_authorizer(_allow_only_this_arn, token_event("good", GET_PETS), arn=POST_PETS)
    assert decision.status == 403


def test_context_reaches_the_decision():
    def with_context(event, context):
        return policy("alice", "Allow", "*", {"tenant": "acme", "admin": False})

    decision = run_authorizer(with_context, {}, arn=GET_PETS)
    assert decision.allowed and decision.context == {"tenant": "acme", "admin": False}
    assert decision.result.principal_id == "alice"


def test_cache_hit_skips_the_function_until_the_ttl_expires():
    clock = FrozenClock(1_000)
    cache = AuthorizerCache(ttl=300, clock=clock)
    calls = []

    def counting(event, context):
        calls.append(event["authorizationToken"])
        return policy("alice", "Allow", f"{BASE}/*")

    def call(token="good"):
        return run_authorizer(
            counting, token_event(token, GET_PETS), arn=GET_PETS, cache=cache, cache_key=token
        )

    first, second = call(), call()
    assert (first.invoked, first.from_cache) == (True, False)
    assert (second.invoked, second.from_cache) == (False, True)
    assert calls == ["good"] and (cache.hits, cache.misses) == (1, 1)
    call("other")  # another token is another key
    assert calls == ["good", "other"]
    clock.advance(299)
    assert call().from_cache
    clock.advance(1)  # exactly the TTL: expired
    assert not call().from_cache and calls == ["good", "other", "good"]


def test_the_cached_policy_pitfall_and_its_fix():
    clock = FrozenClock(0)
    cache = AuthorizerCache(clock=clock)

    def call(function, arn):
        return run_authorizer(
            function, token_event("good", arn), arn=arn, cache=cache, cache_key="good"
        )

    assert call(_allow_only_this_arn, GET_PETS).status == 200
    pitfall = call(_allow_only_this_arn, POST_PETS)  # the cached policy names only GET /pets
    assert (pitfall.status, pitfall.from_cache, pitfall.invoked) == (403, True, False)

    def allow_the_api(event, context):
        arn = parse_method_arn(event["methodArn"])
        return policy(
            "alice",
            "Allow",
            f"arn:aws:execute-api:{arn.region}:{arn.account_id}:{arn.api_id}/{arn.stage}/*",
        )

    cache.clear()
    assert call(allow_the_api, GET_PETS).status == 200
    fixed = call(allow_the_api, POST_PETS)
    assert (fixed.status, fixed.from_cache) == (200, True)


def test_cached_deny_stays_denied_without_calling_again():
    cache = AuthorizerCache(clock=FrozenClock(0))
    calls = []

    def deny(event, context):
        calls.append(1)
        return {"isAuthorized": False}

    for _ in range(3):
        decision = run_authorizer(
            deny, {}, arn=GET_PETS, simple=True, cache=cache, cache_key=("t",)
        )
        assert decision.status == 403
    assert len(calls) == 1


def test_ttl_zero_turns_caching_off():
    cache = AuthorizerCache(ttl=0, clock=FrozenClock(0))
    calls = []

    def allow(event, context):
        calls.append(1)
        return {"isAuthorized": True}

    for _ in range(3):
        run_authorizer(allow, {}, arn=GET_PETS, simple=True, cache=cache, cache_key=("t",))
    assert len(calls) == 3 and not cache.enabled and len(cache) == 0


@pytest.mark.parametrize("ttl", [-1, 3601, 1.5, "300"])
def test_ttl_bounds(ttl):
    with pytest.raises(ConfigurationError):
        AuthorizerCache(ttl=ttl)


def test_default_ttl_is_300():
    assert AuthorizerCache().ttl == DEFAULT_TTL == 300
