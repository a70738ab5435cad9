"""Keep the terminal for what a person reads: the progress line and the summary.

While autograde runs, everything else written to standard error (nbgrader's converter log,
the kernels' warnings such as "Kernel is running over TCP without encryption", a worker's
traceback) goes to a log file instead, by pointing file descriptor 2 at it: worker processes
and the kernels they start inherit it. The progress line keeps the original stream.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = ["stderr_to_log"]


@contextlib.contextmanager
def stderr_to_log(path: Path) -> Iterator[TextIO]:
    """Send fd 2 (and ``sys.stderr``'s writes) to ``path``; yield a stream on the terminal.

    Inside the block ``sys.stderr`` is the terminal stream, so code that looks it up when it
    writes (a progress line) still reaches the person; loggers and child processes that
    hold fd 2 write to the log. Everything is restored on exit.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    previous = sys.stderr
    with path.open("w", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        sys.stderr = terminal
        try:
            yield terminal
        finally:
            terminal.flush()
            sys.stderr = previous
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()
