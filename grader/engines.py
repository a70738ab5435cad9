"""One SQLAlchemy engine per gradebook file in a process, so that its SQL is compiled once.

nbgrader's :class:`~nbgrader.api.Gradebook` makes a new engine each time it opens a
database, and an engine keeps the SQL it has compiled (SQLAlchemy's compiled cache) for
itself alone. So every job in a worker, and every gradebook a class's run opens, compiled
the same statements again: about a fifth of a worker's CPU, measured with py-spy on a class
of complete submissions. :func:`share_engines` makes nbgrader's ``create_engine`` hand back
this process's engine for the same URL and arguments, its pool emptied first
(:meth:`sqlalchemy.engine.Engine.dispose`): no pooled connection outlives the previous
gradebook, so a database file written anew at the same path is opened anew. Only compiled
SQL is kept, never a row or a bound value.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

__all__ = ["MAX_ENGINES", "share_engines"]

MAX_ENGINES = 8
"""Engines kept per process (the oldest is disposed of and dropped past this)."""

_engines: OrderedDict[tuple, Any] = OrderedDict()
_owner = os.getpid()  # a forked child drops its parent's engines (they hold its connections)


def share_engines() -> None:
    """From now on in this process, nbgrader's gradebooks reuse one engine per URL."""
    import nbgrader.api as api
    import sqlalchemy

    if getattr(api.create_engine, "shared_by_grader", False):
        return
    make = sqlalchemy.create_engine

    def create_engine(url: Any, *args: Any, **kwargs: Any):
        global _owner
        if _owner != os.getpid():
            for inherited in _engines.values():
                inherited.dispose(close=False)  # SQLAlchemy's advice after a fork
            _engines.clear()
            _owner = os.getpid()
        key = (str(url), args, tuple(sorted(kwargs.items())))
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make(url, *args, **kwargs)
            while len(_engines) > MAX_ENGINES:
                _engines.popitem(last=False)[1].dispose()
        else:
            _engines.move_to_end(key)
            engine.dispose()  # a fresh pool: no connection to a file since replaced
        return engine

    create_engine.shared_by_grader = True  # type: ignore[attr-defined]
    api.create_engine = create_engine
