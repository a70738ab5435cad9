"""A demo Cognito user pool: created, seeded from ``data/users.csv``, and located.

The lesson is the boto3 calls a learner writes (``sign_up``, ``initiate_auth``...);
this module is the machinery around them, and never those calls themselves: a pool and an app client set up the same
way every time, users and groups seeded for roles, and the two addresses a verifier
needs, which on the local moto server are *not* the same place::

    pool = create_demo_pool(aws.client("cognito-idp"), endpoint_url=aws.endpoint_url)
    pool.issuer    # https://cognito-idp.us-east-1.amazonaws.com/us-east-1_...  (the iss claim)
    pool.jwks_url  # http://127.0.0.1:<port>/us-east-1_.../.well-known/jwks.json (the keys)

On real AWS the keys live at ``<issuer>/.well-known/jwks.json`` (AWS Cognito developer
guide, "Verifying a JSON Web Token"); moto serves them from its own address instead.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import data_path
from ..errors import ConfigurationError

__all__ = [
    "AUTH_FLOWS",
    "DEMO_PASSWORD_POLICY",
    "DemoPool",
    "DemoUser",
    "create_demo_pool",
    "issuer_url",
    "jwks_url",
    "read_users",
    "admin_tokens",
    "region_of",
    "seed_users",
    "session_tokens",
]

DEMO_PASSWORD_POLICY = {
    "MinimumLength": 12,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
}
"""The demo pool's password policy (Cognito checks it on sign-up and password changes)."""

AUTH_FLOWS = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
]
"""The demo app client's sign-in flows: a browser's (password, SRP), refresh, and the admin
flow that :func:`admin_tokens` uses for setup."""


@dataclass(frozen=True)
class DemoUser:
    """One row of ``data/users.csv``: a demo user (fake; the password is for the local pool)."""

    username: str
    email: str
    given_name: str
    password: str
    groups: tuple[str, ...] = ()


@dataclass
class DemoPool:
    """A seeded pool: its ids, where its tokens say they come from, and where its keys are."""

    pool_id: str
    client_id: str
    region: str
    issuer: str
    jwks_url: str
    users: list[DemoUser] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def user(self, username: str) -> DemoUser:
        """The demo user called ``username``."""
        for user in self.users:
            if user.username == username:
                return user
        raise ConfigurationError(
            f"No demo user {username!r} in this pool.",
            hint=f"The demo users are {', '.join(u.username for u in self.users)}.",
        )


def read_users(path: str | Path | None = None) -> list[DemoUser]:
    """The demo users of ``data/users.csv`` (or ``path``); ``groups`` is ``;``-separated."""
    path = Path(path) if path is not None else data_path("users.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        DemoUser(
            username=row["username"].strip(),
            email=row["email"].strip(),
            given_name=row.get("given_name", "").strip(),
            password=row["password"],
            groups=tuple(g.strip() for g in (row.get("groups") or "").split(";") if g.strip()),
        )
        for row in rows
    ]


def region_of(pool_id: str) -> str:
    """The region a pool id names: ``us-east-1_AbC`` -> ``us-east-1``."""
    region, sep, _ = pool_id.partition("_")
    if not sep or not region:
        raise ConfigurationError(
            f"{pool_id!r} does not look like a user pool id (<region>_<id>).",
            hint="Use UserPool['Id'] from create_user_pool or list_user_pools.",
        )
    return region


def issuer_url(pool_id: str) -> str:
    """The ``iss`` of the pool's tokens: ``https://cognito-idp.<region>.amazonaws.com/<pool>``."""
    return f"https://cognito-idp.{region_of(pool_id)}.amazonaws.com/{pool_id}"


def jwks_url(pool_id: str, endpoint_url: str | None = None) -> str:
    """Where the pool's public keys are served.

    On real AWS (``endpoint_url=None``): ``<issuer>/.well-known/jwks.json``. On the
    local moto server: ``<endpoint_url>/<pool>/.well-known/jwks.json``, a different
    host from the issuer, so a verifier must be told both.
    """
    base = issuer_url(pool_id) if endpoint_url is None else f"{endpoint_url.rstrip('/')}/{pool_id}"
    return f"{base}/.well-known/jwks.json"


def seed_users(cognito: Any, pool_id: str, users: list[DemoUser]) -> list[str]:
    """Create ``users`` (confirmed, permanent passwords) and their groups; return the groups.

    Uses the admin API (``admin_create_user`` with no invitation message, then
    ``admin_set_user_password(Permanent=True)``), as an operator's seeding script would.
    """
    groups = sorted({g for user in users for g in user.groups})
    for group in groups:
        cognito.create_group(UserPoolId=pool_id, GroupName=group, Description=f"role {group}")
    for user in users:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=user.username,
            UserAttributes=[
                {"Name": "email", "Value": user.email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "given_name", "Value": user.given_name},
            ],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
        )
        for group in user.groups:
            cognito.admin_add_user_to_group(
                UserPoolId=pool_id, Username=user.username, GroupName=group
            )
    return groups


def create_demo_pool(
    cognito: Any,
    *,
    endpoint_url: str | None = None,
    name: str = "authlab-demo",
    client_name: str = "web",
    users: list[DemoUser] | None = None,
) -> DemoPool:
    """Create a pool, a public app client (no secret, ``USER_PASSWORD_AUTH`` allowed)
    and the demo users and groups of ``data/users.csv``.

    ``cognito`` is a boto3 ``cognito-idp`` client; ``endpoint_url`` is the moto server's
    address (``aws.endpoint_url``), or ``None`` on real AWS.
    """
    pool = cognito.create_user_pool(
        PoolName=name,
        Policies={"PasswordPolicy": DEMO_PASSWORD_POLICY},
        AutoVerifiedAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
    )["UserPool"]
    pool_id = pool["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=client_name,
        GenerateSecret=False,
        ExplicitAuthFlows=AUTH_FLOWS,
        ReadAttributes=["email", "email_verified", "given_name"],
    )["UserPoolClient"]
    users = read_users() if users is None else users
    groups = seed_users(cognito, pool_id, users)
    return DemoPool(
        pool_id=pool_id,
        client_id=client["ClientId"],
        region=region_of(pool_id),
        issuer=issuer_url(pool_id),
        jwks_url=jwks_url(pool_id, endpoint_url),
        users=users,
        groups=groups,
    )


def admin_tokens(
    cognito: Any, pool_id: str, client_id: str, username: str, password: str
) -> dict[str, Any]:
    """An operator's sign-in for test and demo setup: ``admin_initiate_auth`` with
    ``ADMIN_USER_PASSWORD_AUTH`` (the server-side admin API, which needs AWS credentials,
    never a browser's call); returns the ``AuthenticationResult`` (``IdToken``,
    ``AccessToken``, ``RefreshToken``, ``ExpiresIn``, ``TokenType``).

    Notebooks 05 and 08 use it to get a user's tokens without repeating notebook 04's
    exercise, which signs in the way a frontend does. A pending challenge (a temporary
    password, MFA) is reported by name instead of as a ``KeyError``.
    """
    credentials = {"USERNAME": username, "PASSWORD": password}
    answer = cognito.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters=credentials,
    )
    tokens = answer.get("AuthenticationResult")
    if tokens is None:
        raise ConfigurationError(
            f"Cognito answered the challenge {answer.get('ChallengeName')!r} instead of tokens.",
            hint="Seed users with permanent passwords (seed_users) so no challenge is pending.",
        )
    return tokens


def session_tokens(cognito: Any, pool: DemoPool, username: str) -> dict[str, Any]:
    """The tokens of the demo user ``username`` of ``pool`` (see :func:`admin_tokens`)."""
    return admin_tokens(
        cognito, pool.pool_id, pool.client_id, username, pool.user(username).password
    )
