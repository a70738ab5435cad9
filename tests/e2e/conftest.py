"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, a JupyterLab server.

These tests carry the ``e2e`` marker, which ``make test`` deselects (pyproject's addopts) so that
the suite passes on machines without a browser; ``make e2e`` installs Chromium if it can and runs
them. Screenshots land in ``build/e2e/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ..conftest import ROOT

CHROMIUM = Path(os.environ.get("AUTHLAB_CHROMIUM", "/usr/bin/chromium"))
# Headless, and quiet: this machine has no network, so Chromium must not try to phone home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ROOT / "build" / "e2e"
LAB_TOKEN = "authlab-e2e-token"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerExited(RuntimeError):
    """The server process ended before it answered (e.g. its port was taken meanwhile)."""


def wait_for_http(
    url: str, *, proc: subprocess.Popen | None = None, seconds: float = 120, what: str = "server"
) -> None:
    """Poll ``url`` until it answers; fail at once if ``proc`` exits, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerExited(f"the {what} exited with status {proc.returncode} before answering")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            time.sleep(0.1)
    raise RuntimeError(f"the {what} did not answer at {url} within {seconds:.0f} s")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """build/e2e/ (git-ignored): each test overwrites its own screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never Playwright's own browser build)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `make e2e` (as root it installs Debian's chromium)"
        if "AUTHLAB_CHROMIUM" in os.environ:  # set by `make e2e`: a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab (own cookies and storage) with a laptop-sized window."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    yield page
    context.close()


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its base URL, token and the course copy it serves."""

    url: str
    token: str
    root: Path
    log: Path | None = None  # what started it wrote (the kit's make lab)

    def open(self, path: str = "") -> str:
        """The URL that opens ``path`` (a notebook or folder under root) in JupyterLab."""
        where = f"/tree/{path}" if path else ""
        # ?reset: start from an empty workspace, not the tabs a previous test left open.
        return f"{self.url}/lab{where}?reset&token={self.token}"


@pytest.fixture(scope="session")
def course_copy(tmp_path_factory) -> Path:
    """A throwaway copy of the course, so Run All and Validate never touch the repository."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    shutil.copytree(ROOT / "solutions", root / "solutions")
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


@pytest.fixture(scope="session")
def lab(course_copy: Path, tmp_path_factory) -> Iterator[Lab]:
    """JupyterLab from the venv, as `make lab` starts it, on a free port of 127.0.0.1."""
    with serve_lab(course_copy, tmp_path_factory.mktemp("lab-state")) as running:
        yield running


@contextmanager
def serve_lab(root: Path, state: Path) -> Iterator[Lab]:
    """Run JupyterLab on the course folder ``root`` (its state under ``state``) until exit."""
    jupyter = Path(sys.executable).with_name("jupyter")
    log = open(state / "jupyter.log", "w")  # noqa: SIM115 - closed below
    # free_port() releases the port before JupyterLab binds it: if something else takes it in
    # between, JupyterLab exits (port_retries=0) and we try again on another port.
    for attempt in range(3):
        port = free_port()
        proc = _start_jupyter(jupyter, port, root, state, log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/api/status", proc=proc, what="JupyterLab server")
            break
        except Exception as exc:
            _stop(proc)
            if not isinstance(exc, ServerExited) or attempt == 2:
                log.close()
                raise RuntimeError(f"{exc}; see {state / 'jupyter.log'}") from exc
    try:
        yield Lab(url=url, token=LAB_TOKEN, root=root)
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    """Terminate ``proc``, killing it if it has not ended 30 s later."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _start_jupyter(
    jupyter: Path, port: int, course_copy: Path, state: Path, log
) -> subprocess.Popen:
    """Start ``jupyter lab`` as `make lab` does, on ``port``, logging to ``log``."""
    return subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            *(["--allow-root"] if os.geteuid() == 0 else []),
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={LAB_TOKEN}",
            f"--ServerApp.root_dir={course_copy}",
            f"--LabApp.workspaces_dir={state / 'workspaces'}",
            f"--LabApp.user_settings_dir={state / 'settings'}",
        ],
        cwd=course_copy,  # nbgrader's server extensions read nbgrader_config.py from here
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            # As `make lab` does: nbgrader runs the venv's `alembic` to create the gradebook.
            "PATH": f"{jupyter.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        },
    )
