"""Run by every Python process in a graded kernel's sandbox (the sandbox puts it on PYTHONPATH).

It changes what an import *costs*, never what any code computes: the one thing it does is
defer the grammars of ``rfc3987_syntax``. ``jsonschema`` imports that package when it is
installed, and moto's API Gateway imports ``jsonschema`` (through its OpenAPI validator), so
every notebook that talks to the local API Gateway built about thirty Earley parsers (over a
second of CPU) that no lesson ever uses: they check the ``iri`` formats of JSON Schema.
Here ``rfc3987_syntax`` is a stand-in module whose attributes come from the real one,
imported on first use; ``is_valid_syntax`` (what ``jsonschema`` takes at import) is a
function that imports the real module when it is first called, then calls it. Plain
``nbgrader`` kernels pay the grammars, and gain nothing from them either.

It is public (nothing here is secret or trusted: the learner may read or undo it) and uses
the standard library only. Without the sandbox it is not used (``grader/sandbox/site`` is).
"""

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


if _NAME not in sys.modules:
    sys.meta_path.insert(0, _Finder())
