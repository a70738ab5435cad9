"""The student edition in a browser: the kit's own ``make lab`` installs it and serves JupyterLab.

The kit is written by ``python -m grader kit`` into a temporary folder, far from the course, and its
``make lab`` runs there as a learner's would: a fresh ``.venv`` (the first start installs the course
library and its dependencies, which takes minutes), then JupyterLab on 127.0.0.1. The learner's
Nbgrader menu offers the assignment list and no instructor item. Screenshot: ``build/e2e/kit-*.png``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from grader.authoring.kit import build_kit, solution_echoes

from ..conftest import COURSE
from .conftest import LAB_TOKEN, Lab, ServerExited, _stop, free_port, wait_for_http

pytestmark = pytest.mark.e2e

INSTALL_SECONDS = 1200  # the kit's first `make lab` creates its venv and installs everything


@pytest.fixture(scope="module")
def kit_lab(tmp_path_factory) -> Iterator[Lab]:
    """JupyterLab started by ``make lab`` inside a freshly written kit."""
    kit = build_kit(COURSE, tmp_path_factory.mktemp("kit") / "serverless-auth-lab").folder
    state = tmp_path_factory.mktemp("kit-lab-state")
    log = open(state / "make-lab.log", "w")  # noqa: SIM115 - closed below
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "PYTHONPATH", "JUPYTER"))
    }
    env["JUPYTER_RUNTIME_DIR"] = str(state / "runtime")
    proc = None
    for attempt in range(3):
        port = free_port()
        args = " ".join(
            [
                "--no-browser",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={LAB_TOKEN}",
                f"--LabApp.workspaces_dir={state / 'workspaces'}",
                f"--LabApp.user_settings_dir={state / 'settings'}",
            ]
        )
        proc = subprocess.Popen(
            ["make", "lab", f"LAB_ARGS={args}", f"PYTHON={shutil.which('python3') or 'python3'}"],
            cwd=kit,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(
                f"{url}/api/status", proc=proc, seconds=INSTALL_SECONDS, what="kit's make lab"
            )
            break
        except Exception as exc:
            _stop_group(proc)
            if not isinstance(exc, ServerExited) or attempt == 2:
                log.close()
                raise RuntimeError(f"{exc}; see {state / 'make-lab.log'}") from exc
    try:
        yield Lab(url=url, token=LAB_TOKEN, root=kit, log=state / "make-lab.log")
    finally:
        _stop_group(proc)
        log.close()


def _pip_version() -> str:
    """The pip both Makefiles install (PIP_VERSION in the course's Makefile)."""
    from grader.authoring.kit import _pip_version

    return _pip_version(COURSE)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop make and the JupyterLab it started (they share the session make leads)."""
    try:
        os.killpg(proc.pid, 15)
    except ProcessLookupError:
        return
    _stop(proc)


def test_the_kits_make_lab_serves_the_course_to_a_learner(page, kit_lab, screenshot_dir):
    """The kit installs itself, opens the start notebook, and its library is the kit's own."""
    kit = kit_lab.root
    python = kit / ".venv" / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import authlab; print(authlab.data_path('users.csv'))"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout.strip()
    assert Path(where) == kit / "data" / "users.csv"
    no_grader = subprocess.run([str(python), "-c", "import grader"], capture_output=True, cwd="/")
    assert no_grader.returncode != 0, "the kit's environment has no grader"
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def pinned(line: str) -> str:
        name, _, version = line.split(" ")[0].partition("==")
        return f"{canonicalize_name(name)}=={version}"

    pins = {
        pinned(line)
        for line in (kit / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith(" ")
    }
    got = {pinned(line) for line in installed.split()}
    got = {p for p in got if not p.startswith("setuptools==")}  # the venv's own, not used
    assert got <= pins | {f"pip=={_pip_version()}"}, f"not from the lock: {got - pins}"
    assert any(p.startswith("moto==") for p in got) and not any(
        p.startswith("pytest==") for p in got
    )
    log = kit_lab.log.read_text()
    assert "Amplify sign-in page" not in log, "the kit's page comes built: make lab builds nothing"
    assert (kit / "src" / "authlab" / "cloud" / "static" / "amplify-signin.js").is_file()
    echoes = solution_echoes(kit, COURSE)  # the library and data the learner got: no answer
    assert not echoes, "\n".join(map(str, echoes))

    page.goto(kit_lab.open("notebooks/00-start-here/00-start-here.ipynb"))
    page.locator(".jp-LabShell").wait_for()
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    listing = page.locator(".jp-DirListing-item")
    listing.first.wait_for()
    names = set(listing.all_inner_texts())
    assert "solutions" not in names and "grader" not in names
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    menu = page.locator("#jp-mainmenu-nbgrader")
    menu.get_by_role("menuitem", name="Assignment List").wait_for()
    items = set(menu.get_by_role("menuitem").all_inner_texts())
    assert not {i for i in items if "Formgrader" in i or "Course List" in i or "Create" in i}
    page.screenshot(path=screenshot_dir / "kit-lab.png")
