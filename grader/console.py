"""Keep the terminal for what a person reads: the progress line and the summary.

While autograde runs, everything else written to standard error (nbgrader's converter log,
the kernels' warnings such as "Kernel is running over TCP without encryption", a worker's
traceback) goes to a log file instead, by pointing file descriptor 2 at it: worker processes
and the kernels they start inherit it. The progress line keeps the original stream.
Python's warnings, which are written to ``sys.stderr`` as it is when they are shown (the
terminal, inside the block), go to the log too: SQLAlchemy's ``SAWarning`` about
nbgrader's gradebook objects ("... not in session ...") are for the log, not the instructor.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
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
    shown = warnings.showwarning
    with path.open("w", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        sys.stderr = terminal

        def to_log(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            """``warnings.showwarning`` while the block runs: into the log, never the terminal."""
            log.write(warnings.formatwarning(message, category, filename, lineno, line))
            log.flush()

        warnings.showwarning = to_log
        try:
            yield terminal
        finally:
            warnings.showwarning = shown
            terminal.flush()
            sys.stderr = previous
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()
