"""The demo Cognito pool on the moto server: seeding, sign-in, issuer vs key URL."""

from __future__ import annotations

import jwt
import pytest
import requests

from authlab.cloud.cognito import (
    DemoUser,
    admin_tokens,
    create_demo_pool,
    issuer_url,
    jwks_url,
    read_users,
    region_of,
    session_tokens,
)
from authlab.errors import ConfigurationError


def test_users_csv_has_roles():
    users = read_users()
    assert [u.username for u in users][:3] == ["alice", "bob", "carol"]
    assert read_users()[0].groups == ("admin", "editors")
    assert any(u.groups == () for u in users)  # a user with no role at all


def test_issuer_and_jwks_url_differ_on_moto():
    pool_id = "eu-west-1_Abc123"
    assert region_of(pool_id) == "eu-west-1"
    assert issuer_url(pool_id) == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123"
    assert jwks_url(pool_id) == issuer_url(pool_id) + "/.well-known/jwks.json"
    assert (
        jwks_url(pool_id, "http://127.0.0.1:5000/")
        == "http://127.0.0.1:5000/eu-west-1_Abc123/.well-known/jwks.json"
    )
    with pytest.raises(ConfigurationError):
        region_of("not-a-pool-id")


def test_demo_pool_is_seeded_and_users_sign_in(aws):
    cognito = aws.client("cognito-idp")
    pool = create_demo_pool(cognito, endpoint_url=aws.endpoint_url)
    assert pool.issuer == issuer_url(pool.pool_id) and pool.region == "us-east-1"
    assert pool.groups == ["admin", "editors", "readers"]
    names = {g["GroupName"] for g in cognito.list_groups(UserPoolId=pool.pool_id)["Groups"]}
    assert names == set(pool.groups)

    tokens = session_tokens(cognito, pool, "alice")
    assert set(tokens) >= {"IdToken", "AccessToken", "RefreshToken"}
    id_claims = jwt.decode(tokens["IdToken"], options={"verify_signature": False})
    access = jwt.decode(tokens["AccessToken"], options={"verify_signature": False})
    assert id_claims["iss"] == access["iss"] == pool.issuer
    assert id_claims["aud"] == access["client_id"] == pool.client_id
    assert (id_claims["token_use"], access["token_use"]) == ("id", "access")
    assert sorted(id_claims["cognito:groups"]) == ["admin", "editors"]
    assert id_claims["email"] == "alice@example.com"

    # the keys are on the moto server, not at the issuer's AWS address
    keys = requests.get(pool.jwks_url, timeout=5).json()["keys"]
    assert jwt.get_unverified_header(tokens["IdToken"])["kid"] in {k["kid"] for k in keys}
    assert pool.jwks_url.startswith(aws.endpoint_url)

    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        admin_tokens(cognito, pool.pool_id, pool.client_id, "alice", "wrong password")
    with pytest.raises(ConfigurationError, match="alice"):
        pool.user("mallory")


def test_custom_users_and_password_policy(aws):
    cognito = aws.client("cognito-idp")
    pool = create_demo_pool(
        cognito,
        endpoint_url=aws.endpoint_url,
        users=[DemoUser("erin", "erin@example.com", "Erin", "Another-Passw0rd!", ("ops",))],
    )
    assert pool.groups == ["ops"]
    with pytest.raises(cognito.exceptions.InvalidPasswordException):
        cognito.sign_up(ClientId=pool.client_id, Username="weak", Password="short")
    claims = jwt.decode(
        session_tokens(cognito, pool, "erin")["IdToken"],
        options={"verify_signature": False},
    )
    assert claims["cognito:groups"] == ["ops"]


def test_the_library_ships_no_frontend_sign_in(aws):
    """Notebook 04's exercise 1 (InitiateAuth with a password flow) is not in the library."""
    import inspect

    import authlab.cloud.cognito as module

    assert not hasattr(module, "sign_in")
    source = inspect.getsource(module)
    assert "initiate_auth(" not in source.replace("admin_initiate_auth(", "")
    assert '"USER_PASSWORD_AUTH"' not in source


def test_admin_tokens_names_a_pending_challenge(aws):
    cognito = aws.client("cognito-idp")
    pool = create_demo_pool(cognito, endpoint_url=aws.endpoint_url, users=[])
    cognito.admin_create_user(
        UserPoolId=pool.pool_id,
        Username="newbie",
        TemporaryPassword="Temporary-Passw0rd!",
        MessageAction="SUPPRESS",
    )
    with pytest.raises(ConfigurationError, match="NEW_PASSWORD_REQUIRED"):
        admin_tokens(cognito, pool.pool_id, pool.client_id, "newbie", "Temporary-Passw0rd!")


def test_srp_challenge_is_named_in_the_hint_not_a_bare_key_error(aws):
    """Item 16: a learner's sign-in with USER_SRP_AUTH meets a challenge; the hint names it."""
    import authlab
    from authlab.course.feedback import CheckFailed, call

    cognito = authlab.client("cognito-idp")
    pool = create_demo_pool(cognito, endpoint_url=authlab.start_moto().endpoint_url)

    def learner_sign_in(username, password):
        answer = cognito.initiate_auth(
            ClientId=pool.client_id,
            AuthFlow="USER_SRP_AUTH",
            AuthParameters={"USERNAME": username, "SRP_A": "ab" * 64},
        )
        return answer["AuthenticationResult"]

    with pytest.raises(CheckFailed) as failed:
        call(learner_sign_in, "alice", "whatever", what="sign_in(...)")
    assert "PASSWORD_VERIFIER" in failed.value.hint
    assert "USER_SRP_AUTH" in failed.value.hint
