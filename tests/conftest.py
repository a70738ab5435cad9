"""Shared fixtures: the course on disk and a local AWS per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course import Course

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)


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
