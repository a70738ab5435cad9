"""The simulated OIDC issuer: keys, discovery and JWKS over HTTP, tokens with any claims."""

from __future__ import annotations

import jwt
import pytest
import requests

from authlab.clock import FrozenClock
from authlab.cloud.idp import FIREBASE_ISSUER_PREFIX, OidcIssuer
from authlab.cloud.localhttp import HttpResponse
from authlab.errors import ConfigurationError


@pytest.fixture(scope="module")
def idp():
    with OidcIssuer(audience="notes-api", kid="key-1") as issuer:
        yield issuer


def _verify(idp: OidcIssuer, token: str, **kwargs) -> dict:
    key = jwt.PyJWKClient(idp.jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], **kwargs)


def test_discovery_and_jwks_are_served_on_loopback(idp):
    assert idp.url.startswith("http://127.0.0.1:")
    discovery = requests.get(idp.discovery_url, timeout=5).json()
    assert discovery["issuer"] == idp.issuer == idp.url
    assert discovery["jwks_uri"] == idp.jwks_url
    keys = requests.get(discovery["jwks_uri"], timeout=5).json()["keys"]
    assert [k["kid"] for k in keys] == ["key-1"]
    assert {k["kty"] for k in keys} == {"RSA"} and "d" not in keys[0]  # public halves only
    assert requests.get(idp.url + "/nothing", timeout=5).status_code == 404


def test_issued_token_verifies_with_the_served_keys(idp):
    token = idp.issue({"scope": "notes/read"}, subject="alice")
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "key-1", "typ": "JWT"}
    claims = _verify(idp, token, audience="notes-api", issuer=idp.issuer)
    assert claims["sub"] == "alice" and claims["scope"] == "notes/read"
    assert claims["exp"] - claims["iat"] == 3600


def test_claims_audience_lifetime_headers_and_omissions_are_controllable(idp):
    token = idp.issue(
        {"role": "admin"},
        audience=None,
        lifetime=60,
        issued_at=1_700_000_000,
        headers={"kid": None, "x": 1},
        omit=("jti",),
    )
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "x": 1}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims == {
        "iss": idp.issuer,
        "sub": "user-1",
        "iat": 1_700_000_000,
        "exp": 1_700_000_060,
        "role": "admin",
    }
    raw = idp.sign({"anything": True})
    assert jwt.decode(raw, options={"verify_signature": False}) == {"anything": True}


def test_clock_stamps_iat_and_exp():
    clock = FrozenClock(1_800_000_000)
    issuer = OidcIssuer("https://issuer.example", clock=clock, lifetime=300)
    claims = jwt.decode(issuer.issue(), options={"verify_signature": False})
    assert (claims["iat"], claims["exp"], claims["iss"]) == (
        1_800_000_000,
        1_800_000_300,
        "https://issuer.example",
    )
    assert "aud" not in claims


def test_rotation_keeps_or_withdraws_old_keys():
    with OidcIssuer(kid="old") as issuer:
        old_token = issuer.issue()
        new = issuer.rotate("new")
        assert issuer.current_kid == new == "new"
        assert [k["kid"] for k in issuer.jwks()["keys"]] == ["old", "new"]
        assert _verify(issuer, old_token, options={"verify_aud": False})["iss"] == issuer.url
        issuer.withdraw("old")
        assert [k["kid"] for k in issuer.jwks()["keys"]] == ["new"]
        issuer.rotate("newer", keep_old=False)
        assert [k["kid"] for k in requests.get(issuer.jwks_url, timeout=5).json()["keys"]] == [
            "newer"
        ]
        # a withdrawn key can still sign (a stolen key), but its kid is no longer published
        forged = issuer.issue(kid="old")
        assert jwt.get_unverified_header(forged)["kid"] == "old"


def test_firebase_shaped_tokens():
    clock = FrozenClock(1_800_000_000)
    with OidcIssuer.firebase("demo-project", clock=clock) as firebase:
        token = firebase.firebase_token("uid-42", email="ada@example.com", auth_time=1_799_999_000)
        claims = _verify(
            firebase,
            token,
            audience="demo-project",
            options={"verify_exp": False, "verify_iat": False},
        )
    assert claims["iss"] == FIREBASE_ISSUER_PREFIX + "demo-project"
    assert claims["aud"] == "demo-project"
    assert claims["sub"] == claims["user_id"] == "uid-42"
    assert claims["auth_time"] == 1_799_999_000
    assert claims["firebase"] == {
        "identities": {"email": ["ada@example.com"]},
        "sign_in_provider": "password",
    }
    assert "jti" not in claims


def test_extra_routes_and_lifecycle():
    issuer = OidcIssuer()
    assert "stopped" in repr(issuer)
    issuer.add_route(
        "POST", "/token", lambda request: HttpResponse.json(200, {"got": request.body.decode()})
    )
    with issuer:
        issuer.start()  # idempotent
        answer = requests.post(issuer.url + "/token", data="code=1", timeout=5).json()
        assert answer == {"got": "code=1"}
        assert "/token" in issuer.requests
    issuer.stop()
    with pytest.raises(ConfigurationError, match="not running"):
        _ = issuer.url


def test_only_rsa_algorithms():
    with pytest.raises(ConfigurationError, match="RSA"):
        OidcIssuer(algorithm="HS256")
