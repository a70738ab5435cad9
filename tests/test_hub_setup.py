"""`make hub`'s set-up, without starting a hub (the whole term in a browser: tests/e2e/test_hub.py)."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def hub_run():
    spec = importlib.util.spec_from_file_location("hub_run", ROOT / "hub" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_exchange_configuration_and_a_learners_menu(hub_run, tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 30\n")
    etc = hub_run.write_configs(tmp_path, kit)
    common = (etc / "common" / "nbgrader_config.py").read_text()
    assert f"c.Exchange.root = {str(tmp_path / 'exchange')!r}" in common
    assert "c.CourseDirectory.course_id = 'serverless-auth-lab'" in common
    # The student's folder holds no exchange setting of its own: one configuration for both.
    student = etc / "student"
    assert "Exchange" not in (student / "nbgrader_config.py").read_text()
    server = json.loads((student / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == {
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
    }
    page = json.loads((student / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(hub_run.INSTRUCTOR_PLUGINS)
    assert "@jupyter/nbgrader:formgrader" in page["disabledExtensions"]


def test_the_exchange_is_world_writable_with_the_sticky_bit(hub_run, tmp_path):
    exchange = hub_run.make_exchange(tmp_path)
    assert exchange.stat().st_mode & 0o7777 == 0o1777


def test_the_checkouts_solutions_are_found_and_its_library_is_not(hub_run):
    found = {p.relative_to(ROOT).as_posix() for p in hub_run.instructor_only_folders()}
    assert {"solutions", "data/submissions"} <= found
    # What every user's Python must read stays readable: the library, the grader, the venv.
    assert not found & {"src", "grader", "hub", ".venv", "notebooks", "data"}


def test_the_class_environment_is_kept_and_pointed_at_the_checkout_that_runs(
    hub_run, tmp_path, monkeypatch
):
    """Built once per lock; another checkout only installs the course (editable) again."""
    calls = []
    monkeypatch.setattr(hub_run, "CLASS_VENV", tmp_path / "venv")
    monkeypatch.setattr(hub_run, "usable_by_all", lambda path: path.name == "python3")
    monkeypatch.setattr(hub_run, "open_to_all", lambda folder: None)

    def run(command, **kwargs):
        calls.append([str(part) for part in command])
        (tmp_path / "venv").mkdir(exist_ok=True)

    monkeypatch.setattr(hub_run.subprocess, "run", run)
    assert hub_run.class_environment(as_root=False) == hub_run.VENV_BIN
    assert not calls
    assert hub_run.class_environment(as_root=True) == tmp_path / "venv" / "bin"
    assert (
        any("--require-hashes" in c for c in calls) and ["bash", str(ROOT / "postBuild")] in calls
    )
    calls.clear()
    assert hub_run.class_environment(as_root=True) == tmp_path / "venv" / "bin"
    assert calls == []  # same lock, same checkout: nothing to do
    stamp = tmp_path / "venv" / ".authlab-lock"
    built = json.loads(stamp.read_text())
    assert built["course"].startswith(f"{ROOT} ")
    # Another checkout (or another pyproject.toml) ran last: only the course is installed again.
    stamp.write_text(json.dumps({**built, "course": "/elsewhere 0123"}))
    hub_run.class_environment(as_root=True)
    assert len(calls) == 1 and calls[0][-2:] == ["-e", str(ROOT)] and "--no-deps" in calls[0]
    assert json.loads(stamp.read_text()) == built
    stamp.write_text(json.dumps({**built, "key": "an older lock"}))
    calls.clear()
    hub_run.class_environment(as_root=True)
    assert any("--require-hashes" in c for c in calls)  # a new lock: installed again


def test_the_course_config_leaves_a_hubs_exchange_alone():
    text = (ROOT / "nbgrader_config.py").read_text()
    assert re.search(r'if "JUPYTERHUB_API_URL" not in os.environ:\n    c.Exchange.root', text)


def test_the_proxy_is_pinned_with_integrity_hashes():
    package = json.loads((ROOT / "hub" / "package.json").read_text())
    lock = json.loads((ROOT / "hub" / "package-lock.json").read_text())
    version = package["dependencies"]["configurable-http-proxy"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "an exact version"
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages["node_modules/configurable-http-proxy"]["version"] == version
    assert all(v.get("integrity", "").startswith("sha512-") for v in packages.values())


def test_make_hub_is_a_target_that_runs_hub_run():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^hub: \$\(STAMP\)", makefile, re.MULTILINE)
    assert "$(BIN)/python hub/run.py $(HUB_ARGS)" in makefile
    config = (ROOT / "hub" / "jupyterhub_config.py").read_text()
    for line in ('c.JupyterHub.ip = "127.0.0.1"', 'c.JupyterHub.hub_ip = "127.0.0.1"'):
        assert line in config


def test_the_docs_say_what_was_tested():
    docs = (ROOT / "docs" / "hub.md").read_text()
    for words in ("The Littlest JupyterHub", "--dask", "What was tested here", "Not tested here"):
        assert words in docs
