"""A fleet of short-lived containers behind a load balancer, run in one Python process.

Serverless platforms run your code in many execution environments ("containers") at
once, start new ones when traffic grows and throw idle ones away. Each has its own
memory. :class:`Fleet` models exactly that, so a notebook can show what happens to
state kept in RAM: requests go round-robin to the containers, and
:meth:`Fleet.cold_start` replaces a container with a fresh one whose memory is empty.

An *app* is any object with ``handle(request) -> Response``; the fleet builds one app
per container by calling ``app_factory()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol

__all__ = ["App", "Container", "Fleet", "Request", "Response"]


@dataclass
class Request:
    """An HTTP request as an app sees it (header names are matched case-insensitively)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name``, whatever its case, or ``default``."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default


@dataclass
class Response:
    """An HTTP response: status, JSON body, headers, and which container answered."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    served_by: str = ""


class App(Protocol):
    """What runs inside a container."""

    def handle(self, request: Request) -> Response:
        """Answer one request."""
        ...


class Container:
    """One execution environment, called ``name``: an app instance with its own memory."""

    def __init__(self, app_factory: Callable[[], App], name: str = "container") -> None:
        self.name = name
        self.app = app_factory()
        self.requests_served = 0

    def handle(self, request: Request) -> Response:
        """Pass ``request`` to this container's app and stamp the answer with its name."""
        self.requests_served += 1
        response = self.app.handle(request)
        response.served_by = self.name
        return response

    def __repr__(self) -> str:
        return f"<{self.name}: {self.requests_served} requests>"


def _letters(number: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA": spreadsheet-style names for containers."""
    name = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


class Fleet:
    """``size`` containers of one app behind a round-robin load balancer.

    Containers are named in the order they start, as the course's diagrams name them:
    ``container A``, ``container B``…; a fresh container after a cold start gets the next
    letter, so a name never comes back.
    """

    def __init__(self, app_factory: Callable[[], App], size: int = 2) -> None:
        if size < 1:
            raise ValueError("a fleet needs at least one container")
        self.app_factory = app_factory
        self._started = count()
        self.containers = [self._start() for _ in range(size)]
        self.log: list[tuple[str, str, str, int]] = []
        self._next = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        to: int | None = None,
    ) -> Response:
        """Send a request to the next container (or to container number ``to``)."""
        if to is None:
            index = self._next % len(self.containers)
            self._next += 1
        else:
            index = to
        container = self.containers[index]
        response = container.handle(Request(method, path, dict(headers or {}), dict(body or {})))
        self.log.append((container.name, method, path, response.status))
        return response

    def cold_start(self, index: int | None = None) -> None:
        """Replace container ``index`` (default: all) with a fresh one: its memory is lost."""
        targets = range(len(self.containers)) if index is None else [index]
        for i in targets:
            self.containers[i] = self._start()

    def scale_to(self, size: int) -> None:
        """Add fresh containers or remove the newest ones until there are ``size``."""
        if size < 1:
            raise ValueError("a fleet needs at least one container")
        while len(self.containers) < size:
            self.containers.append(self._start())
        del self.containers[size:]

    def _start(self) -> Container:
        return Container(self.app_factory, f"container {_letters(next(self._started))}")

    def __repr__(self) -> str:
        return f"Fleet({self.containers})"
