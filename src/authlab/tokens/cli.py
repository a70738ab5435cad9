"""``python -m authlab``: the bouncer in a terminal.

``decode TOKEN`` shows the header and claims (unverified) and the token coloured by
part. ``verify TOKEN --jwks PATH_OR_URL --issuer ISS [--audience AUD]... [--client-id
ID] [--token-use id|access] [--leeway SECONDS]`` prints exactly one JSON object:
``{"valid": true, "claims": {...}}`` (exit 0) or ``{"valid": false, "code": ...,
"message": ...}`` (exit 1). Usage errors exit 2. ``TOKEN`` may be ``-`` for stdin.

The JSON is strict (RFC 8259): never ``NaN`` or ``Infinity``, whatever the token holds. If
verification ever failed in a way the verifier does not name, the answer is still one JSON
object, ``{"valid": false, "code": "internal_error", ...}`` with exit 1: a token that
crashes the checker is never trusted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ..errors import AuthLabError, ConfigurationError, MalformedTokenError
from .display import render_ansi
from .jwks import KeySet
from .jws import decode_unverified
from .verify import verify_token

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m authlab``."""
    parser = argparse.ArgumentParser(
        prog="python -m authlab",
        description="Read or verify a JWT, as an API's bouncer would.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{decode,verify}")
    decode = commands.add_parser(
        "decode", help="show the header and claims WITHOUT checking anything"
    )
    decode.add_argument("token", help="the JWT, or - to read it from stdin")
    decode.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")
    verify = commands.add_parser("verify", help="verify strictly; print one JSON object")
    verify.add_argument("token", help="the JWT, or - to read it from stdin")
    verify.add_argument("--jwks", required=True, metavar="PATH_OR_URL", help="trusted keys")
    verify.add_argument("--issuer", required=True, metavar="ISS", help="the exact iss trusted")
    verify.add_argument(
        "--audience", action="append", metavar="AUD", help="an accepted aud (repeatable)"
    )
    verify.add_argument("--client-id", metavar="ID", help="the app client (Cognito)")
    verify.add_argument("--token-use", choices=("id", "access"), help="Cognito's token_use")
    verify.add_argument(
        "--leeway", type=float, default=0.0, metavar="SECONDS", help="allowed clock skew"
    )
    return parser


def _read_token(value: str, stdin: TextIO) -> str:
    return stdin.read().strip() if value == "-" else value


def _keys(source: str) -> KeySet:
    if source.startswith(("http://", "https://")):
        return KeySet.from_url(source)
    return KeySet.from_file(source)


def _decode(args: argparse.Namespace, token: str, out: TextIO, err: TextIO) -> int:
    colour = not args.no_color and not os.environ.get("NO_COLOR") and out.isatty()
    try:
        decode_unverified(token, max_length=1 << 20)
    except MalformedTokenError as exc:
        print(f"Cannot decode: {exc}", file=err)
        return 1
    print(render_ansi(token, colour=colour), file=out)
    print("(unverified: run 'python -m authlab verify' before trusting any claim)", file=out)
    return 0


def _answer(answer: dict[str, Any], out: TextIO) -> None:
    """Print ``answer`` as one line of strict JSON."""
    try:
        text = json.dumps(answer, allow_nan=False)
    except (ValueError, RecursionError):  # the verifier refuses such claims; belt and braces
        text = json.dumps(
            {"valid": False, "code": "malformed", "message": "The claims cannot be shown as JSON."}
        )
    print(text, file=out)


def _verify(args: argparse.Namespace, token: str, out: TextIO) -> int:
    try:
        claims = verify_token(
            token,
            _keys(args.jwks),
            issuer=args.issuer,
            audience=args.audience,
            client_id=args.client_id,
            token_use=args.token_use,
            leeway=args.leeway,
        )
    except ConfigurationError:
        raise
    except AuthLabError as exc:
        _answer({"valid": False, "code": exc.code, "message": str(exc)}, out)
        return 1
    except Exception as exc:  # noqa: BLE001 - the documented answer is JSON, whatever happens
        message = f"The verifier failed unexpectedly ({type(exc).__name__}); the token is refused."
        _answer({"valid": False, "code": "internal_error", "message": message}, out)
        return 1
    _answer({"valid": True, "claims": claims}, out)
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; return the exit status (0 valid, 1 refused, 2 usage)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    token = _read_token(args.token, stdin)
    if args.command == "decode":
        return _decode(args, token, stdout, stderr)
    try:
        return _verify(args, token, stdout)
    except ConfigurationError as exc:
        print(f"{parser.prog} verify: error: {exc}", file=stderr)
        return 2
