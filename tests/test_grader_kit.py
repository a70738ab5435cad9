"""The student edition: what a learner gets holds no solution, hidden test, rubric or grader."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.authoring.kit import build_kit, normalised_lines, solution_echoes
from grader.cli import main
from grader.course import Course, GraderError

from .conftest import COURSE, ROOT

BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "Rubric (")

# Three-line runs of a model answer that the course library ships on purpose: helpers that later
# notebooks call (their docstrings say "notebook 04 writes this call itself"). Each entry is
# (assignment, first line of the run); anything else found in the kit fails the test.
KNOWN_LIBRARY_OVERLAPS: set[tuple[str, str]] = set()  # none since edition 3 (issue 22 item 13)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The kit, written once for the module."""
    return build_kit(COURSE, tmp_path_factory.mktemp("kits") / "serverless-auth-lab")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _kit_texts(folder: Path) -> dict[Path, str]:
    """Each kit file's text, a notebook as its cells' sources, all as stripped lines."""
    texts = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace")
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        texts[path] = "\n" + "\n".join(_lines(text)) + "\n"
    return texts


def _secrets() -> list[tuple[str, str, list[str], str]]:
    """(assignment, kind, lines, cell type) of every solution, hidden test and written answer."""
    found = []
    for assignment in COURSE.assignments():
        for source in COURSE.source_notebooks(assignment):
            for cell in nbformat.read(source, as_version=4).cells:
                for kind, body in BLOCK.findall(cell.source):
                    found.append((assignment, kind, _lines(body), cell.cell_type))
    return found


def test_the_kit_holds_the_learners_files_only(kit):
    top = sorted(p.name for p in kit.folder.iterdir())
    assert top == [
        ".authlab-kit",
        ".gitignore",
        "Makefile",
        "README.md",
        "config",
        "data",
        "frontend",
        "nbgrader_config.py",
        "notebooks",
        "pyproject.toml",
        "requirements.lock",
        "src",
    ]
    assert sorted(p.name for p in (kit.folder / "src").iterdir()) == ["authlab"]
    assert [p.name for p in (kit.folder / "config").iterdir()] == ["ipython_kernel_config.py"]
    assert not (kit.folder / "data" / "submissions").exists()
    for path in (ROOT / "notebooks").rglob("*.ipynb"):
        if ".ipynb_checkpoints" not in path.parts:
            copy = kit.folder / path.relative_to(ROOT)
            assert copy.read_bytes() == path.read_bytes(), copy
    names = zipfile.ZipFile(kit.archive).namelist()
    files = {str(p.relative_to(kit.folder.parent)) for p in kit.folder.rglob("*") if p.is_file()}
    assert {n for n in names if not n.endswith("/")} == files


def test_no_marker_in_the_kit_or_its_zip(kit):
    for path, text in _kit_texts(kit.folder).items():
        raw = path.read_bytes().decode("utf-8", "replace")
        assert not [m for m in MARKERS if m in raw or m in text], path
    with zipfile.ZipFile(kit.archive) as archive:
        for name in archive.namelist():
            raw = archive.read(name).decode("utf-8", "replace")
            assert not [m for m in MARKERS if m in raw], name


def test_no_model_answer_hidden_test_or_rubric_text_in_the_kit(kit):
    texts = _kit_texts(kit.folder)
    blob = "".join(texts.values())
    secrets = _secrets()
    assert len(secrets) > 20, "the course has solutions and hidden tests"
    leaks = []
    for assignment, kind, lines, cell_type in secrets:
        whole = "\n" + "\n".join(lines) + "\n"
        if len(whole) > 30 and whole in blob:
            leaks.append((assignment, kind, "whole block", lines[0]))
        for start in range(max(1, len(lines) - 2)):
            run = "\n" + "\n".join(lines[start : start + 3]) + "\n"
            if sum(c.isalnum() for c in run) < 20:
                continue  # closing brackets and a call's name, e.g. ")\n)\ncheck_equal(": no answer
            if len(lines) >= 3 and run in blob:
                if (assignment, lines[start]) not in KNOWN_LIBRARY_OVERLAPS:
                    leaks.append((assignment, kind, "3 lines", lines[start]))
        long_lines = [line for line in lines if len(line) >= 40]
        if cell_type == "markdown":  # a model answer or a rubric: prose, each line distinctive
            leaks += [(assignment, kind, "line", line) for line in long_lines if line in blob]
    assert not leaks, leaks


def test_no_library_function_or_data_file_repeats_a_solution_cell(kit):
    """Issue 22 item 13: the library and the data ship no graded answer, even re-indented,
    re-quoted or re-wrapped. A finding names the kit's file and the solution cell."""
    echoes = solution_echoes(kit.folder, COURSE)
    assert not echoes, "graded answers in the kit:\n" + "\n".join(map(str, echoes))


def test_solution_echoes_finds_a_reformatted_copy_and_ignores_generic_lines(tmp_path):
    course_root = tmp_path / "course"
    folder = course_root / "solutions" / "01-demo"
    folder.mkdir(parents=True)
    body = (
        "def read(token):\n    ### BEGIN SOLUTION\n"
        "    header_b64, payload_b64, signature_b64 = token.split('.')\n"
        "    return claims\n    ### END SOLUTION\n"
    )
    cell = {"cell_type": "code", "id": "ex1_read", "metadata": {}, "source": body}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (folder / "01-demo.ipynb").write_text(json.dumps(notebook))
    library = course_root / "src" / "lib"
    library.mkdir(parents=True)
    (library / "clean.py").write_text("def f(claims):\n    return claims\n")
    (library / "copy.py").write_text(
        'def g(token):  # the answer again\n    header_b64,payload_b64,  signature_b64 = token.split(\n        "."\n    )\n'
    )
    data = course_root / "data"
    (data / "submissions").mkdir(parents=True)
    (data / "submissions" / "x.py").write_text(
        "header_b64, payload_b64, signature_b64 = token.split('.')"
    )
    (data / "bank.json").write_text(
        json.dumps({"a": ["header_b64, payload_b64, signature_b64 = token.split('.')"]})
    )
    echoes = sorted(solution_echoes(course_root, Course(course_root)), key=lambda e: e.file)
    assert [e.file for e in echoes] == ["data/bank.json", "src/lib/copy.py"]  # re-wrapped too
    assert str(echoes[0]).startswith("data/bank.json holds 01-demo cell 'ex1_read': ")
    (library / "copy.py").write_text("a = 1\nheader_b64, _, signature_b64 = token.split('.')\n")
    (data / "bank.json").write_text("{}")
    assert solution_echoes(course_root, Course(course_root)) == []  # clean.py: 'return claims'
    assert normalised_lines("  x = f( 'a',\n  ) # c\n\n") == ['x=f("a"', ")"]


def test_the_kits_make_lab_installs_the_library_alone_and_trims_the_menu(kit):
    makefile = (kit.folder / "Makefile").read_text()
    assert re.search(r"^lab: \$\(STAMP\) \$\(AMPLIFY_PAGE\)$", makefile, re.M)
    assert "--require-hashes -r requirements.lock" in makefile, "the kit installs the lock"
    assert "jupyter lab $(LAB_FLAGS) $(LAB_NOTEBOOK)" in makefile
    for plugin in ("formgrader", "course-list", "create-assignment"):
        assert f"labextension disable --level=sys_prefix @jupyter/nbgrader:{plugin}" in makefile
    assert "server extension disable --sys-prefix nbgrader.server_extensions.formgrader" in makefile
    assert "python -m grader" not in makefile
    project = tomllib.loads((kit.folder / "pyproject.toml").read_text())
    course = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == course["project"]["dependencies"]
    assert all(p.startswith("authlab") for p in project["tool"]["setuptools"]["packages"])
    assert "source_directory" not in (kit.folder / "nbgrader_config.py").read_text()


def test_the_kit_ships_the_amplify_page_built_and_its_source(kit):
    """Notebook 05 describes the Amplify page and its source file: the learner gets both, and
    the kit's make lab needs no npm registry (the page is newer than its sources)."""
    static = kit.folder / "src" / "authlab" / "cloud" / "static"
    bundle = static / "amplify-signin.js"
    assert bundle.is_file() and (static / "amplify-signin.html").is_file()
    assert (static / "signin.html").is_file() and (static / "netcheck.js").is_file()
    sources = [kit.folder / "frontend" / name for name in ("src/main.js", "index.html")]
    sources += [kit.folder / "frontend" / "package-lock.json", static / "netcheck.js"]
    assert all(bundle.stat().st_mtime > source.stat().st_mtime for source in sources)
    assert not (kit.folder / "frontend" / "node_modules").exists()
    assert "userPoolEndpoint" in (kit.folder / "frontend" / "src" / "main.js").read_text()
    makefile = (kit.folder / "Makefile").read_text()
    assert "$(AMPLIFY_PAGE): $(FRONTEND_SRC) | $(STAMP)" in makefile


def test_a_kit_without_the_built_amplify_page_is_refused(tmp_path, monkeypatch):
    import grader.authoring.kit

    monkeypatch.setattr(
        grader.authoring.kit, "AMPLIFY_FILES", ("amplify-signin.html", "not-built.js")
    )
    with pytest.raises(GraderError, match="Amplify page is not built.*make kit"):
        build_kit(COURSE, tmp_path / "kit")
    assert not (tmp_path / "kit").exists()


def test_the_kits_library_finds_the_kits_data(kit):
    code = "import authlab; print(authlab.data_path('users.csv'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(kit.folder / "src")},
        capture_output=True,
        text=True,
        check=True,
        cwd=kit.folder,
    ).stdout.strip()
    assert Path(out) == kit.folder / "data" / "users.csv"


def test_the_kits_readme_says_how_to_start_and_hand_in(kit):
    readme = (kit.folder / "README.md").read_text()
    assert "make lab" in readme and "make test" not in readme
    assert "Nbgrader > Assignment List" in readme and "Submit" in readme  # a shared JupyterHub
    assert "LMS" in readme and "upload the notebook file" in readme
    for assignment in COURSE.assignments():
        assert f"`{assignment}`" in readme


def test_cli_kit_refuses_to_overwrite_and_replaces_with_force(tmp_path, capsys):
    out = tmp_path / "kit"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["kit", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["kit", str(out), "--force"]) == 2
    assert "not a kit" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"  # nothing lost
    fresh = tmp_path / "fresh"
    assert main(["kit", str(fresh)]) == 0
    assert "Wrote the student edition" in capsys.readouterr().out
    assert main(["kit", str(fresh), "--force"]) == 0
    assert (tmp_path / "fresh.zip").is_file()
    assert main(["kit", str(ROOT / "notebooks" / "kit")]) == 2
    assert "outside the course's own folders" in capsys.readouterr().err
