"""grader.engines: nbgrader's gradebooks share one engine per URL in a process, and still
read a database file written anew at the same path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from nbgrader.api import Gradebook  # noqa: E402

from grader import engines  # noqa: E402

from .conftest import COURSE  # noqa: E402


@pytest.fixture
def shared():
    import nbgrader.api as api

    from grader.course import read_schema_version_here

    before = api.create_engine
    read_schema_version_here()  # new gradebooks without an alembic command, as in the grader
    engines.share_engines()
    yield
    api.create_engine = before
    engines._engines.clear()


def _students(url: str) -> list[str]:
    with Gradebook(url) as gb:
        return sorted(s.id for s in gb.students)


def test_a_second_gradebook_on_the_same_file_reuses_the_engine_and_its_compiled_sql(
    tmp_path, shared
):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as first:
        first.add_student("ada")
        engine = first.engine
        compiled = len(engine._compiled_cache)
    with Gradebook(url) as second:
        assert second.engine is engine
        assert second.find_student("ada").id == "ada"
    assert compiled > 0
    assert len(engine._compiled_cache) <= compiled + 2  # the same statements, compiled once


def test_a_file_replaced_at_the_same_path_is_read_anew(tmp_path, shared):
    path = tmp_path / "gradebook.db"
    url = f"sqlite:///{path}"
    with Gradebook(url) as gb:
        gb.add_student("ada")
    first = path.read_bytes()
    path.unlink()
    with Gradebook(url) as gb:
        gb.add_student("grace")
    assert _students(url) == ["grace"]
    path.unlink()
    path.write_bytes(first)
    assert _students(url) == ["ada"]


def test_a_forked_child_makes_engines_of_its_own(tmp_path, shared):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_student("ada")
        parent = id(gb.engine)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new engine, the same rows
        try:
            with Gradebook(url) as gb:
                ok = id(gb.engine) != parent and gb.find_student("ada").id == "ada"
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    said = os.read(read, 1)
    os.waitpid(pid, 0)
    assert said == b"1"
    assert _students(url) == ["ada"]


def test_engines_past_the_limit_are_disposed_of_oldest_first(tmp_path, shared):
    for index in range(engines.MAX_ENGINES + 3):
        _students(f"sqlite:///{tmp_path / f'g{index}.db'}")
    assert len(engines._engines) == engines.MAX_ENGINES
    assert str(tmp_path / "g0.db") not in " ".join(key[0] for key in engines._engines)


def test_removing_a_missing_or_linked_job_folder_changes_nothing_above_it(tmp_path):
    import stat

    from grader import worker

    parent = tmp_path / "tmp"
    parent.mkdir()
    parent.chmod(0o1777)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    elsewhere.chmod(0o755)
    (parent / "link").symlink_to(elsewhere)
    worker._remove(parent / "missing")
    worker._remove(parent / "link")
    assert stat.S_IMODE(parent.stat().st_mode) == 0o1777
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755


def test_every_job_of_a_process_uses_one_private_folder(tmp_path):
    import stat
    import tempfile

    from grader import worker

    first, second = worker._private_folder(), worker._private_folder()
    assert first == second and first.parent.parent == Path(tempfile.gettempdir())
    assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700


def test_a_new_gradebook_is_stamped_with_the_version_the_alembic_command_gives(
    tmp_path, monkeypatch
):
    """nbgrader asks an ``alembic heads`` process for its schema's version (about 5 s) each
    time it creates a gradebook; the grader reads it in its own process, once: the same, and
    no command runs."""
    import sqlite3
    import subprocess

    import nbgrader.api as api
    from nbgrader.dbutil import _temp_alembic_ini

    COURSE.nbgrader_config()
    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        said = subprocess.check_output(["alembic", "-c", ini, "heads"], text=True)

    def no_command(*args, **kwargs):
        raise AssertionError(f"nbgrader ran {args[0] if args else kwargs}")

    monkeypatch.setattr(api.sp, "check_output", no_command)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}"):
        pass
    with sqlite3.connect(tmp_path / "gradebook.db") as db:
        [(stamped,)] = db.execute("SELECT version_num FROM alembic_version").fetchall()
    assert said.split()[0] == stamped
