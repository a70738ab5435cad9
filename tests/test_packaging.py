"""The set-up a newcomer meets: pyproject, environment.yml, Makefile, README, CI."""

from __future__ import annotations

import re
import subprocess
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in reqs}


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _lock(name: str = "requirements.lock") -> dict[str, list[list]]:
    """``{package: [[version, marker, hashes], ...]}`` of a lock file that `make lock` wrote (a
    universal lock pins a package once per set of Pythons or platforms that need another version)."""
    pins: dict[str, list[list]] = {}
    current = None
    for line in (ROOT / name).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = [match[2], match[3], 0]
            pins.setdefault(canonicalize_name(match[1]), []).append(current)
        elif line.strip().startswith("--hash=sha256:") and current:
            current[2] += 1
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{name}: a line `make lock` does not write: {line!r}")
    return pins


def _needed(requirements: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in requirements}


def test_the_lock_pins_every_range_of_pyproject_toml_with_hashes():
    """The versions a learner installs are the tested ones: every dependency of pyproject.toml is
    pinned in the lock at a version its range allows, and every pin carries its hashes."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    for lock, requirements in (
        ("requirements.lock", project["dependencies"] + project["optional-dependencies"]["dev"]),
        ("requirements-lab.lock", project["dependencies"]),
    ):
        pins = _lock(lock)
        for name, requirement in _needed(requirements).items():
            assert name in pins, f"{lock} lacks {name}: run `make lock`"
            for version, _marker, _hashes in pins[name]:
                assert requirement.specifier.contains(version, prereleases=True), (
                    f"{lock} pins {name}=={version}, outside pyproject.toml's "
                    f"{requirement.specifier}: run `make lock`"
                )
        for name, versions in pins.items():
            for version, _marker, hashes in versions:
                assert hashes, f"{lock}: {name}=={version} has no hash (make lock adds them)"
        assert "serverless-auth-lab" not in pins, "the course itself goes in with --no-deps -e ."


def test_the_student_kits_lock_is_the_same_versions_without_the_tools():
    full, lab = _lock("requirements.lock"), _lock("requirements-lab.lock")
    for name, versions in lab.items():
        mine, theirs = {v[0] for v in versions}, {v[0] for v in full.get(name, [])}
        assert mine <= theirs, f"{name}: {mine} in the kit's lock, {theirs} in the course's"
    for tool in ("pytest", "playwright", "uv", "ruff", "distributed", "jupyterhub"):
        assert tool in full and tool not in lab, tool


def test_the_lock_moves_only_on_purpose():
    """Every make target installs from the lock; only `make lock` and `make test-latest` resolve."""
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(LOCK)" in makefile
    assert re.search(r"^\$\(STAMP\): pyproject.toml \$\(LOCK\)$", makefile, re.MULTILINE)
    assert re.search(r"^lock:", makefile, re.MULTILINE)
    assert re.search(r"^test-latest:", makefile, re.MULTILINE)
    for line in makefile.splitlines():
        if "pip install" in line and "-e '.[dev]'" in line:
            assert "--upgrade" in line, "only test-latest installs from the ranges"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-latest" not in ci and "make lock" not in ci


def test_environment_yml_is_a_thin_layer_over_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    pip = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict)]
    names = {dep.split()[0] for dep in conda}
    assert names == {"python", "pip"}, f"conda installs Python and pip only, not {names}"
    assert pip == [["-r requirements.lock"]], "pip installs exactly the lock"
    python = next(dep for dep in conda if dep.startswith("python "))
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(python.split(" ", 1)[1].replace(" ", "").split(",")) == set(
        data["project"]["requires-python"].split(",")
    )
    post = (ROOT / "postBuild").read_text()
    assert "pip install" in post and "--no-deps -e ." in post


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
    for entry in (".venv/", "submitted/", "autograded/", "/feedback/", "gradebook.db"):
        assert entry in ignored
    # nbgrader's feedback/ folder at the course root only: the feedback package's modules are tracked
    tracked = subprocess.run(
        ["git", "ls-files", "src/authlab/course/feedback"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    on_disk = sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / "src/authlab/course/feedback").glob("*.py")
    )
    assert sorted(tracked) == on_disk
