"""Token lifetimes in simulated time: short access tokens, refresh tokens, a day in a second.

moto's Cognito always issues one-hour tokens, its refresh tokens never expire and are never
rotated, and it has no ``GetTokensFromRefreshToken``; so the lifetimes notebook 08 needs come
from :class:`TokenService`: Cognito's token endpoint in miniature, signing RS256 tokens with
an :class:`~authlab.cloud.idp.OidcIssuer`, with the access-token and refresh-token lifetimes
you choose, revocation of one refresh token, global sign-out, and refresh-token rotation.

Rotation (an app client's ``RefreshTokenRotation``, Amazon Cognito API reference,
"RefreshTokenRotationType"): each refresh through :meth:`TokenService.get_tokens_from_refresh_token`
returns a new refresh token, and the one handed in stays usable only for a retry grace
period of 0 to 60 seconds; ``REFRESH_TOKEN_AUTH`` (:meth:`TokenService.refresh`) does not
serve a rotating client. Reuse detection follows RFC 9700 (OAuth 2.0 Security Best Current
Practice, section 4.14.2): a rotated-out refresh token presented after its grace period means
two parties hold the family, so every refresh token of that family is revoked.

:func:`run_traffic` drives a client through simulated time with a
:class:`~authlab.clock.FrozenClock`: the client's background wake-ups (to refresh) and
one API call every ``every`` seconds, in time order, so a day of traffic runs in well
under a second. A client is any object with three methods::

    next_wakeup() -> float | None   # when it wants to run in the background next
    wake() -> None                  # run then (e.g. refresh the tokens)
    access_token() -> str | None    # the token to send now (None: signed out)
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..clock import Clock
from ..errors import ConfigurationError, TokenError
from .idp import OidcIssuer

__all__ = ["Client", "Timeline", "TokenService", "TokenSet", "run_traffic"]


@dataclass(frozen=True)
class TokenSet:
    """What a sign-in or a refresh returns: an access token, its times, and a refresh token."""

    access_token: str
    refresh_token: str | None
    issued_at: float
    expires_at: float
    jti: str = ""

    @property
    def lifetime(self) -> float:
        """Seconds from ``issued_at`` to ``expires_at``."""
        return self.expires_at - self.issued_at


@dataclass
class _Grant:
    username: str
    expires_at: float
    family: str = ""
    revoked: bool = False
    rotated_at: float | None = None
    """When a rotation replaced this refresh token (``None``: still the family's current one)."""


class TokenService:
    """A token endpoint with controllable lifetimes (the course's own issuer).

    ``access_lifetime`` defaults to 15 minutes, ``refresh_lifetime`` to 30 days
    (Cognito's default; its app clients allow 60 minutes to 10 years). Refresh tokens
    are opaque random strings kept here, as Cognito keeps its own; a refresh returns a
    new access token and keeps the same refresh token (Cognito's behaviour without
    refresh-token rotation).

    ``rotation=True`` is an app client with refresh-token rotation enabled: refresh with
    :meth:`get_tokens_from_refresh_token`, which returns a new refresh token each time; the
    old one stays valid for ``grace_period`` seconds (0 to 60, Cognito's
    ``RetryGracePeriodSeconds``), then presenting it revokes its whole family.
    """

    def __init__(
        self,
        issuer: OidcIssuer,
        *,
        client_id: str = "demo-app-client",
        access_lifetime: float = 15 * 60,
        refresh_lifetime: float = 30 * 86400,
        clock: Clock | None = None,
        rotation: bool = False,
        grace_period: float = 0,
    ) -> None:
        if access_lifetime <= 0 or refresh_lifetime <= 0:
            raise ConfigurationError("Token lifetimes must be positive numbers of seconds.")
        if not 0 <= grace_period <= 60:
            raise ConfigurationError(
                f"The retry grace period must be 0 to 60 seconds, not {grace_period!r}.",
                hint="Cognito's RetryGracePeriodSeconds accepts 0..60.",
            )
        self.rotation = rotation
        self.grace_period = grace_period
        self.issuer = issuer
        self.client_id = client_id
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.clock = clock or issuer.clock
        self.issued: list[TokenSet] = []
        """Every access token issued, in order (for timelines)."""
        self.counts: Counter[str] = Counter()
        """``sign_in``, ``refresh``, ``refresh_refused``, ``revoke``, ``global_sign_out``,
        ``rotate``, ``reuse_detected``."""
        self._grants: dict[str, _Grant] = {}

    def _access(self, username: str, refresh_token: str | None) -> TokenSet:
        now = int(self.clock.now())
        jti = secrets.token_hex(8)
        token = self.issuer.issue(
            {
                "client_id": self.client_id,
                "token_use": "access",
                "username": username,
                "scope": "aws.cognito.signin.user.admin",
                "jti": jti,
            },
            subject=f"sub-{username}",
            audience=None,
            issued_at=now,
            lifetime=self.access_lifetime,
        )
        tokens = TokenSet(token, refresh_token, now, now + int(self.access_lifetime), jti)
        self.issued.append(tokens)
        return tokens

    def sign_in(self, username: str) -> TokenSet:
        """Sign ``username`` in (the password check is notebook 04's business)."""
        self.counts["sign_in"] += 1
        refresh_token = secrets.token_urlsafe(24)
        self._grants[refresh_token] = _Grant(
            username, self.clock.now() + self.refresh_lifetime, family=secrets.token_hex(6)
        )
        return self._access(username, refresh_token)

    def _usable(self, refresh_token: str) -> _Grant:
        """The grant of a refresh token that may be used now; :class:`TokenError` otherwise."""
        grant = self._grants.get(refresh_token)
        if grant is None or grant.revoked or self.clock.now() >= grant.expires_at:
            self.counts["refresh_refused"] += 1
            why = "unknown" if grant is None else "revoked" if grant.revoked else "expired"
            raise TokenError(
                f"Refresh token {why}: Cognito answers NotAuthorizedException.",
                hint="Sign in again; a revoked or expired refresh token cannot be used.",
            )
        return grant

    def refresh(self, refresh_token: str) -> TokenSet:
        """``REFRESH_TOKEN_AUTH``: a new access token, same refresh token; :class:`TokenError`
        for an unknown, revoked or expired refresh token, or when the client rotates."""
        grant = self._usable(refresh_token)
        if self.rotation:
            self.counts["refresh_refused"] += 1
            raise TokenError(
                "This app client rotates refresh tokens: REFRESH_TOKEN_AUTH does not serve it.",
                hint="Refresh with GetTokensFromRefreshToken (get_tokens_from_refresh_token).",
            )
        self.counts["refresh"] += 1
        return self._access(grant.username, refresh_token)

    def get_tokens_from_refresh_token(self, refresh_token: str) -> TokenSet:
        """Cognito's ``GetTokensFromRefreshToken``: new tokens, and with rotation a new refresh
        token; the one handed in then works only for the grace period. Presenting a
        rotated-out refresh token after its grace period revokes its whole family (RFC 9700
        reuse detection) and raises :class:`TokenError`."""
        grant = self._usable(refresh_token)
        now = self.clock.now()
        if not self.rotation:
            self.counts["refresh"] += 1
            return self._access(grant.username, refresh_token)
        if grant.rotated_at is not None and now > grant.rotated_at + self.grace_period:
            revoked = self._revoke_family(grant.family)
            self.counts["reuse_detected"] += 1
            self.counts["refresh_refused"] += 1
            raise TokenError(
                f"Reuse of a rotated-out refresh token: its family ({revoked} refresh tokens) "
                "is revoked.",
                hint="Two parties held this session's refresh token; everyone signs in again.",
            )
        self.counts["rotate"] += 1
        if grant.rotated_at is None:
            grant.rotated_at = now
        new_token = secrets.token_urlsafe(24)
        self._grants[new_token] = _Grant(grant.username, grant.expires_at, family=grant.family)
        return self._access(grant.username, new_token)

    def _revoke_family(self, family: str) -> int:
        grants = [g for g in self._grants.values() if g.family == family and not g.revoked]
        for grant in grants:
            grant.revoked = True
        return len(grants)

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (Cognito's RevokeToken) and the refresh tokens rotated from
        it or into it (its family); other sessions keep theirs."""
        self.counts["revoke"] += 1
        if refresh_token in self._grants:
            self._revoke_family(self._grants[refresh_token].family)

    def global_sign_out(self, username: str) -> int:
        """Revoke every refresh token of ``username``; returns how many."""
        self.counts["global_sign_out"] += 1
        grants = [g for g in self._grants.values() if g.username == username and not g.revoked]
        for grant in grants:
            grant.revoked = True
        return len(grants)


class Client(Protocol):
    """What :func:`run_traffic` drives."""

    def next_wakeup(self) -> float | None: ...
    def wake(self) -> None: ...
    def access_token(self) -> str | None: ...


@dataclass
class Timeline:
    """What happened during :func:`run_traffic`: each call's time and status, each wake-up."""

    start: float
    end: float
    calls: list[tuple[float, int]] = field(default_factory=list)
    wakeups: list[float] = field(default_factory=list)

    def statuses(self) -> Counter[int]:
        """How many calls got each status."""
        return Counter(status for _, status in self.calls)

    def failures(self) -> list[tuple[float, int]]:
        """The calls that did not get 2xx."""
        return [(t, s) for t, s in self.calls if not 200 <= s < 300]

    def plot(self, ax: Any, issued: list[TokenSet] | None = None, *, unit: float = 3600) -> Any:
        """Draw the token lifetimes (bars), the wake-ups and the calls (by status) on ``ax``."""
        scale = lambda t: (t - self.start) / unit  # noqa: E731 - a local unit conversion
        for i, tokens in enumerate(issued or []):
            if tokens.expires_at < self.start or tokens.issued_at > self.end:
                continue
            ax.plot(
                [scale(tokens.issued_at), scale(tokens.expires_at)],
                [1 + (i % 2) * 0.15] * 2,
                color="tab:blue",
                linewidth=4,
                solid_capstyle="butt",
            )
        ax.scatter(
            [scale(t) for t in self.wakeups],
            [0.75] * len(self.wakeups),
            marker="|",
            color="tab:green",
            label="background refresh",
        )
        ok = [scale(t) for t, s in self.calls if 200 <= s < 300]
        bad = [scale(t) for t, s in self.calls if not 200 <= s < 300]
        ax.scatter(ok, [0.4] * len(ok), s=6, color="tab:gray", label="call: 2xx")
        ax.scatter(bad, [0.4] * len(bad), s=14, color="tab:red", marker="x", label="call: refused")
        ax.set_yticks([0.4, 0.75, 1.07], ["API calls", "wake-ups", "access tokens"])
        ax.set_ylim(0.2, 1.35)
        ax.set_xlabel("hours" if unit == 3600 else f"× {unit:g} s")
        return ax


def run_traffic(
    client: Client,
    call_api: Callable[[str | None], int],
    clock: Any,
    *,
    duration: float,
    every: float,
) -> Timeline:
    """Run ``duration`` seconds of simulated time on ``clock`` (a FrozenClock).

    One call ``call_api(client.access_token())`` every ``every`` seconds, starting now;
    in between, ``client.wake()`` whenever ``client.next_wakeup()`` is due. Returns the
    :class:`Timeline`. The clock ends at the last event, not later.
    """
    if every <= 0 or duration < 0:
        raise ConfigurationError("every must be > 0 and duration >= 0 (seconds).")
    start = clock.now()
    end = start + duration
    timeline = Timeline(start, end)
    next_call = start
    stuck = 0
    while True:
        wake_at = client.next_wakeup()
        if wake_at is not None and wake_at <= min(next_call, end):
            when = max(clock.now(), wake_at)
            stuck = stuck + 1 if when == clock.now() else 0
            if stuck > 3:
                raise ConfigurationError(
                    "The client's next_wakeup() stays in the past after wake(): "
                    "wake() must move it forward (or return None).",
                )
            clock.set(when)
            timeline.wakeups.append(when)
            client.wake()
            continue
        if next_call > end:
            break
        clock.set(next_call)
        stuck = 0
        timeline.calls.append((next_call, int(call_api(client.access_token()))))
        next_call += every
    return timeline
