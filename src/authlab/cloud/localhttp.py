"""A tiny threaded HTTP server on 127.0.0.1, for the course's local endpoints.

The simulated identity provider (:mod:`authlab.cloud.idp`) and the local API Gateway
(:mod:`authlab.cloud.gateway`) both serve real HTTP so that learners call them with
``requests``, exactly as they would call the cloud. The application is a plain
function ``app(HttpRequest) -> HttpResponse``; this module only does the sockets::

    with LocalHttpServer(lambda request: HttpResponse.json(200, {"ok": True})) as server:
        requests.get(server.url + "/anything").json()   # {'ok': True}

It binds 127.0.0.1 only (never 0.0.0.0), picks a free port by default, speaks
HTTP/1.1 with keep-alive, and turns any exception escaping ``app`` into a 500.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .serving import ServingThread, TrackedConnections

__all__ = ["HttpRequest", "HttpResponse", "LocalHttpServer"]


@dataclass
class HttpRequest:
    """One request as the application sees it. Header names keep their case;
    :meth:`header` looks them up case-insensitively."""

    method: str
    path: str
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (any case), or ``default``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default


@dataclass
class HttpResponse:
    """What the application answers: status, headers and a body of bytes."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> HttpResponse:
        """A JSON response (``content-type: application/json``)."""
        return cls(
            status,
            {"content-type": "application/json", **(headers or {})},
            json.dumps(data, separators=(",", ":")).encode(),
        )


App = Callable[[HttpRequest], HttpResponse]


def _handler_class(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a requests.Session reuses the connection
        disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms ACK delay
        timeout = 60  # an idle keep-alive connection frees its thread after a minute

        def _handle(self) -> None:
            if getattr(self.server, "stopped", False):
                # A keep-alive connection outlived stop(): answer nothing and close it, so a
                # browser tab sees a server that is down, not one still answering.
                self.close_connection = True
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.send_error(400, "Bad Content-Length")
                return
            body = self.rfile.read(length) if length > 0 else b""
            parts = urlsplit(self.path)
            request = HttpRequest(
                method=self.command,
                path=parts.path or "/",
                query=parts.query,
                headers=list(self.headers.items()),
                body=body,
                client_ip=self.client_address[0],
            )
            try:
                response = app(request)
            except Exception:  # noqa: BLE001 - a server never dies of one request
                response = HttpResponse.json(500, {"message": "Internal Server Error"})
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: no line per request in a notebook."""

    return Handler


class _Server(TrackedConnections, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    stopped = False  # set by LocalHttpServer.stop(); open keep-alive connections then close


class LocalHttpServer:
    """Serve ``app`` on ``127.0.0.1:port`` (0 = a free port) from background threads.

    A context manager; or call :meth:`start` and :meth:`stop` (both idempotent).
    """

    def __init__(self, app: App, *, port: int = 0, name: str = "local server") -> None:
        self.app = app
        self.name = name
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: ServingThread | None = None
        self._lock = threading.Lock()

    def start(self) -> LocalHttpServer:
        """Start serving (a second call does nothing). Returns ``self``."""
        with self._lock:
            if self._server is None:
                try:
                    server = _Server(("127.0.0.1", self._requested_port), _handler_class(self.app))
                except OSError as exc:
                    raise ConfigurationError(
                        f"Could not start the {self.name} on 127.0.0.1:{self._requested_port}: "
                        f"{exc}.",
                        hint="Pass port=0 to pick a free port.",
                    ) from exc
                thread = ServingThread(server, f"authlab-{self.name}", poll_interval=0.05)
                thread.start()
                self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving (a second call does nothing)."""
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is not None:
            server.stopped = True
        if thread is not None:
            thread.stop()

    def __enter__(self) -> LocalHttpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        if self._server is None:
            raise ConfigurationError(
                f"The {self.name} is not running.", hint="Call start() or use it in a with block."
            )
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"
