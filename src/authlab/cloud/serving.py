"""A local server's background thread, and how the servers of a process cross a fork.

The course's local servers (moto's, the identity providers', the gateways') each serve from
a daemon thread of the process that started them (:class:`ServingThread`). The grader's
judge runs a notebook's first lessons once, then forks a judge per student from that
process (``grader.judge.server``), and a thread does not survive a fork, while a listening
socket and a kept-alive connection do: shared by parent and child, either process could
answer the other's requests, from its own state.

So before such a fork, :func:`pause` stops every server of this process: its thread ends,
its listening socket closes, and the connections it accepted are shut down (a client sees
them closed and opens a new one on its next request, as ``urllib3`` does). After the fork,
:func:`resume` binds each server again to its own address and serves from a new thread, in
whichever process calls it. Ports are kept: the URLs the lessons handed out stay right.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from typing import Any

__all__ = ["ServingThread", "TrackedConnections", "pause", "resume", "serving"]

_lock = threading.Lock()
_serving: dict[int, ServingThread] = {}


class TrackedConnections:
    """A mixin for a threaded ``socketserver`` server: it keeps the connections it accepted
    and has not closed yet (:func:`pause` shuts them down)."""

    def process_request(self, request: Any, client_address: Any) -> None:
        """Note the connection, then handle it as the server would."""
        with _lock:
            self.__dict__.setdefault("_open_connections", set()).add(request)
        super().process_request(request, client_address)  # type: ignore[misc]

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection, then close it as the server would."""
        with _lock:
            self.__dict__.setdefault("_open_connections", set()).discard(request)
        super().shutdown_request(request)  # type: ignore[misc]

    def open_connections(self) -> list[socket.socket]:
        """The connections accepted and not closed yet."""
        with _lock:
            return list(self.__dict__.get("_open_connections", ()))


class ServingThread:
    """``server`` (a bound and listening ``socketserver`` server) serving from a daemon
    thread named ``name``, from :meth:`start` until :meth:`stop`."""

    def __init__(self, server: socketserver.BaseServer, name: str, poll_interval: float = 0.5):
        self.server = server
        self.name = name
        self.poll_interval = poll_interval
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve from a new thread (the server's socket is bound and listening)."""
        thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": self.poll_interval},
            name=self.name,
            daemon=True,
        )
        thread.start()
        self._thread = thread
        with _lock:
            _serving[id(self)] = self

    def stop(self) -> None:
        """Stop serving and close the server's socket (a second call does nothing)."""
        with _lock:
            _serving.pop(id(self), None)
        thread, self._thread = self._thread, None
        if thread is not None:
            self.server.shutdown()
            thread.join(timeout=5)
        self.server.server_close()

    def pause(self) -> None:
        """End the serving thread, close the listening socket and shut down the connections
        it accepted; :meth:`resume` serves again on the same address."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.server.shutdown()
        thread.join(timeout=5)
        self.server.socket.close()
        tracked = self.server if isinstance(self.server, TrackedConnections) else None
        for connection in tracked.open_connections() if tracked else ():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        """Bind a new listening socket to the server's address and serve from a new thread."""
        if self._thread is not None:
            return
        server: Any = self.server
        listener = socket.socket(server.address_family, server.socket_type)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(server.server_address[:2])
            listener.listen(server.request_queue_size)
        except OSError:
            listener.close()
            raise
        server.socket = listener
        self.start()


def serving() -> list[ServingThread]:
    """The servers of this process that are serving or paused (started, not stopped)."""
    with _lock:
        return list(_serving.values())


def pause(settle: float = 2.0) -> bool:
    """Pause every server of this process (:meth:`ServingThread.pause`) and wait up to
    ``settle`` seconds for their connections' threads to end. ``True`` when this process
    is left with its main thread alone: it may then fork."""
    for one in serving():
        one.pause()
    deadline = time.monotonic() + settle
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    return threading.active_count() == 1


def resume() -> None:
    """Resume every paused server of this process (:meth:`ServingThread.resume`)."""
    for one in serving():
        one.resume()
