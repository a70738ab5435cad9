"""The code's shape: rooms on a ground floor, no import cycle, no import-order magic.

For the course library (``src/authlab``: three rooms) and the grader (``grader/``: four rooms
and the command line above them), every module is imported on its own in a fresh
interpreter state; the import graph (every ``import`` statement, inside functions and
``TYPE_CHECKING`` blocks too) has no cycle; a room imports only the ground and the rooms
listed before it; the modules that moved into rooms are gone, and nothing in the repository
names them any more.
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


def imports_of(name: str, modules: dict[str, Path] | None = None) -> set[str]:
    """The modules of ``modules`` (default: authlab's) that ``name`` imports, anywhere in its
    source, relative imports resolved."""
    modules = MODULES if modules is None else modules
    path = modules[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
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
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                for alias in node.names
            ]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
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


LAZY = {"_LATER", "__getattr__", "__dir__"}
"""What ``authlab/__init__.py`` alone may hold besides re-exports: the names it re-exports on
first use (PEP 562), so that a kernel that never calls AWS does not import boto3."""


def test_package_inits_only_re_export():
    for name, path in MODULES.items():
        if not is_package(name):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            targets = {t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)}
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = {node.target.id}
            dunder = isinstance(node, ast.Assign) and targets <= {"__all__", "__version__"}
            relative = isinstance(node, ast.ImportFrom) and node.level > 0
            lazy = name == "authlab" and (
                targets <= LAZY
                and targets
                or isinstance(node, ast.FunctionDef)
                and node.name in LAZY
            )
            assert docstring or dunder or relative or lazy, (
                f"{path}:{node.lineno} is not a re-export"
            )


def test_the_packages_names_load_on_first_use_and_a_kernel_loads_no_aws():
    """Every name of ``authlab.__all__`` resolves; the course's kernel extension imports
    neither boto3 nor cryptography until a notebook uses them."""
    script = """
import sys
import authlab.course.kernel
early = sorted(m for m in ("boto3", "botocore", "cryptography") if m in sys.modules)
import authlab
missing = [n for n in authlab.__all__ if getattr(authlab, n, None) is None]
print(early, missing, "start_moto" in dir(authlab), "boto3" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split("\n")[0] == "[] [] True True"


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


# --- the grader: four rooms between the ground and the command line ---------------------------

GRADER = ROOT / "grader"

GRADER_GROUND = {"grader.course", "grader.staging"}
"""The course on disk and untrusted files read safely: every room may use them."""

GRADER_ROOMS = ["ground", "sandbox", "judge", "authoring", "records", "batch"]
"""In order: a module may import its own room and the rooms before it, never one after.
``batch`` is the command line and the grading batch, the modules directly in ``grader/``."""

GRADER_APART = {"records": {"sandbox", "judge"}}
"""Rooms that know nothing of some rooms below them: the records never reach into the
sandbox or the judge (what they keep comes to them as data, through the batch)."""

GRADER_MOVED = [
    "bwrap", "cgroups", "sandbox_site", "judge_server", "judged_execute", "link", "probe",
    "wire", "netns", "release", "lint", "samples", "integrity", "kit", "memorize", "execute",
    "ledger", "results", "feedback", "report", "rubrics", "export", "ingest", "receipts",
    "safecsv",
]  # fmt: skip
"""Modules that lived at ``grader.<name>`` before the rooms (``grader.sandbox`` and
``grader.judge`` are rooms now: their old modules are ``.kernel`` and ``.script``)."""


def grader_module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


GRADER_MODULES = {
    grader_module_name(path): path
    for path in sorted(GRADER.rglob("*.py"))
    if path.name != "__main__.py"
    and not {"site", "startup"} & set(path.relative_to(GRADER).parts[:-1])
}
"""Every grader module (``sandbox/site/`` and ``sandbox/startup/`` hold the
``sitecustomize.py`` of kernels: they run there, not in the grader)."""


def grader_imports(name: str, modules: dict[str, Path] | None = None) -> set[str]:
    """The grader modules ``name`` imports, anywhere in its source."""
    return imports_of(name, GRADER_MODULES if modules is None else modules)


def grader_room(name: str) -> str | None:
    if name in GRADER_GROUND:
        return "ground"
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in GRADER_ROOMS:
        return parts[1]
    return "batch" if len(parts) == 2 else None


def grader_room_problems(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for name, targets in graph.items():
        room = grader_room(name)
        if room is None or name == "grader":
            continue
        for target in targets:
            target_room = grader_room(target)
            if (
                target_room is None
                or GRADER_ROOMS.index(target_room) > GRADER_ROOMS.index(room)
                or target_room in GRADER_APART.get(room, ())
            ):
                wrong.append(f"{name} ({room}) imports {target} ({target_room or 'a package'})")
    return wrong


def test_the_grader_import_graph_has_no_cycle():
    graph = {name: grader_imports(name) for name in GRADER_MODULES}
    assert graph["grader.judge.execute"] >= {"grader.judge.script", "grader.sandbox.kernel"}
    assert graph["grader.autograde"] >= {"grader.records.grades", "grader.records.ledger"}
    assert cycles(graph) == []


def test_no_grader_room_imports_a_room_above_it():
    graph = {name: grader_imports(name) for name in GRADER_MODULES}
    assert grader_room_problems(graph) == []


def test_the_room_check_catches_an_upward_import(tmp_path):
    """The records importing the sandbox, the judge importing the records (inside a function),
    or the sandbox importing the judge (for a type only) each fail."""
    wrong = {
        "grader.records.x": "from ..sandbox.kernel import SandboxExecute\n",
        "grader.judge.x": "def f():\n    from grader.records.grades import GradeRow\n",
        "grader.sandbox.x": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..judge.link import KernelLink\n",
    }
    modules = dict(GRADER_MODULES)
    for name, source in wrong.items():
        path = tmp_path / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        modules[name] = path
    graph = {name: grader_imports(name, modules) for name in wrong}
    assert grader_room_problems(graph) == [
        "grader.records.x (records) imports grader.sandbox.kernel (sandbox)",
        "grader.judge.x (judge) imports grader.records.grades (records)",
        "grader.sandbox.x (sandbox) imports grader.judge.link (judge)",
    ]


def test_every_grader_module_belongs_to_a_room():
    loose = [n for n in GRADER_MODULES if n != "grader" and grader_room(n) is None]
    assert loose == []
    assert {grader_room(n) for n in GRADER_MODULES if n != "grader"} == set(GRADER_ROOMS)


@pytest.mark.parametrize("room", ["sandbox", "judge"])
def test_the_sandbox_and_the_judge_say_what_they_trust(room):
    doc = ast.get_docstring(ast.parse((GRADER / room / "__init__.py").read_text()))
    assert "**Trusted**" in doc and "**Not trusted**" in doc


def test_grader_room_packages_hold_only_their_docstring():
    for name, path in GRADER_MODULES.items():
        if path.name == "__init__.py":
            body = ast.parse(path.read_text(encoding="utf-8")).body
            assert len(body) == 1 and isinstance(body[0], ast.Expr), f"{name} is more than a doc"


def test_every_grader_module_imports_on_its_own():
    """Each grader module in a clean grader state, so none relies on another's import."""
    script = """
import importlib, json, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "grader" or m.startswith("grader.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(sorted(GRADER_MODULES))],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


@pytest.mark.parametrize("old", GRADER_MOVED)
def test_moved_grader_modules_left_no_shim(old):
    with pytest.raises(ModuleNotFoundError):
        __import__(f"grader.{old}")


def test_nothing_in_the_repository_names_a_moved_grader_module():
    import re

    pattern = re.compile(
        r"\bgrader[./](" + "|".join(GRADER_MOVED) + r")\b(?!\.py\b)|"
        r"\bgrader/(" + "|".join(GRADER_MOVED) + r"|sandbox|judge)\.py\b|"
        r"\bfrom grader import .*\b(" + "|".join(GRADER_MOVED) + r")\b"
    )
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    stale = []
    for rel in tracked:
        path = ROOT / rel
        if rel == "tests/test_imports.py" or not path.is_file():
            continue
        if path.suffix not in {".py", ".ipynb", ".md", ".json", ".yml", ".toml", ".cfg", ""}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                stale.append(f"{rel}:{number}: {line.strip()[:100]}")
    assert stale == []
