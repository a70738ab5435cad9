"""A token as a person sees it on a debugger page: coloured by part, decoded beside it.

>>> view = show_token(token)          # in a notebook: renders as HTML
>>> print(render_ansi(token))         # in a terminal: ANSI colours

Header red, payload purple, signature blue (the colours of jwt.io's debugger), the dots
grey. The decoded header and claims are shown next to the token and marked
*unverified*: decoding needs no key, so anyone can read (and write) them. Time claims
get their UTC date, and with a ``clock`` how long ago or ahead they are.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..clock import Clock, as_datetime
from ..errors import MalformedTokenError
from .jws import decode_unverified

__all__ = ["COLOURS", "TokenView", "render_ansi", "render_html", "show_token"]

COLOURS = {"header": "#fb015b", "payload": "#d63aff", "signature": "#00b9f1", "dot": "#888888"}
"""HTML colours of the three parts (jwt.io's)."""

_ANSI = {"header": "\033[31m", "payload": "\033[35m", "signature": "\033[36m", "dot": "\033[90m"}
_RESET, _BOLD, _DIM = "\033[0m", "\033[1m", "\033[2m"
_TIME_CLAIMS = ("iat", "auth_time", "nbf", "exp")
_PARTS = ("header", "payload", "signature")


def _segments(token: str) -> list[tuple[str, str]]:
    """``(part name, text)`` pairs of a token, dots included; extra segments stay signature."""
    pieces = token.split(".")
    out: list[tuple[str, str]] = []
    for i, piece in enumerate(pieces):
        if i:
            out.append(("dot", "."))
        out.append((_PARTS[min(i, 2)], piece))
    return out


def _when(seconds: Any, clock: Clock | None) -> str | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    try:
        text = as_datetime(seconds).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return None
    if clock is not None:
        delta = round(seconds - clock.now())
        text += f" (in {delta} s)" if delta > 0 else f" ({-delta} s ago)" if delta else " (now)"
    return text


def _decoded(token: str) -> tuple[dict | None, dict | None, str | None]:
    try:
        header, claims = decode_unverified(token, max_length=1 << 20)
    except MalformedTokenError as exc:
        return None, None, exc.message
    return header, claims, None


def _notes(claims: dict | None, clock: Clock | None) -> list[str]:
    if not claims:
        return []
    notes = []
    for name in _TIME_CLAIMS:
        when = _when(claims.get(name), clock)
        if when:
            notes.append(f"{name}: {when}")
    return notes


class TokenView:
    """A token ready to show: HTML in a notebook (``_repr_html_``), ANSI via :meth:`ansi`."""

    def __init__(self, token: str, *, clock: Clock | None = None, title: str | None = None):
        self.token = token
        self.clock = clock
        self.title = title
        self.header, self.claims, self.error = _decoded(token)

    def _repr_html_(self) -> str:
        return render_html(self.token, clock=self.clock, title=self.title)

    def ansi(self, *, colour: bool = True) -> str:
        """The terminal rendering (``colour=False`` for plain text)."""
        return render_ansi(self.token, clock=self.clock, colour=colour, title=self.title)

    def __repr__(self) -> str:
        return self.ansi(colour=False)


def show_token(token: str, *, clock: Clock | None = None, title: str | None = None) -> TokenView:
    """A :class:`TokenView` of ``token``; as a cell's last line, Jupyter renders it in colour."""
    return TokenView(token, clock=clock, title=title)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def render_html(token: str, *, clock: Clock | None = None, title: str | None = None) -> str:
    """HTML: the token coloured by part, and its decoded header and claims beside it."""
    header, claims, error = _decoded(token)
    spans = "".join(
        f'<span style="color:{COLOURS[part]}">{html.escape(text)}</span>'
        for part, text in _segments(token)
    )
    mono = "font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px"
    left = f'<div style="flex:1 1 45%;min-width:18em;word-break:break-all;{mono}">{spans}</div>'
    if error:
        right_body = f'<p style="color:#b00">Cannot decode: {html.escape(error)}</p>'
    else:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in _notes(claims, clock))
        right_body = (
            f'<div style="color:{COLOURS["header"]}"><b>Header</b></div>'
            f'<pre style="margin:0 0 .5em 0;{mono}">{html.escape(_pretty(header))}</pre>'
            f'<div style="color:{COLOURS["payload"]}"><b>Claims</b> '
            f"<i>(unverified: anyone can write these)</i></div>"
            f'<pre style="margin:0;{mono}">{html.escape(_pretty(claims))}</pre>'
            + (f'<ul style="margin:.3em 0;{mono}">{notes}</ul>' if notes else "")
        )
    right = f'<div style="flex:1 1 45%;min-width:18em">{right_body}</div>'
    caption = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return (
        f'<div class="authlab-token">{caption}'
        f'<div style="display:flex;gap:1.5em;align-items:flex-start">{left}{right}</div></div>'
    )


def render_ansi(
    token: str, *, clock: Clock | None = None, colour: bool = True, title: str | None = None
) -> str:
    """Text for a terminal: the token coloured by part, then header and claims (unverified)."""

    def paint(part: str, text: str) -> str:
        return f"{_ANSI[part]}{text}{_RESET}" if colour else text

    header, claims, error = _decoded(token)
    lines = [f"{_BOLD if colour else ''}{title}{_RESET if colour else ''}"] if title else []
    lines.append("".join(paint(part, text) for part, text in _segments(token)))
    if error:
        lines.append(f"Cannot decode: {error}")
        return "\n".join(lines)
    lines.append(paint("header", "Header:"))
    lines.append(_pretty(header))
    lines.append(paint("payload", "Claims (unverified: anyone can write these):"))
    lines.append(_pretty(claims))
    notes = _notes(claims, clock)
    if notes:
        lines.extend((_DIM if colour else "") + n + (_RESET if colour else "") for n in notes)
    return "\n".join(lines)
