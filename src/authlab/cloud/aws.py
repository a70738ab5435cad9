"""A local AWS on 127.0.0.1 (moto's server mode) and boto3 clients pointed at it.

The boto3 code a learner writes against these clients is exactly the code that runs
against real AWS; only the client's ``endpoint_url`` and credentials differ.

In a test or a script, use the context manager::

    with MotoServer() as aws:
        cognito = aws.client("cognito-idp")

In a notebook, start one shared server per kernel; it stops when the kernel exits::

    aws = authlab.start_moto()
    cognito = authlab.client("cognito-idp")

**Switching to real AWS.** Set the environment variable ``AUTHLAB_AWS=real`` before
starting the kernel (and configure credentials as usual, e.g. ``aws configure`` or
``AWS_PROFILE``). :func:`client` then returns plain boto3 clients that use the normal
credential chain and region, :func:`start_moto` starts nothing, and everything you
create costs real money and lives in your account until you delete it.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
from typing import Any

import boto3
import requests
from botocore.config import Config

from ..errors import AwsUnavailableError
from .cors import CorsFront
from .serving import ServingThread, TrackedConnections

__all__ = [
    "DEFAULT_REGION",
    "DUMMY_CREDENTIALS",
    "MotoServer",
    "OneLineServerErrors",
    "client",
    "current_server",
    "last_challenge",
    "real_aws",
    "start_moto",
    "stop_moto",
]

DEFAULT_REGION = "us-east-1"
"""The region every local client uses unless told otherwise."""

DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
"""Credentials for the local server: moto accepts anything, real AWS refuses these."""

_CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5)


def real_aws() -> bool:
    """True when ``AUTHLAB_AWS=real``: clients go to real AWS, not to moto."""
    return os.environ.get("AUTHLAB_AWS", "").strip().lower() == "real"


class OneLineServerErrors(logging.Filter):
    """moto's server logs a whole traceback into the notebook for each action it lacks (and
    again for each of boto3's retries): a learner gets one sentence, once, instead."""

    def __init__(self) -> None:
        super().__init__()
        self._last = ""

    def filter(self, record: logging.LogRecord) -> bool:
        """Turn a logged exception into one line; drop an immediate repeat of the same line."""
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            last = f"{type(error).__name__}: {error}"
        else:
            message = record.getMessage()
            if "Traceback (most recent call last)" not in message:
                return True
            last = message.strip().splitlines()[-1]  # werkzeug writes the traceback as text
        kind, _, detail = last.partition(": ")
        if kind == "NotImplementedError":
            text = f"local AWS (moto): {detail}: AWS has it, this stand-in does not."
        else:
            text = f"local AWS (moto) failed: {last}"
        record.msg, record.args, record.exc_info, record.exc_text = text, (), None, None
        if text == self._last:
            return False
        self._last = text
        return True


class MotoServer:
    """A moto server on a free port of 127.0.0.1, in a background thread of this process
    (:class:`~authlab.cloud.serving.ServingThread`).

    Browsers' CORS preflights are answered by :class:`~authlab.cloud.cors.CorsFront` in front
    of moto (``refuse_preflights=True`` makes it refuse them all, for tests of a page's errors).

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. All state
    (pools, APIs, tables) lives in this process's memory, in moto's backends: it outlives a
    stopped server (a new one in the same process sees it), and :meth:`reset` wipes it.
    """

    def __init__(
        self, *, region: str = DEFAULT_REGION, port: int = 0, refuse_preflights: bool = False
    ) -> None:
        self.region = region
        self._requested_port = port
        self._refuse_preflights = refuse_preflights
        self._server: Any = None
        self._thread: ServingThread | None = None
        self.front: CorsFront | None = None
        """The CORS front moto runs behind (its ``preflights`` say what browsers asked)."""
        self._session = boto3.session.Session(region_name=region, **DUMMY_CREDENTIALS)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> MotoServer:
        """Start serving (a second call does nothing). Returns ``self``."""
        with self._lock:
            if self._server is not None:
                return self
            try:
                from moto.moto_server.werkzeug_app import (
                    DomainDispatcherApplication,
                    MotoRequestHandler,
                    create_backend_app,
                )
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise AwsUnavailableError(
                    "moto's server mode is not installed.",
                    hint="Run 'make lab' (or pip install 'moto[server]') to install it.",
                ) from exc
            werkzeug = logging.getLogger("werkzeug")
            werkzeug.setLevel(logging.ERROR)  # no line per request
            if not any(isinstance(f, OneLineServerErrors) for f in werkzeug.filters):
                werkzeug.addFilter(OneLineServerErrors())
            # moto's app behind the course's CORS front (authlab.cloud.cors): browsers' preflights
            # are answered by the course, whatever a moto release does with OPTIONS.
            self.front = CorsFront(
                DomainDispatcherApplication(create_backend_app),
                refuse_preflights=self._refuse_preflights,
            )
            try:
                # Never the default 0.0.0.0: the local AWS must not be reachable from outside.
                server = _moto_server_class()(
                    "127.0.0.1", self._requested_port, self.front, MotoRequestHandler
                )
            except OSError as exc:
                raise AwsUnavailableError(
                    f"Could not start the moto server on 127.0.0.1:{self._requested_port}: {exc}."
                ) from exc
            thread = ServingThread(server, "authlab-moto")
            thread.start()
            self._thread = thread
            self._server = server
        return self

    def stop(self) -> None:
        """Stop serving (a second call does nothing); :meth:`reset` first to wipe the state."""
        with self._lock:
            self._server = None
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ address
    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._server is None:
            raise AwsUnavailableError("The moto server is not running.")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``: what boto3's ``endpoint_url`` is set to."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ clients
    def client(self, service: str, *, region: str | None = None) -> Any:
        """A boto3 client for ``service`` that talks to this server."""
        return self._session.client(
            service,
            region_name=region or self.region,
            endpoint_url=self.endpoint_url,
            config=_CLIENT_CONFIG,
        )

    def resource(self, service: str, *, region: str | None = None) -> Any:
        """A boto3 resource (e.g. a DynamoDB table API) that talks to this server."""
        return self._session.resource(
            service,
            region_name=region or self.region,
            endpoint_url=self.endpoint_url,
            config=_CLIENT_CONFIG,
        )

    def reset(self) -> None:
        """Wipe every pool, API and table (moto's ``POST /moto-api/reset``)."""
        try:
            response = requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=5)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise AwsUnavailableError(f"Could not reset the moto server: {exc}.") from exc

    def __repr__(self) -> str:
        where = self.endpoint_url if self.running else "stopped"
        return f"MotoServer({where}, region={self.region!r})"


_shared: MotoServer | None = None
_shared_lock = threading.Lock()


@functools.cache
def _moto_server_class() -> type:
    """werkzeug's threaded server, keeping the connections it accepted (see
    :mod:`authlab.cloud.serving`)."""
    from werkzeug.serving import ThreadedWSGIServer

    return type("MotoWSGIServer", (TrackedConnections, ThreadedWSGIServer), {})


def start_moto(*, region: str = DEFAULT_REGION) -> MotoServer | None:
    """Start (or return) this kernel's one shared moto server.

    Every notebook cell that needs AWS calls this; the first call starts the server,
    later calls return the same one, and it stops when the kernel exits. With
    ``AUTHLAB_AWS=real`` nothing is started and ``None`` is returned.
    """
    global _shared
    if real_aws():
        return None
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = MotoServer(region=region).start()
            atexit.register(_shared.stop)
        return _shared


def current_server() -> MotoServer:
    """The shared server started by :func:`start_moto`."""
    if _shared is None or not _shared.running:
        raise AwsUnavailableError(
            "No local AWS is running in this kernel.",
            hint="Run the cell with authlab.start_moto() first.",
        )
    return _shared


def stop_moto() -> None:
    """Stop the shared server, if any (it also stops by itself when the kernel exits)."""
    global _shared
    with _shared_lock:
        server, _shared = _shared, None
    if server is not None:
        server.stop()


_last_challenge: dict[str, str] = {}


def _remember_challenge(parsed: Any = None, model: Any = None, **_: Any) -> None:
    """botocore ``after-call`` handler: note a Cognito answer that is a challenge, not tokens."""
    if isinstance(parsed, dict) and parsed.get("ChallengeName"):
        _last_challenge.clear()
        _last_challenge.update(
            operation=getattr(model, "name", "?"), challenge=str(parsed["ChallengeName"])
        )
    elif isinstance(parsed, dict) and "AuthenticationResult" in parsed:
        _last_challenge.clear()


def last_challenge() -> dict[str, str] | None:
    """The last challenge a Cognito client of :func:`client` received instead of tokens
    (``{"operation": "InitiateAuth", "challenge": "PASSWORD_VERIFIER"}``), or ``None`` when
    the last sign-in answered tokens. Feedback uses it to explain a missing
    ``AuthenticationResult``."""
    return dict(_last_challenge) or None


def client(service: str, *, region: str | None = None) -> Any:
    """A boto3 client: for the shared moto server, or for real AWS with ``AUTHLAB_AWS=real``.

    Starts the shared moto server if it is not running yet. A ``cognito-idp`` client
    remembers the last challenge it was answered (:func:`last_challenge`).
    """
    if real_aws():
        made = boto3.client(service, region_name=region or os.environ.get("AWS_REGION"))
    else:
        server = start_moto()
        assert server is not None
        made = server.client(service, region=region)
    if service == "cognito-idp":
        made.meta.events.register("after-call.cognito-idp", _remember_challenge)
    return made
