"""The set-up a newcomer meets: pyproject, environment.yml, Makefile, README, CI."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from .conftest import ROOT


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in reqs}


def _conda_requirements() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep["pip"])
            continue
        name, _, spec = dep.partition(" ")
        conda[name.lower()] = spec.replace(" ", "")
    return conda, pip


def _normalise(spec: str) -> set[str]:
    return set(spec.split(","))


def test_every_dependency_has_compatible_bounds():
    for name, spec in _pyproject_requirements().items():
        assert ">" in spec and "<" in spec, f"{name} needs a lower and an upper bound: {spec!r}"


def test_environment_yml_lists_the_same_dependencies():
    conda, pip = _conda_requirements()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    for name, spec in _pyproject_requirements().items():
        assert name in conda, f"environment.yml lacks {name}"
        assert _normalise(conda[name]) == _normalise(spec), (name, conda[name], spec)
    extra = set(conda) - set(_pyproject_requirements()) - {"python", "pip"}
    assert not extra, f"environment.yml has dependencies pyproject.toml lacks: {extra}"
    assert pip == ["-e .[dev]"], "the course itself is installed with pip, as make lab does"


def test_python_range_matches():
    conda, _ = _conda_requirements()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert _normalise(conda["python"]) == _normalise(data["project"]["requires-python"])


def test_readme_gives_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make lab" in text and "make test" in text


def test_makefile_has_the_targets_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    for target in (
        "lab",
        "test",
        "e2e",
        "release",
        "kit",
        "autograde",
        "feedback",
        "report",
        "export",
        "lint",
        "bench",
    ):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert "--ServerApp.ip=127.0.0.1" in makefile  # never a public address
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make e2e" in ci, "CI runs the browser tests too"


def test_readme_documents_every_instructor_command():
    from grader.cli import _parser

    text = (ROOT / "README.md").read_text()
    sub = next(a for a in _parser()._actions if a.dest == "command")
    for command in sub.choices:
        assert f"grader {command}" in text, f"README does not show `python -m grader {command}`"


def test_nbgrader_config_names_the_folders():
    text = (ROOT / "nbgrader_config.py").read_text()
    assert 'source_directory = "solutions"' in text
    assert 'release_directory = "notebooks"' in text
    assert "Execute.timeout" in text


def test_gitignore_keeps_nbgrader_work_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in (".venv/", "submitted/", "autograded/", "feedback/", "gradebook.db"):
        assert entry in ignored
