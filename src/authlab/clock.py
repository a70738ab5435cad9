"""Injectable time, so expiry can be shown and tested without sleeping.

Everything in :mod:`authlab` that reads the time takes a ``clock``: any object with a
``now() -> float`` method returning seconds since the Unix epoch. :data:`SYSTEM_CLOCK`
reads the real time; :class:`FrozenClock` stands still until you move it.

>>> clock = FrozenClock(1_700_000_000)
>>> clock.advance(minutes=15)
>>> clock.now()
1700000900.0
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "FrozenClock", "SystemClock", "as_datetime"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the time as seconds since the epoch."""

    def now(self) -> float:
        """Seconds since 1970-01-01T00:00:00Z."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> float:
        """Seconds since the epoch, from :func:`time.time`."""
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class FrozenClock:
    """A clock that only moves when told to: for demos, exercises and tests.

    ``start`` is seconds since the epoch or an aware :class:`~datetime.datetime`;
    it defaults to the real time now.
    """

    def __init__(self, start: float | datetime | None = None) -> None:
        if start is None:
            start = time.time()
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("FrozenClock needs an aware datetime, e.g. tzinfo=UTC")
            start = start.timestamp()
        self._now = float(start)

    def now(self) -> float:
        """The frozen time."""
        return self._now

    def advance(
        self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> float:
        """Move the clock forward (a negative amount moves it back); return the new time."""
        self._now += seconds + 60 * minutes + 3600 * hours + 86400 * days
        return self._now

    def set(self, when: float | datetime) -> None:
        """Jump to ``when`` (seconds since the epoch or an aware datetime)."""
        self._now = when.timestamp() if isinstance(when, datetime) else float(when)

    def __repr__(self) -> str:
        return f"FrozenClock({as_datetime(self._now).isoformat()})"


def as_datetime(seconds: float) -> datetime:
    """Seconds since the epoch as an aware UTC datetime (for display)."""
    return datetime.fromtimestamp(seconds, tz=UTC)


SYSTEM_CLOCK: Clock = SystemClock()
"""The default clock: the real time."""
