"""The library's shape: three rooms on one ground floor, no import cycle, no import-order magic.

Every module is imported on its own in a fresh interpreter state; the import graph (every
``import`` statement, inside functions and ``TYPE_CHECKING`` blocks too) has no cycle; a
room imports only the ground and the rooms listed before it; the modules that moved in the
three-rooms change are gone, and nothing in the repository names them any more.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "authlab"

GROUND = {"authlab.errors", "authlab.clock", "authlab.data"}
ROOMS = ["ground", "tokens", "cloud", "course"]
"""In order: a module may import its own room and the rooms before it, never one after."""

MOVED = [
    "aws", "attacks", "authorizer_events", "authorizers", "cli", "cognito", "denylist",
    "display", "federation", "feedback", "fleet", "forge", "gateway", "gateway_auth",
    "gateway_config", "gateway_custom", "gateway_events", "idp", "jwks", "jws",
    "localhttp", "pricing", "questions", "quiz", "refresh", "signin", "verify",
]  # fmt: skip
"""Modules that lived at ``authlab.<name>`` before the three rooms."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path for path in sorted(PACKAGE.rglob("*.py")) if path.name != "__main__.py"
}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imports_of(name: str) -> set[str]:
    """The authlab modules ``name`` imports, anywhere in its source."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    base = name.split(".") if is_package(name) else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                origin = ".".join(anchor + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in MODULES else origin
                for alias in node.names
            ]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


def room_of(name: str) -> str | None:
    if name in GROUND:
        return "ground"
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_has_no_cycle():
    graph = {name: imports_of(name) for name in MODULES}
    assert graph["authlab.cloud.gateway.server"] >= {
        "authlab.cloud.gateway.jwt_authorizer",
        "authlab.cloud.gateway.lambda_authorizer",
    }  # the finder sees real edges
    assert cycles(graph) == []


def test_no_room_imports_a_room_after_it():
    wrong = []
    for name in MODULES:
        room = room_of(name)
        if room is None:
            continue  # authlab/__init__ re-exports from every room
        for target in imports_of(name):
            target_room = room_of(target)
            if target_room is None or ROOMS.index(target_room) > ROOMS.index(room):
                wrong.append(f"{name} ({room}) imports {target} ({target_room or 'the package'})")
    assert wrong == []


def test_every_module_belongs_to_a_room():
    loose = [n for n in MODULES if n != "authlab" and room_of(n) is None]
    assert loose == []


def test_package_inits_only_re_export():
    for name, path in MODULES.items():
        if not is_package(name):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            dunder = isinstance(node, ast.Assign) and all(
                isinstance(t, ast.Name) and t.id in ("__all__", "__version__") for t in node.targets
            )
            relative = isinstance(node, ast.ImportFrom) and node.level > 0
            assert docstring or dunder or relative, f"{path}:{node.lineno} is not a re-export"


def test_every_module_imports_on_its_own():
    """Each module in a clean authlab state, so none relies on another having been imported."""
    script = """
import importlib, json, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "authlab" or m.startswith("authlab.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""
    names = sorted(MODULES) + ["authlab.tokens.cli"]
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_the_dispatch_table_is_built_by_the_server_not_by_import_side_effects():
    script = (
        "import authlab.cloud.gateway.server as s, sys;"
        "print(sorted(s.AUTHORIZATION_TYPES));"
        "print('authlab.cloud.gateway.lambda_authorizer' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split("\n")[0] == "['CUSTOM', 'JWT', 'NONE']"
    from authlab.cloud.gateway.server import AUTHORIZATION_TYPES

    with pytest.raises(TypeError):
        AUTHORIZATION_TYPES["AWS_IAM"] = print  # read-only: a gateway copies it to extend it


@pytest.mark.parametrize("old", MOVED)
def test_moved_modules_left_no_shim(old):
    with pytest.raises(ModuleNotFoundError):
        __import__(f"authlab.{old}")


def test_nothing_in_the_repository_names_a_moved_module():
    import re

    old_static = "src/authlab/" + "static/"  # split, so that this line does not match itself
    pattern = re.compile(r"\bauthlab\.(" + "|".join(MOVED) + r")\b|" + old_static)
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    stale = []
    for rel in tracked:
        path = ROOT / rel
        if path.suffix not in {".py", ".ipynb", ".md", ".json", ".yml", ".toml", ".html", ".cfg"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                stale.append(f"{rel}:{number}: {line.strip()[:100]}")
    assert stale == []
