"""A progress line on stderr with a count, a bar, the elapsed time and an ETA (no dependency).

On a terminal it redraws one line; otherwise (a log file, CI) it prints a line at most
every ``every`` seconds and at the end.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Counts finished items out of ``total`` and shows how long the rest should take."""

    def __init__(
        self, total: int, *, label: str = "", stream: TextIO | None = None, every: float = 10.0
    ):
        self.total, self.label, self.done = total, label, 0
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.started = time.monotonic()
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self, note: str = "") -> str:
        """The text of the progress line now."""
        elapsed = time.monotonic() - self.started
        fraction = self.done / self.total if self.total else 1.0
        bar = "#" * int(fraction * 24)
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        tail = f"ETA {_clock(eta)}" if eta is not None else "ETA --:--"
        text = (
            f"{self.label}[{bar:<24}] {self.done}/{self.total} {fraction:4.0%} "
            f"elapsed {_clock(elapsed)} {tail}"
        )
        return f"{text} {note}".rstrip()

    def advance(self, count: int = 1, note: str = "") -> None:
        """Mark ``count`` more items finished and redraw (or print, when due)."""
        self.done += count
        now = time.monotonic()
        finished = self.done >= self.total
        if self._tty:
            end = "\n" if finished else ""
            self.stream.write("\r\x1b[K" + self.line(note)[:150] + end)
        elif finished or now - self._last >= self.every:
            self.stream.write(self.line(note) + "\n")
        else:
            return
        self._last = now
        self.stream.flush()
