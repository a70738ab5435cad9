"""authlab.tokens.verify: the strict verifier refuses every attack with a typed error, accepts valid tokens."""

from __future__ import annotations

import json

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authlab.clock import FrozenClock
from authlab.data import data_path
from authlab.errors import (
    AlgorithmNotAllowedError,
    AudienceError,
    ClaimError,
    ClientIdError,
    ConfigurationError,
    ExpiredTokenError,
    ImmatureTokenError,
    IssuedInFutureError,
    IssuerError,
    MalformedTokenError,
    MissingClaimError,
    SignatureError,
    TokenError,
    TokenUseError,
    UnknownKeyError,
)
from authlab.tokens.attacks import Lab, make_lab
from authlab.tokens.forge import b64url, sign
from authlab.tokens.jwks import KeySet
from authlab.tokens.verify import DEFAULT_MAX_LENGTH, Verifier, decode_unverified, verify_token

LAB: Lab = make_lab()
GALLERY = LAB.gallery()


@pytest.fixture
def lab() -> Lab:
    return LAB


# --------------------------------------------------------------------------- the gallery


@pytest.mark.parametrize("attack", GALLERY, ids=[a.name for a in GALLERY])
def test_strict_verifier_refuses_each_attack_with_its_error(lab, attack):
    with pytest.raises(TokenError) as caught:
        lab.strict_verify(attack.token)
    assert type(caught.value) is attack.expected
    assert caught.value.code == attack.expected.code


@pytest.mark.parametrize("attack", GALLERY, ids=[a.name for a in GALLERY])
def test_naive_verifier_falls_to_each_attack(lab, attack):
    outcome = lab.naive_outcome(attack)
    if attack.family in ("malformed",) or attack.name == "unknown_kid":
        assert outcome.startswith("crashed")  # a 500 where a 401 was due
    else:
        assert outcome.startswith("accepted")


def test_gallery_covers_every_family_of_the_issue(lab):
    names = {a.name for a in GALLERY}
    assert {"alg_none", "alg_None", "alg_NONE", "alg_nOnE"} <= names
    assert {
        "signature_stripped",
        "payload_tampered",
        "hs256_with_rsa_public_key",
        "jwk_header_injection",
        "jku_injection",
        "x5u_injection",
        "kid_path_traversal",
        "kid_sql_injection",
        "unknown_kid",
        "expired",
        "not_yet_valid",
        "iat_in_future",
        "missing_exp",
        "wrong_issuer",
        "issuer_superstring",
        "wrong_audience",
        "access_token_as_id_token",
        "other_pool_same_key",
        "unknown_crit",
        "weak_hs256_secret",
        "malformed_two_segments",
        "malformed_four_segments",
        "malformed_bad_base64",
        "malformed_non_object_json",
        "malformed_very_large_token",
    } <= names
    assert all(a.defence for a in GALLERY)


def test_weak_secret_is_found_by_the_small_dictionary(lab):
    from authlab.tokens.forge import crack_hs256, weak_secrets

    words = weak_secrets()
    assert 100 <= len(words) <= 400
    assert crack_hs256(lab.legacy_token(), words) == lab.legacy_secret
    assert crack_hs256(lab.legacy_token(), ["not-it"]) is None


@pytest.mark.parametrize("case", LAB.valid_cases(), ids=[c.name for c in LAB.valid_cases()])
def test_valid_tokens_are_accepted(lab, case):
    claims = lab.strict_verify(case.token, **case.overrides)
    assert claims["sub"] == "7d3f0c1e-alice"


def test_leeway_has_limits(lab):
    now = int(lab.clock.now())
    token = lab.token(lab.claims(exp=now - 61, iat=now - 3600))
    with pytest.raises(ExpiredTokenError):
        lab.strict_verify(token, leeway=60)
    assert lab.strict_verify(lab.token(lab.claims(exp=now + 1)))  # one second left
    with pytest.raises(ExpiredTokenError):
        lab.strict_verify(lab.token(lab.claims(exp=now)))  # exp is exclusive


# --------------------------------------------------------------------------- per error code


def _verify(lab: Lab, claims: dict, **overrides):
    return lab.strict_verify(lab.token(claims), **overrides)


def test_claim_errors_carry_claim_expected_actual(lab):
    now = int(lab.clock.now())
    with pytest.raises(ExpiredTokenError) as caught:
        _verify(lab, lab.claims(exp=now - 5))
    assert (caught.value.claim, caught.value.actual, caught.value.code) == (
        "exp",
        now - 5,
        "expired",
    )
    with pytest.raises(IssuerError) as caught:
        _verify(lab, lab.claims(iss="https://x"))
    assert caught.value.expected == lab.issuer and caught.value.actual == "https://x"
    assert caught.value.to_dict()["claim"] == "iss"


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"exp": "tomorrow"}, ClaimError, "bad_claim"),
        ({"exp": True}, ClaimError, "bad_claim"),
        ({"nbf": [1]}, ClaimError, "bad_claim"),
        ({"exp": "1767229200"}, ClaimError, "bad_claim"),
        ({"iss": None}, MissingClaimError, "missing_claim"),
        ({"iss": 7}, IssuerError, "wrong_issuer"),
        ({"token_use": None}, MissingClaimError, "missing_claim"),
        ({"aud": None}, MissingClaimError, "missing_claim"),
        ({"aud": []}, AudienceError, "wrong_audience"),
        ({"aud": [1, 2]}, AudienceError, "wrong_audience"),
        ({"aud": {"x": 1}}, AudienceError, "wrong_audience"),
    ],
)
def test_bad_claim_values(lab, changes, error, code):
    with pytest.raises(error) as caught:
        _verify(lab, lab.claims(**changes))
    assert type(caught.value) is error and caught.value.code == code


def test_every_token_error_code_is_reachable(lab):
    """Each TokenError subclass in the tree is raised by some token in these tests."""
    seen = {a.expected for a in GALLERY} | {ClaimError, ClientIdError}
    for cls in (
        MalformedTokenError,
        SignatureError,
        AlgorithmNotAllowedError,
        UnknownKeyError,
        MissingClaimError,
        ExpiredTokenError,
        ImmatureTokenError,
        IssuedInFutureError,
        IssuerError,
        AudienceError,
        TokenUseError,
    ):
        assert cls in seen, cls


def test_access_tokens_check_client_id(lab):
    access = lab.claims(token_use="access", aud=None, client_id=lab.audience)
    ok = dict(issuer=lab.issuer, token_use="access", client_id=lab.audience, clock=lab.clock)
    assert verify_token(lab.token(access), lab.keys, **ok)["client_id"] == lab.audience
    with pytest.raises(ClientIdError):
        verify_token(lab.token({**access, "client_id": "other"}), lab.keys, **ok)
    with pytest.raises(MissingClaimError):
        verify_token(
            lab.token({k: v for k, v in access.items() if k != "client_id"}), lab.keys, **ok
        )
    with pytest.raises(TokenUseError):  # an ID token where an access token is due
        verify_token(lab.token(), lab.keys, **ok)


def test_id_tokens_check_aud_against_client_id(lab):
    ok = dict(issuer=lab.issuer, token_use="id", client_id=lab.audience, clock=lab.clock)
    assert verify_token(lab.token(), lab.keys, **ok)["aud"] == lab.audience
    with pytest.raises(AudienceError):
        verify_token(lab.token(lab.claims(aud="other")), lab.keys, **ok)


def test_api_gateway_rule_aud_or_client_id(lab):
    gw = dict(
        issuer=lab.issuer, audience=[lab.audience], audience_or_client_id=True, clock=lab.clock
    )
    access = lab.claims(token_use="access", aud=None, client_id=lab.audience)
    assert verify_token(lab.token(), lab.keys, **gw)  # ID token: aud
    assert verify_token(lab.token(access), lab.keys, **gw)  # access token: client_id
    # aud present and wrong: client_id is NOT consulted
    with pytest.raises(AudienceError):
        verify_token(lab.token({**access, "aud": "other"}), lab.keys, **gw)
    with pytest.raises(AudienceError):
        verify_token(lab.token({**access, "client_id": "other"}), lab.keys, **gw)
    with pytest.raises(MissingClaimError):
        verify_token(lab.token(lab.claims(aud=None)), lab.keys, **gw)


def test_aud_present_but_unchecked_is_refused(lab):
    with pytest.raises(AudienceError):
        verify_token(lab.token(), lab.keys, issuer=lab.issuer, clock=lab.clock)
    no_aud = lab.claims(aud=None)
    assert verify_token(lab.token(no_aud), lab.keys, issuer=lab.issuer, clock=lab.clock)


def test_required_claims_always_include_exp(lab):
    with pytest.raises(MissingClaimError) as caught:
        _verify(lab, lab.claims(sub=None), required=("sub",))
    assert caught.value.claim == "sub"
    with pytest.raises(MissingClaimError):
        verify_token(
            lab.token(lab.claims(exp=None)),
            lab.keys,
            issuer=lab.issuer,
            audience=lab.audience,
            clock=lab.clock,
            required=(),
        )


@pytest.mark.parametrize(
    "token",
    [
        None,
        b"a.b.c",
        "",
        "...",
        "a.b.c",
        " " + LAB.token(),
        LAB.token() + "\n",
        LAB.token().replace(".", "=.", 1),
        LAB.token()[:-1] + "~",
        "é.é.é",
    ],
)
def test_malformed_inputs(lab, token):
    with pytest.raises(MalformedTokenError):
        lab.strict_verify(token)


def test_non_canonical_base64_and_duplicate_names_are_malformed(lab):
    header, payload, signature = lab.token().split(".")
    # Flip the unused low bits of the last signature character: same bytes, other text.
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(MalformedTokenError):
        lab.strict_verify(f"{header}.{payload}.{signature[:-1]}{sibling}")
    duplicate = b'{"iss":"x","iss":"y"}'
    with pytest.raises(MalformedTokenError):
        lab.strict_verify(f"{header}.{b64url(duplicate)}.{signature}")
    nan = b'{"exp":NaN}'
    with pytest.raises(MalformedTokenError):
        lab.strict_verify(f"{header}.{b64url(nan)}.{signature}")


def test_infinite_exp_is_malformed(lab):
    """1e400 parses as infinity: refused as not JSON at all, before any claim is read."""
    token = lab.token(lab.claims(exp=1))
    header, _, _ = token.split(".")
    body = json.dumps(lab.claims(exp=None)).encode()[:-1] + b',"exp":1e400}'
    forged = sign(json.loads(body), lab.issuer_key, "RS256", {"kid": lab.kid})
    with pytest.raises(MalformedTokenError):  # json.dumps writes Infinity, which is not JSON
        lab.strict_verify(forged)
    signing_input = f"{header}.{b64url(body)}".encode()
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(
        signing_input, lab.issuer_key
    )
    with pytest.raises(MalformedTokenError, match="too large to be finite"):
        lab.strict_verify(f"{signing_input.decode()}.{b64url(signature)}")


def test_max_length(lab):
    token = lab.token()
    with pytest.raises(MalformedTokenError):
        lab.strict_verify(token, max_length=len(token) - 1)
    assert len(token) < DEFAULT_MAX_LENGTH


def test_header_keys_and_urls_are_ignored(lab):
    claims = lab.strict_verify(lab.token(jwk={"kty": "oct", "k": "AA"}, x5u="https://a", x5c=["x"]))
    assert claims["role"] == "user"


def test_verifier_object_and_configuration_errors(lab):
    verifier = Verifier(lab.keys, clock=lab.clock, **lab.settings())
    assert verifier.verify(lab.token())["role"] == "user"
    bad = [
        dict(issuer=""),
        dict(issuer=lab.issuer, token_use="refresh"),
        dict(issuer=lab.issuer, leeway=-1),
        dict(issuer=lab.issuer, audience=[]),
        dict(issuer=lab.issuer, audience=["ok", 3]),
        dict(issuer=lab.issuer, audience_or_client_id=True),
        dict(issuer=lab.issuer, client_id=""),
    ]
    for kwargs in bad:
        with pytest.raises(ConfigurationError):
            Verifier(lab.keys, **kwargs)
    with pytest.raises(ConfigurationError):
        Verifier(lab.jwks, issuer=lab.issuer)  # a dict, not a KeySet


def test_decode_unverified_reads_without_checking(lab):
    header, claims = decode_unverified(lab.gallery()[0].token)
    assert header["alg"] == "none" and claims["role"] == "admin"
    with pytest.raises(MalformedTokenError):
        decode_unverified("x.y")


def test_rfc7515_a1_vector_with_an_injected_clock():
    vector = json.loads(data_path("rfc7515_a1.json").read_text())
    header, payload = vector["header_bytes"].encode(), vector["payload_bytes"].encode()
    assert b64url(header) == vector["header_b64"] and b"\r\n" in header
    assert b64url(payload) == vector["payload_b64"] and b"\r\n" in payload
    keys = KeySet.from_jwks({"keys": [{**vector["jwk"], "kid": "rfc7515-a1"}]})
    key = keys.key_for("rfc7515-a1", "HS256")
    signing_input = f"{vector['header_b64']}.{vector['payload_b64']}".encode()
    hs256 = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256)
    assert b64url(hs256.sign(signing_input, key)) == vector["signature_b64"]
    clock = FrozenClock(1300819380 - 60)
    claims = verify_token(vector["token"], keys, issuer="joe", clock=clock, kid_required=False)
    assert claims["http://example.com/is_root"] is True
    clock.advance(61)
    with pytest.raises(ExpiredTokenError):
        verify_token(vector["token"], keys, issuer="joe", clock=clock, kid_required=False)
    with pytest.raises(UnknownKeyError):  # kid is required unless asked otherwise
        verify_token(vector["token"], keys, issuer="joe", clock=FrozenClock(0))


# --------------------------------------------------------------------------- properties

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
_headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["RS256", "ES256", "HS256", "none", "NONE", "PS256", "x"])
        | _json_values,
        "kid": st.sampled_from([LAB.kid, LAB.rotated_kid, "nope", ""]) | _json_values,
        "crit": _json_values,
        "typ": _json_values,
    },
)
_claims = st.dictionaries(
    st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "token_use", "client_id", "sub"]),
    _json_values | st.integers(min_value=1_767_000_000, max_value=1_768_000_000),
    max_size=8,
)


def _segment(value) -> str:
    return b64url(json.dumps(value).encode())


def _refused(token) -> None:
    try:
        LAB.strict_verify(token)
    except TokenError:
        return
    raise AssertionError(f"accepted: {token[:80]!r}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_random_text_is_refused_with_a_typed_error(text):
    _refused(text)


@settings(max_examples=300, deadline=None)
@given(_headers, _claims, st.binary(max_size=300))
def test_random_structures_are_refused_with_a_typed_error(header, claims, signature):
    _refused(f"{_segment(header)}.{_segment(claims)}.{b64url(signature)}")


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(["replace", "delete", "insert", "swap"]),
    st.characters(codec="ascii"),
)
def test_mutated_valid_tokens_are_refused_with_a_typed_error(position, how, char):
    token = LAB.token()
    i = position % len(token)
    if how == "replace":
        mutated = token[:i] + char + token[i + 1 :]
    elif how == "delete":
        mutated = token[:i] + token[i + 1 :]
    elif how == "insert":
        mutated = token[:i] + char + token[i:]
    else:
        mutated = token[:i] + token[i + 1 : i + 2] + token[i : i + 1] + token[i + 2 :]
    if mutated == token:
        return
    _refused(mutated)


@settings(max_examples=100, deadline=None)
@given(_claims)
def test_validly_signed_random_claims_never_raise_untyped_errors(claims):
    """Signed by the real key, claims of any shape: accepted or a typed refusal."""
    token = sign(claims, LAB.issuer_key, "RS256", {"kid": LAB.kid})
    try:
        LAB.strict_verify(token)
    except TokenError:
        pass


# --------------------------------------------------------------------------- numbers and nesting
# Hand-made payloads, written as JSON text so that literals such as 1e400 reach the parser.

_RS256 = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
_HUGE = "1" + "0" * 400  # 10**400: a valid JSON integer, far past any date


def signed_text(payload: str, header: str | None = None) -> str:
    """A token the lab's issuer really signed over the JSON text ``payload``."""
    head = header or json.dumps({"alg": "RS256", "typ": "JWT", "kid": LAB.kid})
    signing_input = f"{b64url(head.encode())}.{b64url(payload.encode())}"
    return f"{signing_input}.{b64url(_RS256.sign(signing_input.encode(), LAB.issuer_key))}"


def claims_text(**raw: str) -> str:
    """The lab's valid claims as JSON text, with ``raw`` members spliced in verbatim."""
    claims = {k: v for k, v in LAB.claims().items() if k not in raw}
    body = json.dumps(claims)[1:-1]
    return "{" + body + "".join(f', "{name}": {text}' for name, text in raw.items()) + "}"


def test_the_hand_made_helpers_sign_a_valid_token():
    assert LAB.strict_verify(signed_text(claims_text()))["cognito:username"] == "alice"
    assert LAB.strict_verify(signed_text(claims_text(x="[1, 2.5]")))["x"] == [1, 2.5]


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "literal", [_HUGE, "-" + _HUGE, "1e308", "-1e308", "-1", "253402300800", '"1767225600"']
)
def test_dates_out_of_range_are_claim_errors(claim, literal):
    with pytest.raises(ClaimError) as refused:
        LAB.strict_verify(signed_text(claims_text(**{claim: literal})))
    assert refused.value.claim == claim and "year 9999" in refused.value.message
    assert len(str(refused.value.actual)) <= 60  # a 401-digit number is not echoed whole


def test_the_last_date_in_range_is_still_a_date():
    last = "253402300799"  # 9999-12-31T23:59:59Z
    assert LAB.strict_verify(signed_text(claims_text(exp=last)))["exp"] == int(last)
    with pytest.raises(ImmatureTokenError):
        LAB.strict_verify(signed_text(claims_text(nbf=last)))
    with pytest.raises(IssuedInFutureError):
        LAB.strict_verify(signed_text(claims_text(iat=last)))


@pytest.mark.parametrize(
    "literal", ["1e400", "-1e400", "1.5E+999", "[1, [2, [1e400]]]", '{"a": {"b": -9e999}}']
)
def test_non_finite_numbers_anywhere_in_the_payload_are_malformed(literal):
    with pytest.raises(MalformedTokenError, match="too large to be finite"):
        LAB.strict_verify(signed_text(claims_text(x=literal)))


def test_non_finite_numbers_in_the_header_are_malformed():
    header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": LAB.kid})[:-1] + ', "x": 1e400}'
    with pytest.raises(MalformedTokenError, match="header holds a number too large"):
        LAB.strict_verify(signed_text(claims_text(), header))
    with pytest.raises(MalformedTokenError):
        decode_unverified(signed_text(claims_text(), header))


def test_nesting_deeper_than_the_limit_is_malformed():
    from authlab.tokens.jws import MAX_DEPTH

    within = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)  # the payload is level 1
    assert LAB.strict_verify(signed_text(claims_text(x=within)))["x"]
    deeper = "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH
    with pytest.raises(MalformedTokenError, match=f"more than {MAX_DEPTH} deep"):
        LAB.strict_verify(signed_text(claims_text(x=deeper)))
    very_deep = "[" * 5000 + "]" * 5000  # past Python's own recursion limit
    with pytest.raises(MalformedTokenError):
        LAB.strict_verify(signed_text(claims_text(x=very_deep)))


_number_literals = st.one_of(
    st.integers().map(str),
    st.integers(min_value=300, max_value=100_000).map(lambda n: "9" * min(n, 4000)),
    st.integers(min_value=300, max_value=100_000).map(lambda n: f"-{'9' * min(n, 4000)}"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-2000, max_value=2000).map(lambda e: f"1e{e}"),
    st.integers(min_value=-2000, max_value=2000).map(lambda e: f"-7.5E{e:+d}"),
)
_nested_literals = st.recursive(
    _number_literals,
    lambda children: (
        st.lists(children, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
        | st.integers(0, 60).map(lambda depth: "[" * depth + "1" + "]" * depth)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["exp", "nbf", "iat", "aud", "iss", "x", "auth_time"]),
        _nested_literals,
        min_size=1,
        max_size=3,
    )
)
def test_huge_non_finite_and_nested_numbers_only_ever_give_token_errors(raw):
    token = signed_text(claims_text(**raw))
    try:
        claims = LAB.strict_verify(token)
    except TokenError:
        return
    json.dumps(claims, allow_nan=False)  # whatever is accepted prints as strict JSON


def test_time_refusals_read_as_durations_and_dates(lab):
    """A learner reads "expired 5,398 days ago, on 2011-03-22", not "expired 466348620 s ago"."""
    with pytest.raises(ExpiredTokenError, match=r"expired 61 s ago\. Hint"):
        lab.strict_verify(lab.token(lab.claims(exp=lab.clock.now() - 61)))
    with pytest.raises(ExpiredTokenError, match=r"expired 3 h ago"):
        lab.strict_verify(lab.token(lab.claims(exp=lab.clock.now() - 3 * 3600)))
    old = lab.token(lab.claims(exp=1300819380, iat=1300819000))
    with pytest.raises(ExpiredTokenError, match=r"days ago, on 2011-03-22 18:43 UTC"):
        lab.strict_verify(old)
    with pytest.raises(ImmatureTokenError, match=r"another 10 min \(nbf\)"):
        lab.strict_verify(lab.token(lab.claims(nbf=lab.clock.now() + 600)))
