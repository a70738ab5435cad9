"""authlab.cloud.refresh: the token service with chosen lifetimes, and a day of traffic in simulated time."""

from __future__ import annotations

import jwt
import pytest

from authlab.clock import FrozenClock
from authlab.cloud.idp import OidcIssuer
from authlab.cloud.refresh import TokenService, run_traffic
from authlab.errors import ConfigurationError, TokenError

T0 = 1_764_000_000


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def service(clock):
    issuer = OidcIssuer("https://issuer.example", clock=clock)  # never started: no HTTP needed
    return TokenService(issuer, access_lifetime=900)


def _claims(service, token):
    key = service.issuer.private_key().public_key()
    return jwt.decode(token, key, algorithms=["RS256"], options={"verify_exp": False})


class ReferenceClient:
    """A background-refreshing client, as the notebook's exercise asks (margin before exp)."""

    def __init__(self, service, username, clock, margin=60):
        self.service, self.clock, self.margin = service, clock, margin
        self.tokens = service.sign_in(username)

    def next_wakeup(self):
        return None if self.tokens is None else self.tokens.expires_at - self.margin

    def wake(self):
        try:
            self.tokens = self.service.refresh(self.tokens.refresh_token)
        except TokenError:
            self.tokens = None

    def access_token(self):
        return None if self.tokens is None else self.tokens.access_token


def _api(service, clock):
    """A stateless API: signature, then exp against the simulated clock."""
    key = service.issuer.private_key().public_key()

    def call(token):
        if token is None:
            return 401
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
            )
        except jwt.InvalidTokenError:
            return 401
        return 200 if claims["exp"] > clock.now() else 401

    return call


def test_sign_in_issues_cognito_shaped_access_tokens_with_the_chosen_lifetime(service):
    tokens = service.sign_in("alice")
    claims = _claims(service, tokens.access_token)
    assert tokens.lifetime == 900 == claims["exp"] - claims["iat"]
    assert claims["token_use"] == "access" and claims["client_id"] == "demo-app-client"
    assert claims["username"] == "alice" and "aud" not in claims
    assert claims["jti"] == tokens.jti and tokens.issued_at == T0
    assert tokens.refresh_token and service.issued == [tokens]


def test_refresh_keeps_the_refresh_token_and_moves_the_clock_forward(service, clock):
    first = service.sign_in("alice")
    clock.advance(minutes=14)
    second = service.refresh(first.refresh_token)
    assert second.refresh_token == first.refresh_token
    assert second.issued_at == T0 + 840 and second.jti != first.jti
    assert service.counts["refresh"] == 1


def test_revoke_global_sign_out_and_expiry_refuse_refreshes(service, clock):
    a, b = service.sign_in("alice"), service.sign_in("alice")
    carol = service.sign_in("carol")
    service.revoke(a.refresh_token)
    with pytest.raises(TokenError):
        service.refresh(a.refresh_token)
    service.refresh(b.refresh_token)  # the other session is untouched
    assert service.global_sign_out("alice") == 1
    with pytest.raises(TokenError):
        service.refresh(b.refresh_token)
    with pytest.raises(TokenError):
        service.refresh("never-issued")
    clock.advance(days=31)
    with pytest.raises(TokenError):
        service.refresh(carol.refresh_token)
    assert service.counts["refresh_refused"] == 4


def test_lifetimes_must_be_positive(service):
    with pytest.raises(ConfigurationError):
        TokenService(service.issuer, access_lifetime=0)


def test_a_day_of_traffic_with_background_refresh_never_fails(service, clock):
    client = ReferenceClient(service, "alice", clock)
    timeline = run_traffic(client, _api(service, clock), clock, duration=86400, every=60)
    assert len(timeline.calls) == 1441 and timeline.failures() == []
    assert len(timeline.wakeups) == service.counts["refresh"] == 86400 // 840
    assert clock.now() == T0 + 86400


def test_without_refresh_calls_fail_after_the_first_token_expires(service, clock):
    class NoRefresh(ReferenceClient):
        def next_wakeup(self):
            return None

    timeline = run_traffic(
        NoRefresh(service, "bob", clock), _api(service, clock), clock, duration=3600, every=60
    )
    assert timeline.statuses() == {200: 15, 401: 46}


def test_after_sign_out_the_client_is_signed_out_at_its_next_refresh(service, clock):
    client = ReferenceClient(service, "alice", clock)
    run_traffic(client, _api(service, clock), clock, duration=600, every=60)
    service.global_sign_out("alice")
    timeline = run_traffic(client, _api(service, clock), clock, duration=1800, every=60)
    assert timeline.statuses()[401] > 0 and client.tokens is None


def test_a_client_that_never_moves_its_wakeup_is_reported(service, clock):
    class Stuck(ReferenceClient):
        def next_wakeup(self):
            return T0

        def wake(self):
            pass

    with pytest.raises(ConfigurationError):
        run_traffic(Stuck(service, "x", clock), lambda token: 200, clock, duration=60, every=10)
    with pytest.raises(ConfigurationError):
        run_traffic(Stuck(service, "x", clock), lambda token: 200, clock, duration=60, every=0)


def test_timeline_plot_draws_without_error(service, clock):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    client = ReferenceClient(service, "alice", clock)
    timeline = run_traffic(client, _api(service, clock), clock, duration=7200, every=300)
    fig, ax = plt.subplots()
    timeline.plot(ax, service.issued)
    assert ax.get_xlabel() == "hours"
    plt.close(fig)


@pytest.fixture
def rotating(clock):
    issuer = OidcIssuer("https://issuer.example", clock=clock)
    return TokenService(issuer, access_lifetime=900, rotation=True, grace_period=30)


def test_rotation_returns_a_new_refresh_token_and_refuses_refresh_token_auth(rotating, clock):
    first = rotating.sign_in("alice")
    with pytest.raises(TokenError, match="GetTokensFromRefreshToken|REFRESH_TOKEN_AUTH"):
        rotating.refresh(first.refresh_token)
    second = rotating.get_tokens_from_refresh_token(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert _claims(rotating, second.access_token)["username"] == "alice"
    assert rotating.counts["rotate"] == 1


def test_a_retry_inside_the_grace_period_works_and_reuse_after_it_revokes_the_family(
    rotating, clock
):
    first = rotating.sign_in("alice")
    other_session = rotating.sign_in("alice")  # another device: another family
    second = rotating.get_tokens_from_refresh_token(first.refresh_token)
    clock.advance(seconds=20)  # a client retry within the 30 s grace period
    retried = rotating.get_tokens_from_refresh_token(first.refresh_token)
    assert retried.refresh_token not in (first.refresh_token, second.refresh_token)
    clock.advance(seconds=20)  # 40 s after the rotation: past the grace period
    with pytest.raises(TokenError, match="family"):
        rotating.get_tokens_from_refresh_token(first.refresh_token)
    assert rotating.counts["reuse_detected"] == 1
    for token in (second.refresh_token, retried.refresh_token):  # the whole family is revoked
        with pytest.raises(TokenError, match="revoked"):
            rotating.get_tokens_from_refresh_token(token)
    assert rotating.get_tokens_from_refresh_token(other_session.refresh_token).access_token


def test_grace_period_zero_invalidates_at_once_and_limits_are_checked(clock):
    issuer = OidcIssuer("https://issuer.example", clock=clock)
    service = TokenService(issuer, rotation=True, grace_period=0)
    first = service.sign_in("bob")
    service.get_tokens_from_refresh_token(first.refresh_token)
    clock.advance(seconds=1)
    with pytest.raises(TokenError):
        service.get_tokens_from_refresh_token(first.refresh_token)
    for bad in (-1, 61):
        with pytest.raises(ConfigurationError, match="0 to 60"):
            TokenService(issuer, rotation=True, grace_period=bad)


def test_without_rotation_get_tokens_keeps_the_refresh_token(service):
    first = service.sign_in("carol")
    again = service.get_tokens_from_refresh_token(first.refresh_token)
    assert again.refresh_token == first.refresh_token


def test_revoke_stops_the_rotated_family(rotating):
    first = rotating.sign_in("dave")
    second = rotating.get_tokens_from_refresh_token(first.refresh_token)
    rotating.revoke(first.refresh_token)
    with pytest.raises(TokenError, match="revoked"):
        rotating.get_tokens_from_refresh_token(second.refresh_token)
