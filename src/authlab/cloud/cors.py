"""The browser's door to the local AWS: CORS answered by the course, never by moto.

A sign-in page in the browser calls Cognito on another origin (on AWS,
``https://cognito-idp.<region>.amazonaws.com``; here the moto server's ``http://127.0.0.1:<port>``).
Its ``POST`` carries ``X-Amz-Target`` and a JSON content type, so the browser first sends a CORS
*preflight*, ``OPTIONS /`` with ``Origin``, ``Access-Control-Request-Method: POST`` and
``Access-Control-Request-Headers: content-type, x-amz-target, …``, and sends the call only when
the answer allows it. Cognito's user-pool API answers pages of any origin (it offers no per-origin
CORS setting: what a pool checks is the app client, not the caller's origin), and no cookies are
involved.

How moto answers a preflight changed between releases (5.2.5 answered it, 5.2.6 routes it to its
S3 handler, which fails with a 500; see the course's REFERENCE notes). So :class:`CorsFront`, a
WSGI middleware the local AWS runs in front of moto, answers every preflight itself and never
passes an ``OPTIONS`` request on, and sets the CORS headers of every answer to a cross-origin
call. The boto3 code of the notebooks never sends a preflight and is unaffected::

    app = CorsFront(moto_app)          # what MotoServer serves
    app.preflights                     # the preflights answered (newest last), for tests

What the browser is told, as Cognito tells it: ``Access-Control-Allow-Origin: *``, the methods
``POST`` (the user-pool API) and ``GET``, and the request headers the browser asked for, when each
is a well-formed header name; answers expose ``x-amzn-RequestId``, ``x-amzn-ErrorType`` and
``x-amzn-ErrorMessage`` so that a page can read Cognito's error type.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ALLOWED_METHODS", "EXPOSED_HEADERS", "CorsFront", "Preflight"]

ALLOWED_METHODS = ("POST", "GET")
"""The methods a page on another origin may use: the user-pool API is ``POST`` only."""

EXPOSED_HEADERS = ("x-amzn-RequestId", "x-amzn-ErrorType", "x-amzn-ErrorMessage", "Date")
"""Response headers a page's script may read besides the always-readable ones."""

MAX_AGE = 600
"""Seconds a browser may reuse a preflight's answer (Chromium caps it at 7,200)."""

_HEADER_NAMES = re.compile(
    r"^\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*\s*$"
)
_KEPT = 50  # preflights remembered for tests


@dataclass(frozen=True)
class Preflight:
    """One preflight as the browser sent it, and whether the front allowed it."""

    path: str
    origin: str
    method: str
    headers: tuple[str, ...]
    allowed: bool


class CorsFront:
    """Answers CORS preflights and sets CORS headers in front of a WSGI ``app`` (see the module).

    ``refuse_preflights=True`` answers every preflight with a 403 and no CORS headers, as a
    misconfigured server would: the browser tests use it to check that a page says so.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], *, refuse_preflights: bool = False):
        self.app = app
        self.refuse_preflights = refuse_preflights
        self.preflights: deque[Preflight] = deque(maxlen=_KEPT)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return self._preflight(environ, start_response)
        if not environ.get("HTTP_ORIGIN"):
            return self.app(environ, start_response)  # boto3, curl: not a browser, no CORS

        def with_cors(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            kept += [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS)),
            ]
            return start_response(status, kept, *rest)

        return self.app(environ, with_cors)

    def _preflight(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer ``OPTIONS`` here; it never reaches ``app``."""
        method = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD", "").strip().upper()
        asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
        headers = tuple(h.strip().lower() for h in asked.split(",") if h.strip())
        well_formed = not asked.strip() or bool(_HEADER_NAMES.match(asked))
        allowed = not self.refuse_preflights and method in ALLOWED_METHODS and well_formed
        record = Preflight(
            path=environ.get("PATH_INFO", "/"),
            origin=environ.get("HTTP_ORIGIN", ""),
            method=method,
            headers=headers,
            allowed=allowed,
        )
        with self._lock:
            self.preflights.append(record)
        if not allowed:
            why = (
                "this server refuses CORS preflights (a test setting)"
                if self.refuse_preflights
                else f"method {method or '(none)'} or the requested headers are not allowed"
            )
            body = f"CORS preflight refused: {why}.\n".encode()
            start_response(
                "403 Forbidden",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        answer = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", ", ".join(ALLOWED_METHODS)),
            ("Access-Control-Max-Age", str(MAX_AGE)),
            ("Content-Length", "0"),
        ]
        if headers:
            answer.append(("Access-Control-Allow-Headers", ", ".join(headers)))
        start_response("204 No Content", answer)
        return [b""]
