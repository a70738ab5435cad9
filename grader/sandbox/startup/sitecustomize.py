"""Run by every Python process in a graded kernel's sandbox (the sandbox puts it on PYTHONPATH),
and by the grader's judges.

It changes what the code *costs*, never what it computes. It does two things:

1. **The garbage collector's first threshold is 10,000 allocations, not 700** (and each older
   generation is collected every 20 collections of the one below, not 10). Importing the
   course's libraries and running a lesson make hundreds of thousands of objects that live
   on, and CPython's default scans them again and again: the higher thresholds cut a
   notebook's CPU by 15 to 35 % (05's cells in one process: 3.5 s to 2.8 s). Only *when*
   unreachable cycles are freed changes; reference counting frees everything else at once, as
   before. The course's notebooks peak at the same memory (05: 156 MiB either way); code that
   keeps many objects in cycles for a while and then drops them, again and again, holds more
   garbage before a full collection (50,000 such objects kept and dropped 60 times: 32 MiB at
   the default, 124 MiB here), far below the sandbox's memory limit.
2. It defers the grammars of ``rfc3987_syntax``. ``jsonschema`` imports that package when it is
   installed, and moto's API Gateway imports ``jsonschema`` (through its OpenAPI validator), so
   every notebook that talks to the local API Gateway built about thirty Earley parsers (over a
   second of CPU) that no lesson ever uses: they check the ``iri`` formats of JSON Schema.
   Here ``rfc3987_syntax`` is a stand-in module whose attributes come from the real one,
   imported on first use; ``is_valid_syntax`` (what ``jsonschema`` takes at import) is a
   function that imports the real module when it is first called, then calls it. Plain
   ``nbgrader`` kernels pay the grammars, and gain nothing from them either.

It is public (nothing here is secret or trusted: the learner may read or undo it) and uses
the standard library only. Kernels graded without the sandbox do not use it
(``grader/sandbox/site`` is theirs); the judges do, sandbox or not (:mod:`grader.judge.server`).
"""

import gc
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

_NAME = "rfc3987_syntax"


def _real() -> types.ModuleType:
    """The real ``rfc3987_syntax`` (imported, grammars and all, on the first call)."""
    found = sys.modules.get(_NAME)
    if isinstance(found, _Deferred):
        del sys.modules[_NAME]
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]
        found = importlib.import_module(_NAME)
    return found


def is_valid_syntax(term, value):
    """``rfc3987_syntax.is_valid_syntax``, its module imported on this first call."""
    return _real().is_valid_syntax(term, value)


class _Deferred(types.ModuleType):
    """``rfc3987_syntax`` until something else than ``is_valid_syntax`` is asked of it."""

    def __getattr__(self, name):
        if name == "is_valid_syntax":
            return is_valid_syntax
        if name.startswith("__"):  # the import system's questions (``__path__`` …)
            raise AttributeError(name)
        return getattr(_real(), name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Gives ``import rfc3987_syntax`` the stand-in, where the real package is installed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(_NAME + "."):  # a submodule: the real package imports it
            _real()
            if fullname in sys.modules:
                return importlib.machinery.ModuleSpec(fullname, _Loaded())
            return None
        if fullname != _NAME:
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname)
        if real is None:
            return None  # not installed: the import fails as it would have
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        spec.submodule_search_locations = list(real.submodule_search_locations or [])
        return spec

    def create_module(self, spec):
        return _Deferred(spec.name)

    def exec_module(self, module):
        module.__doc__ = "Stand-in for rfc3987_syntax: the real module loads on first use."


class _Loaded(importlib.abc.Loader):
    """A submodule the real package imported already: the same module object again."""

    def create_module(self, spec):
        return sys.modules[spec.name]

    def exec_module(self, module):
        pass


GC_THRESHOLDS = (10_000, 20, 20)
"""The collector's thresholds here (CPython's default: 700, 10, 10)."""

gc.set_threshold(*GC_THRESHOLDS)
if _NAME not in sys.modules:
    sys.meta_path.insert(0, _Finder())
