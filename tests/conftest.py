"""Shared fixtures: the course on disk and a local AWS per test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from grader.course import Course

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)

# Property tests must not fail because a busy machine is slow, and CI (CI=true) must be
# repeatable: there the examples are derived from each test, not drawn at random.
settings.register_profile("local", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("local"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "local")


@pytest.fixture(scope="session")
def course() -> Course:
    """The course repository under test."""
    return COURSE


@pytest.fixture(scope="module")
def moto_server():
    """A moto server on 127.0.0.1 for the tests of one module, wiped before each use."""
    from authlab import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture
def aws(moto_server):
    """The module's moto server, reset so each test starts from nothing."""
    moto_server.reset()
    return moto_server


@pytest.fixture(scope="session", autouse=True)
def temp_folder_untouched():
    """No test, and nothing the grader does in one, changes the mode of the machine's temp
    folder (a grader bug once made /tmp 0700, and other users' servers failed)."""
    import stat
    import tempfile

    folder = tempfile.gettempdir()
    before = stat.S_IMODE(os.stat(folder).st_mode)
    yield
    assert stat.S_IMODE(os.stat(folder).st_mode) == before, f"{folder}'s mode changed"
