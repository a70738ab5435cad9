"""The authorization-code flow with PKCE on the local identity provider (RFC 7636, RFC 9700)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from authlab.clock import FrozenClock
from authlab.cloud.authcode import AuthorizationServer, OAuthError, pkce_pair, s256_challenge
from authlab.cloud.idp import OidcIssuer
from authlab.errors import ConfigurationError

APP = "spa-client"
BACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def clock():
    return FrozenClock(1_800_000_000)


@pytest.fixture
def server(clock):
    with OidcIssuer(clock=clock, name="local IdP") as idp:
        server = AuthorizationServer(idp)
        server.register_client(APP, [BACK])
        server.register_client("backend", ["http://127.0.0.1:9/bff"], secret="s3cret")
        yield server


def code_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]


def test_s256_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    verifier, challenge = pkce_pair()
    assert len(verifier) == 43 and challenge == s256_challenge(verifier) != verifier


def test_the_code_with_its_verifier_gives_tokens_once(server):
    verifier, challenge = pkce_pair()
    location = server.authorize(
        client_id=APP,
        redirect_uri=BACK,
        subject="ada",
        code_challenge=challenge,
        code_challenge_method="S256",
        state="xyz",
        claims={"email": "ada@example.com"},
    )
    assert location.startswith(BACK + "?") and parse_qs(urlsplit(location).query)["state"] == [
        "xyz"
    ]
    code = code_of(location)
    tokens = server.redeem(code=code, client_id=APP, redirect_uri=BACK, code_verifier=verifier)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["aud"], claims["email"]) == ("ada", APP, "ada@example.com")
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access["client_id"] == APP and "aud" not in access
    with pytest.raises(OAuthError, match="already redeemed") as replay:
        server.redeem(code=code, client_id=APP, redirect_uri=BACK, code_verifier=verifier)
    assert replay.value.error == "invalid_grant"
    assert {claims["jti"], access["jti"]} <= server.revoked


@pytest.mark.parametrize(
    "verifier, reason",
    [(None, "missing"), ("x" * 43, "does not match"), ("short", "43-128")],
)
def test_a_stolen_code_without_its_verifier_is_refused(server, verifier, reason):
    real_verifier, challenge = pkce_pair()
    code = code_of(
        server.authorize(
            client_id=APP, redirect_uri=BACK, subject="ada", code_challenge=challenge,
            code_challenge_method="S256",
        )
    )  # fmt: skip
    with pytest.raises(OAuthError, match=reason) as refused:
        server.redeem(code=code, client_id=APP, redirect_uri=BACK, code_verifier=verifier)
    assert refused.value.error == "invalid_grant"
    with pytest.raises(OAuthError, match="already tried once"):  # one try: the app must start over
        server.redeem(code=code, client_id=APP, redirect_uri=BACK, code_verifier=real_verifier)


def test_plain_and_missing_challenges_are_refused_for_a_public_client(server):
    verifier, _ = pkce_pair()
    with pytest.raises(OAuthError, match="'plain' is not accepted"):
        server.authorize(
            client_id=APP, redirect_uri=BACK, subject="ada", code_challenge=verifier,
            code_challenge_method="plain",
        )  # fmt: skip
    with pytest.raises(OAuthError, match="'plain'"):  # no method means plain (RFC 7636 §4.3)
        server.authorize(client_id=APP, redirect_uri=BACK, subject="ada", code_challenge=verifier)
    with pytest.raises(OAuthError, match="public client must send a code_challenge"):
        server.authorize(client_id=APP, redirect_uri=BACK, subject="ada")
    with pytest.raises(OAuthError, match="redirect_uri"):
        server.authorize(
            client_id=APP, redirect_uri=BACK + "/x", subject="ada", code_challenge=verifier,
            code_challenge_method="S256",
        )  # fmt: skip
    with pytest.raises(ConfigurationError):
        AuthorizationServer(server.issuer, methods=("S512",))


def test_plain_only_when_allowed_and_no_downgrade(clock):
    with OidcIssuer(clock=clock) as idp:
        server = AuthorizationServer(idp, methods=("S256", "plain"))
        server.register_client("conf", ["http://127.0.0.1:9/cb"], secret="k")
        verifier, _ = pkce_pair()
        code = code_of(
            server.authorize(
                client_id="conf", redirect_uri="http://127.0.0.1:9/cb", subject="bo",
                code_challenge=verifier,
            )
        )  # fmt: skip
        args = {"client_id": "conf", "redirect_uri": "http://127.0.0.1:9/cb", "client_secret": "k"}
        assert "id_token" in server.redeem(code=code, code_verifier=verifier, **args)
        # a confidential client may skip PKCE, but a verifier for such a code is a downgrade
        code = code_of(
            server.authorize(client_id="conf", redirect_uri=args["redirect_uri"], subject="bo")
        )
        with pytest.raises(OAuthError, match="without a challenge"):
            server.redeem(code=code, code_verifier=verifier, **args)
        code = code_of(
            server.authorize(client_id="conf", redirect_uri=args["redirect_uri"], subject="bo")
        )
        with pytest.raises(OAuthError, match="client secret") as wrong:
            server.redeem(code=code, **(args | {"client_secret": "nope"}))
        assert wrong.value.error == "invalid_client"


def test_codes_expire_and_are_bound_to_client_and_redirect(server, clock):
    verifier, challenge = pkce_pair()

    def fresh() -> str:
        return code_of(
            server.authorize(
                client_id=APP, redirect_uri=BACK, subject="ada", code_challenge=challenge,
                code_challenge_method="S256",
            )
        )  # fmt: skip

    server.register_client("other", [BACK])
    with pytest.raises(OAuthError, match="another client"):
        server.redeem(code=fresh(), client_id="other", redirect_uri=BACK, code_verifier=verifier)
    code = fresh()
    clock.advance(61)
    with pytest.raises(OAuthError, match="expired"):
        server.redeem(code=code, client_id=APP, redirect_uri=BACK, code_verifier=verifier)
    with pytest.raises(OAuthError, match="Unknown authorization code"):
        server.redeem(code="nope", client_id=APP, redirect_uri=BACK, code_verifier=verifier)


def test_the_endpoints_over_http(server):
    discovery = requests.get(server.issuer.discovery_url, timeout=5).json()
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code", "client_id": APP, "redirect_uri": BACK, "login_hint": "ada",
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "s1",
    }  # fmt: skip
    answer = requests.get(
        discovery["authorization_endpoint"], params=query, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    code = code_of(answer.headers["location"])
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": APP,
        "redirect_uri": BACK,
    }
    stolen = requests.post(discovery["token_endpoint"], data=form, timeout=5)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    bad = requests.get(
        discovery["authorization_endpoint"], params=query | {"redirect_uri": "https://evil.example/"},
        allow_redirects=False, timeout=5,
    )  # fmt: skip
    assert bad.status_code == 400 and "location" not in bad.headers  # never sent to evil
    assert requests.post(discovery["token_endpoint"], data={}, timeout=5).status_code == 400
    answer = requests.get(
        discovery["authorization_endpoint"], params=query, allow_redirects=False, timeout=5
    )
    form["code"] = code_of(answer.headers["location"])
    good = requests.post(
        discovery["token_endpoint"], data=form | {"code_verifier": verifier}, timeout=5
    )
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"
    assert good.headers["cache-control"] == "no-store"
