"""Staging a submission without trusting it: links, FIFOs, sparse and oversized files."""

from __future__ import annotations

import os
import threading

import pytest

from grader.staging import Staged, StagingError, read_regular, read_submission, write_files


def test_regular_files_are_read_with_their_relative_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "sub" / "b.txt").write_text("b")
    staged = read_submission(tmp_path)
    assert staged.files == {"a.ipynb": b"{}", "sub/b.txt": b"b"}
    assert staged.refused == []


def test_links_are_neither_followed_nor_copied(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the solution")
    folder = tmp_path / "submission"
    folder.mkdir()
    os.symlink(secret, folder / "notes.txt")
    os.symlink(tmp_path, folder / "up")
    staged = read_submission(folder)
    assert staged.files == {}
    assert staged.notes() == [
        "notes.txt: a symbolic link, not read",
        "up: a symbolic link, not read",
    ]


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "graded.ipynb")
    outcome = {}

    def read():
        try:
            read_regular(tmp_path / "graded.ipynb")
        except StagingError as exc:
            outcome["error"] = str(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=60)  # a tolerance for a stuck reader, not a speed requirement
    assert outcome == {"error": "a FIFO, not read"}
    assert read_submission(tmp_path).notes() == ["graded.ipynb: a FIFO, not read"]


def test_sparse_and_oversized_files_are_refused_by_apparent_and_allocated_size(tmp_path):
    with open(tmp_path / "sparse.bin", "wb") as handle:
        handle.truncate(40 * 2**30)
    (tmp_path / "big.txt").write_bytes(b"x" * 20_000)
    (tmp_path / "small.txt").write_bytes(b"x" * 10)
    staged = read_submission(tmp_path, max_file=16_384)
    assert staged.files == {"small.txt": b"x" * 10}
    notes = staged.notes()
    assert "big.txt: 19.5 KiB, over the 16.0 KiB limit, not read" in notes
    assert "sparse.bin: 40.0 GiB, over the 16.0 KiB limit, not read" in notes


def test_the_submission_total_is_capped(tmp_path):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_bytes(b"x" * 100)
    staged = read_submission(tmp_path, max_total=250)
    assert sorted(staged.files) == ["a.txt", "b.txt"]
    assert staged.notes() == ["c.txt: the submission is over its 250 bytes limit, not read"]


def test_a_notebook_has_its_own_cap(tmp_path):
    (tmp_path / "n.ipynb").write_bytes(b"x" * 10_000)
    (tmp_path / "n.txt").write_bytes(b"x" * 10_000)
    staged = read_submission(tmp_path, max_notebook=8192, max_file=16_384)
    assert list(staged.files) == ["n.txt"]
    assert staged.notes() == ["n.ipynb: 9.8 KiB, over the 8.0 KiB limit, not read"]


def test_writing_refuses_escaping_names_and_never_follows_a_link(tmp_path):
    outside = tmp_path / "outside.txt"
    folder = tmp_path / "staged"
    folder.mkdir()
    os.symlink(outside, folder / "link.txt")
    refused = write_files(
        folder, {"../escape.txt": b"x", "/etc/x": b"x", "link.txt": b"x", "ok/a.txt": b"a"}
    )
    assert sorted(refused) == ["../escape.txt", "/etc/x", "link.txt"]
    assert not outside.exists() and not (tmp_path / "escape.txt").exists()
    assert (folder / "ok" / "a.txt").read_bytes() == b"a"


def test_missing_files_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "nothing.ipynb")
    assert Staged().notes() == []


def test_space_allocated_beyond_the_apparent_size_counts(tmp_path):
    import ctypes

    path = tmp_path / "small-looking.bin"
    path.write_bytes(b"x")
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_WRONLY)
    try:  # FALLOC_FL_KEEP_SIZE: blocks on disk, apparent size unchanged
        if libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(1 << 20)) != 0:
            pytest.skip("this file system cannot allocate beyond a file's size")
    finally:
        os.close(fd)
    staged = read_submission(tmp_path, max_file=65_536)
    assert staged.notes() == [
        "small-looking.bin: 1.0 MiB on disk, over the 64.0 KiB limit, not read"
    ]
