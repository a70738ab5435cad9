"""One line of what to do next, under the traceback of a common error.

:func:`install_hints` maps common exceptions (an expired token, a refused connection to the
local AWS, an unanswered exercise...) to one line of what to do next; a failed check shows
its message alone.
"""

from __future__ import annotations

from typing import Any

from ...errors import AuthLabError
from .answers import awaiting_answer
from .checks import CheckFailed
from .saved import defining_cell

__all__ = ["hint_for", "install_hints"]

_NAME_HINTS: dict[str, str] = {
    "NotImplementedError": (
        "This exercise is not answered yet: replace `raise NotImplementedError()` "
        "in the answer cell above with your code, run it, then run this cell again."
    ),
    "NameError": (
        "A name is not defined yet: run the cells above first (Run > Run All Above Selected Cell)."
    ),
    "ExpiredSignatureError": (
        "The token's exp is in the past: get a fresh token (sign in or refresh), "
        "or in a demo move the FrozenClock back."
    ),
    "ImmatureSignatureError": "The token's nbf or iat is in the future: check the clock.",
    "InvalidSignatureError": (
        "The signature does not match: the token was changed after signing, or it is "
        "checked with another key or secret than the one it was signed with."
    ),
    "DecodeError": "This is not a well-formed JWT: three base64url parts joined by dots.",
    "InvalidAudienceError": "The token's aud is not the audience you passed: which app is it for?",
    "InvalidIssuerError": "The token's iss is not the issuer you trust.",
    "InvalidAlgorithmError": "The token's alg is not in the algorithms list you passed.",
    "EndpointConnectionError": (
        "Nothing answers at the local AWS address: run the cell with authlab.start_moto() "
        "again, or restart the kernel and run the cells from the top."
    ),
    "ConnectionRefusedError": (
        "Nothing answers at that address: is the server started? Run the cell that starts it."
    ),
    "ConnectionError": (
        "Could not connect: run the cell that starts the local server, "
        "or restart the kernel and run the cells from the top."
    ),
    "NoCredentialsError": (
        "boto3 found no credentials: make clients with authlab.client(...), "
        "which points them at the local AWS."
    ),
}

_AWS_HINTS: dict[str, str] = {
    "NotAuthorizedException": (
        "Cognito refused: wrong username or password, a signed-out user's token, "
        "or an auth flow the app client does not allow."
    ),
    "UserNotConfirmedException": "Confirm the user first (confirm_sign_up or admin_confirm_sign_up).",
    "UsernameExistsException": "That user already exists: sign in, or pick another username.",
    "UserNotFoundException": "No such user in this pool: sign up first, or check the pool id.",
    "ResourceNotFoundException": (
        "That pool, client or table does not exist here: check the id, and that you created "
        "it on this server (state is lost when the kernel restarts)."
    ),
    "InvalidPasswordException": "The password breaks the pool's password policy.",
}


def hint_for(error: BaseException) -> str | None:
    """One line of what to do next about ``error``, or ``None`` if there is no hint."""
    if isinstance(error, AuthLabError):
        return error.hint or None
    if type(error) is NameError and getattr(error, "name", None):
        first = defining_cell(str(error.name))
        if first is not None:
            return (
                f"{error.name} is defined by the cell that begins `{first}`: run it (and the "
                "cells above it) first. If it is an exercise's answer cell, answer it."
            )
        if awaiting_answer(str(error.name)):
            return (
                f"{error.name} is an exercise's answer, not answered yet: in its answer cell, "
                "replace `raise NotImplementedError()` with your answer, run it, then run this "
                "cell again."
            )
    if isinstance(error, KeyError) and error.args == ("AuthenticationResult",):
        return _challenge_hint()
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        if code in _AWS_HINTS:
            return _AWS_HINTS[code]
        if response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 500:
            operation = getattr(error, "operation_name", "this call")
            return (
                f"The local AWS (moto) failed on {operation}, most likely because it does not "
                "implement it (the line printed above says). AWS has it; the notebook shows "
                "what to use here instead."
            )
    for cls in type(error).__mro__:
        if cls.__name__ in _NAME_HINTS:
            return _NAME_HINTS[cls.__name__]
    return None


def _challenge_hint() -> str:
    """What to do about a Cognito answer without ``AuthenticationResult``: name the challenge."""
    from ...cloud.aws import last_challenge

    seen = last_challenge()
    if seen is None:
        return (
            "Cognito's answer has no AuthenticationResult: it asked a challenge instead of "
            "returning tokens (print the response's ChallengeName)."
        )
    if seen["challenge"] == "PASSWORD_VERIFIER":
        return (
            f"Cognito answered {seen['operation']} with the challenge PASSWORD_VERIFIER, not "
            "tokens: that is the SRP flow (USER_SRP_AUTH), which expects an SRP proof in "
            "RespondToAuthChallenge. A script holding the password uses a flow that sends it."
        )
    return (
        f"Cognito answered {seen['operation']} with the challenge {seen['challenge']}, not "
        "tokens: the user has a step left (a new password, MFA). Answer it with "
        "RespondToAuthChallenge, or give the user a permanent password."
    )


def install_hints(shell: Any = None) -> bool:
    """Show a hint under tracebacks of common errors in this IPython kernel.

    A failed visible check shows only its message, not a traceback. Returns False
    outside IPython (then nothing is installed).
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover
            return False
        shell = get_ipython()
    if shell is None:
        return False

    def handler(self: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
        if isinstance(value, CheckFailed):
            stb = [f"\x1b[1;31m✘ Not yet:\x1b[0m {value}"]
        else:
            stb = self.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
            hint = hint_for(value)
            if hint and not isinstance(value, AuthLabError):
                stb = [*stb, f"\x1b[1;33m💡 Hint:\x1b[0m {hint}"]
        self._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((Exception,), handler)
    return True
