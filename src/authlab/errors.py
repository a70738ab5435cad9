"""The course's one exception tree.

Every error the library raises is an :class:`AuthLabError`. Token problems are
:class:`TokenError` (an API gateway answers 401), permission problems are
:class:`AccessDeniedError` (403). Each class has a stable ``code``: tests and grade
cells assert on the class or the code, never on the message text, which is written
for a learner and says what to do next. Messages never contain a whole token or a
secret.

The HTTP status a gateway answers is decided in one place: :func:`http_status`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDeniedError",
    "AlgorithmNotAllowedError",
    "AudienceError",
    "AuthLabError",
    "AuthorizerError",
    "AuthorizerUnauthorizedError",
    "AwsUnavailableError",
    "ClaimError",
    "ClientIdError",
    "ConfigurationError",
    "ExpiredTokenError",
    "GroupError",
    "ImmatureTokenError",
    "IssuedInFutureError",
    "IssuerError",
    "IssuerUrlError",
    "KeySetError",
    "MalformedTokenError",
    "MissingClaimError",
    "PolicyDeniedError",
    "ScopeError",
    "SignatureError",
    "TokenError",
    "TokenUseError",
    "UnknownKeyError",
    "http_status",
]


class AuthLabError(Exception):
    """Root of every error raised by :mod:`authlab`.

    ``code`` is a stable machine-readable name; ``hint`` is one line telling a
    learner what to try next (it is appended to the message).
    """

    code: str = "authlab_error"
    status: int = 500
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = self.default_hint if hint is None else hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} Hint: {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``code``, ``message`` and ``hint``."""
        return {"code": self.code, "message": self.message, "hint": self.hint}


class ConfigurationError(AuthLabError):
    """The library was set up wrongly (a missing setting, an unknown option)."""

    code = "configuration"
    default_hint = "Check the arguments or environment variables named in the message."


class IssuerUrlError(ConfigurationError):
    """An issuer or JWKS URL the local gateway refuses (a ``user@host`` in it, or not a URL):
    reloading the API raises it; a request that needs the issuer's keys gets a 401."""

    code = "issuer_url"
    status = 401
    default_hint = (
        "Write the issuer as http://127.0.0.1:<port>/<path> (no user@ before the host), or "
        "pass jwks_urls={issuer: jwks_url} to the Gateway."
    )


class AwsUnavailableError(AuthLabError):
    """The local AWS stand-in (the moto server) could not be started or reached."""

    code = "aws_unavailable"
    default_hint = (
        "Run the cell that starts the moto server (authlab.start_moto()) again; "
        "if it keeps failing, restart the kernel."
    )


class KeySetError(AuthLabError):
    """A JSON Web Key Set could not be fetched or read."""

    code = "jwks_unavailable"
    default_hint = "Check the JWKS URL or file, and that the server behind it is running."


class AuthorizerError(AuthLabError):
    """A Lambda authorizer crashed or returned a malformed response: the gateway answers 500."""

    code = "authorizer_error"
    default_hint = (
        "Return principalId and a policyDocument (Version 2012-10-17, execute-api:Invoke), "
        "or {'isAuthorized': bool} for simple responses; context values must be strings, "
        "numbers or booleans. Raise Exception('Unauthorized') for a 401."
    )


# --------------------------------------------------------------------------- 401


class TokenError(AuthLabError):
    """The token cannot be trusted: an API gateway answers 401 Unauthorized."""

    code = "invalid_token"
    status = 401


class AuthorizerUnauthorizedError(TokenError):
    """A Lambda authorizer raised ``Exception("Unauthorized")``, or an identity source is missing."""

    code = "authorizer_unauthorized"
    default_hint = "Send the credential the authorizer expects (see the route's identity source)."


class MalformedTokenError(TokenError):
    """Not a JWT at all: wrong number of segments, bad base64url, not a JSON object."""

    code = "malformed"
    default_hint = "A JWT is three base64url parts joined by dots: header.payload.signature."


class SignatureError(TokenError):
    """The signature does not match the header and payload for the trusted key."""

    code = "bad_signature"
    default_hint = (
        "The token was changed after signing, or signed with another key. Never trust its claims."
    )


class AlgorithmNotAllowedError(TokenError):
    """The header's ``alg`` is not one the key is allowed to verify (``none``, HS/RS confusion)."""

    code = "alg_not_allowed"
    default_hint = "Bind each key to the algorithms it may verify; never read them from the token."


class UnknownKeyError(TokenError):
    """The header's ``kid`` is missing or names no key in the trusted key set."""

    code = "unknown_kid"
    default_hint = "Look the kid up only in the issuer's key set; refetch it once if keys rotated."


class ClaimError(TokenError):
    """A claim has the wrong value. ``claim``, ``expected`` and ``actual`` say which and how."""

    code = "bad_claim"

    def __init__(
        self,
        message: str,
        *,
        claim: str,
        expected: Any = None,
        actual: Any = None,
        hint: str | None = None,
    ) -> None:
        self.claim = claim
        self.expected = expected
        self.actual = actual
        super().__init__(message, hint=hint)

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`AuthLabError.to_dict`, plus ``claim``, ``expected`` and ``actual``."""
        data = super().to_dict()
        data.update(claim=self.claim, expected=self.expected, actual=self.actual)
        return data


class MissingClaimError(ClaimError):
    """A required claim is absent (``exp``, ``iss``, ``token_use``...)."""

    code = "missing_claim"
    default_hint = "The verifier requires this claim; a token without it is refused."


class ExpiredTokenError(ClaimError):
    """``exp`` is in the past (beyond the leeway)."""

    code = "expired"
    default_hint = "Get a fresh token (sign in again, or use the refresh token)."


class ImmatureTokenError(ClaimError):
    """``nbf`` is in the future (beyond the leeway): not valid yet."""

    code = "not_yet_valid"
    default_hint = "Wait until nbf, or check the clocks; a small leeway absorbs clock skew."


class IssuedInFutureError(ClaimError):
    """``iat`` is in the future (beyond the leeway)."""

    code = "issued_in_future"
    default_hint = "A token cannot be issued in the future: check the issuer's clock or the leeway."


class IssuerError(ClaimError):
    """``iss`` is not exactly the trusted issuer."""

    code = "wrong_issuer"
    default_hint = "Compare iss with == against the one issuer you trust, never with 'in'."


class AudienceError(ClaimError):
    """``aud`` does not name this application."""

    code = "wrong_audience"
    default_hint = (
        "A token minted for another app must be refused: check aud against your client id."
    )


class TokenUseError(ClaimError):
    """Cognito's ``token_use`` is not the expected kind (``id`` vs ``access``)."""

    code = "wrong_token_use"
    default_hint = "APIs take access tokens; ID tokens describe the user to the frontend."


class ClientIdError(ClaimError):
    """An access token's ``client_id`` is not this app client."""

    code = "wrong_client_id"
    default_hint = "Cognito access tokens carry client_id instead of aud: check it."


# --------------------------------------------------------------------------- 403


class AccessDeniedError(AuthLabError):
    """The token is valid but does not allow this request: 403 Forbidden."""

    code = "forbidden"
    status = 403


class ScopeError(AccessDeniedError):
    """The token lacks every scope the route requires."""

    code = "insufficient_scope"
    default_hint = "Request a token with one of the route's scopes."


class GroupError(AccessDeniedError):
    """The user is not in a group the action requires."""

    code = "not_in_group"
    default_hint = "Add the user to the group in the user pool, then sign in again."


class PolicyDeniedError(AccessDeniedError):
    """An authorizer's IAM policy denies, or does not cover, the request's method ARN."""

    code = "policy_denied"
    default_hint = "The policy must Allow execute-api:Invoke on this method's ARN."


def http_status(error: BaseException) -> int:
    """The HTTP status an API gateway answers for ``error``.

    401 for a :class:`TokenError`, 403 for an :class:`AccessDeniedError`, 500 for
    anything else: a broken authorizer is a server error, never a pass.
    """
    if isinstance(error, AuthLabError):
        return error.status
    return 500
