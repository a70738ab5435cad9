"""Friendly checks for the notebooks' visible tests, and hints for common errors.

A visible test cell reads like this::

    check_equal(claims["role"], "user", what="the role claim", hint="Copy it from the user.")
    passed()

On failure the learner sees one line saying what was expected, what was found and what
to try, instead of a bare ``AssertionError``. :func:`passed` is honest about hidden
tests: it says the visible checks passed and that more run at grading.

A test calls the learner's function through :func:`call`, so that an exception inside it
becomes one failed check: what was called, what it raised, the line of the learner's own
cell where it happened, and the test's hint, with no library frames in sight.

:func:`install_hints` maps common exceptions (an expired token, a refused connection to
the local AWS, an unanswered exercise...) to one line of what to do next.
"""

from __future__ import annotations

import ast
import json
import linecache
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import AuthLabError

__all__ = [
    "CheckFailed",
    "call",
    "check",
    "check_equal",
    "check_raises",
    "check_written",
    "defining_cell",
    "hint_for",
    "install_hints",
    "learner_frame",
    "needs_answers",
    "passed",
]


class CheckFailed(AuthLabError, AssertionError):
    """A visible test found something to fix. The message says what and how.

    ``what`` names what was checked (``"the sub claim"``), without its value: the grader
    shows only that for a hidden check, whose expected values stay hidden.
    """

    code = "check_failed"

    def __init__(self, message: str, *, hint: str | None = None, what: str = "") -> None:
        super().__init__(message, hint=hint)
        self.what = what


def check(condition: object, message: str, *, hint: str | None = None) -> None:
    """Fail with ``message`` (and ``hint``) unless ``condition`` is true."""
    if not condition:
        raise CheckFailed(message, hint=hint or "")


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_equal(actual: Any, expected: Any, *, what: str, hint: str | None = None) -> None:
    """Fail unless ``actual == expected``, naming ``what`` was compared."""
    if actual != expected:
        raise CheckFailed(
            f"{what}: expected {_short(expected)}, got {_short(actual)}.",
            hint=hint or "",
            what=what,
        )


def check_raises(
    func: Callable[[], object],
    expected: type[BaseException] | tuple[type[BaseException], ...],
    *,
    what: str,
    hint: str | None = None,
) -> BaseException:
    """Call ``func()`` and fail unless it raises ``expected``; return the exception."""
    names = (
        " or ".join(e.__name__ for e in expected)
        if isinstance(expected, tuple)
        else expected.__name__
    )
    try:
        result = func()
    except expected as exc:
        return exc
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the learner
        first, place = _in_one_line(exc)
        raise CheckFailed(
            f"{what}: expected {names}, but {_error_name(exc)} was raised: {first}{place}",
            hint=hint or "",
            what=what,
        ) from None
    raise CheckFailed(
        f"{what}: expected {names}, but nothing was raised (it returned {_short(result, 60)}).",
        hint=hint or "",
        what=what,
    )


_LIBRARY_ROOTS = tuple(
    str(root)
    for root in {
        Path(sys.prefix).resolve(),
        Path(sys.base_prefix).resolve(),
        Path(__file__).resolve().parents[1],  # the authlab package
    }
)


def _is_library(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return True
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return resolved.startswith(_LIBRARY_ROOTS)


def _error_name(exc: BaseException) -> str:
    """``ValueError`` for a built-in exception, ``binascii.Error`` for another module's."""
    kind = type(exc)
    module = kind.__module__
    distinctive = kind.__name__ != "Error" and kind.__name__.endswith(("Error", "Exception"))
    if module == "builtins" or distinctive:
        return kind.__name__
    return f"{module}.{kind.__name__}"


def learner_frame(tb: TracebackType | None) -> tuple[str, int, str] | None:
    """``(filename, line number, source line)`` of the innermost frame of ``tb`` that is in
    the learner's own code (a notebook cell, not the Python library or ``authlab``)."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if not _is_library(filename):
            found = (filename, lineno, linecache.getline(filename, lineno).strip())
    return found


def _in_one_line(error: BaseException) -> tuple[str, str]:
    """The first line of ``error``'s message, and where in the learner's code it was raised
    (`` (your code, line N: source)``, or ``""`` when no learner frame is in its traceback)."""
    text = error.message if isinstance(error, AuthLabError) else str(error)  # hint shown apart
    first = (str(text).strip().splitlines() or [""])[0][:160]
    reported = getattr(
        error, "learner_where", None
    )  # raised in the learner's kernel, seen by the grader's judge
    if isinstance(reported, str):
        return first, reported
    where = learner_frame(error.__traceback__)
    place = f" (your code, line {where[1]}: {where[2]})" if where and where[2] else ""
    return first, place


def call(
    func: Callable[..., Any],
    *args: Any,
    what: str | None = None,
    hint: str | None = None,
    **kwargs: Any,
) -> Any:
    """``func(*args, **kwargs)`` for a visible or hidden test: its result, or one failed check.

    If the learner's function raises, the test fails with a :class:`CheckFailed` that names
    the call (``what``), the exception in one line, the line of the learner's code where it
    was raised and ``hint``. ``NotImplementedError`` passes through unchanged: the exercise
    is simply not answered yet.
    """
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the learner as one failed check
        label = what or f"{getattr(func, '__name__', 'your function')}(...)"
        first, place = _in_one_line(exc)
        raise CheckFailed(
            f"{label} raised {_error_name(exc)}{': ' + first if first else ''}{place}.",
            hint=hint or hint_for(exc) or "",
            what=label,
        ) from None


UNANSWERED = "YOUR ANSWER HERE"
"""What nbgrader leaves in a written answer's cell until the learner writes."""


def check_written(cell_id: str, exercise: str, folder: Path | None = None) -> None:
    """Fail unless the written answer in cell ``cell_id`` holds an answer.

    nbgrader's Validate scores written answers by hand only, so it says nothing of a blank
    one; this check (a 0-point test cell after the answer) makes Validate name it. It reads
    the saved notebook in ``folder`` (the kernel's working folder: Validate saves first); if
    no notebook there has that cell, there is nothing to check and it passes.
    """
    for cell, source in _saved_cells(folder):
        if cell.get("id") != cell_id:
            continue
        if not source.strip() or UNANSWERED in source:
            raise CheckFailed(
                f"{exercise}: your written answer is still empty.",
                hint="Double-click the cell that says YOUR ANSWER HERE, write your answer, "
                "press Shift+Enter and save; your instructor grades it by hand.",
            )
        return


def _saved_cells(folder: Path | None) -> Iterator[tuple[dict, str]]:
    """``(cell, source)`` for every cell of the saved notebooks in ``folder`` (default: the
    kernel's working folder), in order; unreadable notebooks are skipped."""
    for notebook in sorted((folder or Path.cwd()).glob("*.ipynb")):
        try:
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for cell in cells:
            if isinstance(cell, dict):
                source = cell.get("source", "")
                yield cell, "".join(source) if isinstance(source, list) else str(source)


class needs_answers:  # noqa: N801 - used like a function: ``with needs_answers("exercise 2"):``
    """Run a demo cell that uses the learner's answers; if one is missing, say so and go on.

    An unanswered exercise raises ``NotImplementedError``; inside this block that becomes one
    friendly line instead of an error, so lesson cells after an exercise still run.
    """

    def __init__(self, exercises: str) -> None:
        self.exercises = exercises

    def __enter__(self) -> needs_answers:
        return self

    def __exit__(self, etype: type | None, value: BaseException | None, tb: object) -> bool:
        if etype is not None and issubclass(etype, NotImplementedError):
            print(f"⏸ This demo runs once you have answered {self.exercises}.")
            return True
        return False


def passed(*, hidden: bool = True) -> None:
    """Tell the learner the visible checks passed, and whether more run at grading."""
    if hidden:
        print("✔ Visible checks passed. More checks run when your work is graded.")
    else:
        print("✔ All checks for this exercise passed.")


# --------------------------------------------------------------------------- hints

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


class _Definitions(ast.NodeVisitor):
    """The names a cell defines at the top level (functions' and classes' insides skipped)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802 - ast's API
        self.names.add(node.name)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:  # noqa: N802
        self.names.add(node.name)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:  # noqa: N802
        self.names.add(node.name)

    def visit_Name(self, node: ast.Name) -> None:  # noqa: N802
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def visit_alias(self, node: ast.alias) -> None:
        self.names.add((node.asname or node.name).split(".")[0])


def defining_cell(name: str, folder: Path | None = None) -> str | None:
    """The first line of the first code cell that defines ``name`` in the notebook of ``folder``
    (the kernel's working folder, where JupyterLab starts it), or ``None`` if none does."""
    for cell, source in _saved_cells(folder):
        if cell.get("cell_type") != "code":
            continue
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        finder = _Definitions()
        finder.visit(tree)
        if name in finder.names:
            first = next((ln.strip() for ln in lines if ln.strip()), "")
            return first if len(first) <= 70 else first[:67] + "..."
    return None


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
    from ..cloud.aws import last_challenge

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
