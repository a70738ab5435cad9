"""Identity federation: an Entra ID-like OIDC provider trusted by a Cognito pool (moto)."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from authlab.clock import FrozenClock
from authlab.cloud.federation import (
    SOCIAL_ISSUERS,
    Federation,
    OidcProvider,
    create_oidc_provider,
    entra_claims,
    entra_issuer,
    federated_username,
)
from authlab.cloud.idp import OidcIssuer
from authlab.errors import (
    AlgorithmNotAllowedError,
    AudienceError,
    ConfigurationError,
    ExpiredTokenError,
    IssuerError,
    MalformedTokenError,
    MissingClaimError,
    SignatureError,
    TokenError,
    UnknownKeyError,
)
from authlab.tokens.jwks import KeySet
from authlab.tokens.verify import verify_token

TENANT = "8f1c7d52-0000-4000-8000-00000000c0de"
CLIENT = "6b0f2a11-aaaa-4bbb-8ccc-0123456789ab"
MAPPING = {
    "username": "sub",
    "email": "email",
    "name": "name",
    "preferred_username": "preferred_username",
    "custom:tenant_id": "tid",
    "custom:entra_oid": "oid",
}


def check_upstream(claims, provider):
    if claims["iss"] != provider.issuer:
        raise IssuerError(
            "wrong tenant", claim="iss", expected=provider.issuer, actual=claims["iss"]
        )
    if claims["aud"] != provider.client_id:
        raise AudienceError("wrong app", claim="aud", expected=provider.client_id)


def map_claims(claims, provider):
    attributes = {
        attr: str(claims[claim])
        for attr, claim in provider.attribute_mapping.items()
        if attr != "username" and claim in claims
    }
    return federated_username(
        provider.name, claims[provider.attribute_mapping["username"]]
    ), attributes


@pytest.fixture(scope="module")
def entra():
    # A frozen clock shared with the Federation under test (see ``setup``): tokens issued with the
    # real time a second after a frozen "now" would be "issued in the future" and fail at random.
    with OidcIssuer(
        entra_issuer(TENANT), audience=CLIENT, name="Entra ID", clock=FrozenClock()
    ) as idp:
        yield idp


@pytest.fixture
def setup(aws, entra):
    cognito = aws.client("cognito-idp")
    pool = cognito.create_user_pool(
        PoolName="corp",
        Schema=[
            {"Name": "tenant_id", "AttributeDataType": "String", "Mutable": True},
            {"Name": "entra_oid", "AttributeDataType": "String", "Mutable": True},
        ],
    )["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="web")["UserPoolClient"][
        "ClientId"
    ]
    provider = create_oidc_provider(
        cognito,
        pool,
        name="EntraID",
        issuer=entra_issuer(TENANT),
        client_id=CLIENT,
        attribute_mapping=MAPPING,
        jwks_uri=entra.jwks_url,
    )
    clock = entra.clock
    clock.set(time.time())  # each test starts at the real time now, whatever earlier ones did
    federation = Federation(cognito, pool_id=pool, client_id=client, provider=provider, clock=clock)
    return cognito, pool, client, provider, federation, clock, aws


def upstream(entra, **overrides):
    claims = entra_claims(
        tenant_id=TENANT,
        oid="00000000-1111-2222-3333-444444444444",
        preferred_username="ada@contoso.example",
        name="Ada Lovelace",
        email="ada@contoso.example",
        client_id=CLIENT,
    )
    claims.update(overrides)
    return entra.issue(claims, subject=claims["sub"])


def test_entra_claims_look_like_entra():
    claims = entra_claims(
        tenant_id=TENANT, oid="o1", preferred_username="u@x", name="U", client_id="app"
    )
    assert claims["iss"] == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert claims["tid"] == TENANT and claims["ver"] == "2.0" and "email" not in claims
    other_app = entra_claims(
        tenant_id=TENANT, oid="o1", preferred_username="u@x", name="U", client_id="app2"
    )
    assert claims["sub"] != other_app["sub"]  # pairwise: one sub per application
    assert federated_username("EntraID", "abc") == "EntraID_abc"


def test_the_pool_stores_the_provider_and_its_mapping(setup, entra):
    cognito, pool, _, provider, *_ = setup
    assert provider == OidcProvider.from_pool(cognito, pool, "EntraID")
    assert provider.issuer == entra_issuer(TENANT) and provider.client_id == CLIENT
    assert dict(provider.attribute_mapping) == MAPPING
    assert provider.jwks_uri == entra.jwks_url
    assert provider.details["authorize_scopes"] == "openid profile email"


def test_moto_defaults_the_mapping_to_username_sub(aws):
    cognito = aws.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="p")["UserPool"]["Id"]
    cognito.create_identity_provider(
        UserPoolId=pool,
        ProviderName="Bare",
        ProviderType="OIDC",
        ProviderDetails={"client_id": "c", "oidc_issuer": "https://idp.example"},
    )
    assert OidcProvider.from_pool(cognito, pool, "Bare").attribute_mapping == {"username": "sub"}


def test_a_provider_without_jwks_uri_is_a_configuration_error(aws):
    provider = OidcProvider("X", "https://idp.example", "c", {"username": "sub"})
    with pytest.raises(ConfigurationError):
        Federation(aws.client("cognito-idp"), pool_id="p", client_id="c", provider=provider)


def test_exchange_creates_then_links_and_issues_pool_tokens(setup, entra):
    cognito, pool, client, provider, federation, clock, aws = setup
    first = federation.exchange(
        upstream(entra), check_upstream=check_upstream, map_claims=map_claims
    )
    assert first.created and first.username.startswith("EntraID_")
    assert first.attributes["custom:tenant_id"] == TENANT
    user = cognito.admin_get_user(UserPoolId=pool, Username=first.username)
    stored = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert stored["email"] == "ada@contoso.example" and stored["custom:entra_oid"].startswith(
        "0000"
    )

    pool_keys = KeySet.from_url(f"{aws.endpoint_url}/{pool}/.well-known/jwks.json")
    id_claims = verify_token(
        first.tokens["IdToken"],
        pool_keys,
        issuer=f"https://cognito-idp.us-east-1.amazonaws.com/{pool}",
        audience=client,
        token_use="id",
    )
    assert id_claims["cognito:username"] == first.username
    assert id_claims["custom:tenant_id"] == TENANT

    again = federation.exchange(
        upstream(entra, name="Ada King"), check_upstream=check_upstream, map_claims=map_claims
    )
    assert not again.created and again.username == first.username
    user = cognito.admin_get_user(UserPoolId=pool, Username=first.username)
    assert {a["Name"]: a["Value"] for a in user["UserAttributes"]}["name"] == "Ada King"
    users = cognito.list_users(UserPoolId=pool)["Users"]
    assert [u["Username"] for u in users] == [first.username]


def test_a_refused_upstream_token_writes_nothing(setup, entra):
    cognito, pool, _, _, federation, *_ = setup
    wrong_tenant = upstream(entra, iss=entra_issuer("another-tenant"), tid="another-tenant")
    with pytest.raises(IssuerError):
        federation.exchange(wrong_tenant, check_upstream=check_upstream, map_claims=map_claims)
    wrong_app = entra.issue(
        entra_claims(tenant_id=TENANT, oid="o", preferred_username="u", name="n", client_id="x"),
        audience="another-app",
    )
    with pytest.raises(AudienceError):
        federation.exchange(wrong_app, check_upstream=check_upstream, map_claims=map_claims)
    assert cognito.list_users(UserPoolId=pool)["Users"] == []


def test_verify_signature_refuses_bad_upstream_tokens(setup, entra):
    *_, federation, clock, _ = setup
    good = upstream(entra)
    assert federation.verify_signature(good)["tid"] == TENANT
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        (jwt.encode(claims, forger, algorithm="RS256", headers={"kid": kid}), SignatureError),
        (
            jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
            AlgorithmNotAllowedError,
        ),
        (entra.issue(claims, headers={"kid": "nope"}), UnknownKeyError),
        ("not-a-jwt", MalformedTokenError),
        (entra.issue(claims, omit=("exp",)), MissingClaimError),
    ]
    for token, error in cases:
        with pytest.raises(error):
            federation.verify_signature(token)
    clock.advance(3600)  # the upstream token lives 3600 s
    with pytest.raises(ExpiredTokenError):
        federation.verify_signature(good)
    assert issubclass(ExpiredTokenError, TokenError)


def test_social_sign_in_with_google_checks_iss_and_aud_like_cognito(setup):
    """Issue 22 item 10: a provider of type Google through the same exchange; with
    check_upstream=None the strict verifier checks iss and aud, as Cognito does itself."""
    cognito, pool, client, _, _, _, _ = setup
    google_client = "1234-app.apps.googleusercontent.com"
    with OidcIssuer(SOCIAL_ISSUERS["Google"], audience=google_client) as google:
        cognito.create_identity_provider(
            UserPoolId=pool,
            ProviderName="Google",
            ProviderType="Google",
            ProviderDetails={"client_id": google_client, "jwks_uri": google.jwks_url},
            AttributeMapping={"username": "sub", "email": "email"},
        )
        provider = OidcProvider.from_pool(cognito, pool, "Google")
        assert provider.issuer == "https://accounts.google.com"
        social = Federation(cognito, pool_id=pool, client_id=client, provider=provider)
        token = google.issue({"email": "grace@gmail.example"}, subject="10987")
        result = social.exchange(token, check_upstream=None, map_claims=map_claims)
        assert result.created and result.username == "Google_10987"
        other_app = google.issue({"email": "g@x"}, audience="another.apps.googleusercontent.com")
        with pytest.raises(AudienceError):
            social.exchange(other_app, check_upstream=None, map_claims=map_claims)
        with OidcIssuer("https://accounts.google.evil", audience=google_client) as fake:
            social_fake = Federation(
                cognito,
                pool_id=pool,
                client_id=client,
                provider=OidcProvider(
                    "Google", provider.issuer, google_client, {"username": "sub"}, fake.jwks_url
                ),
            )
            with pytest.raises(IssuerError):
                social_fake.exchange(fake.issue(), check_upstream=None, map_claims=map_claims)
    cognito.create_identity_provider(
        UserPoolId=pool,
        ProviderName="Facebook",
        ProviderType="Facebook",
        ProviderDetails={"client_id": "fb", "client_secret": "s", "authorize_scopes": "email"},
    )
    with pytest.raises(ConfigurationError, match="OAuth 2.0 only"):
        OidcProvider.from_pool(cognito, pool, "Facebook")
