"""Reading and writing a student's files without trusting them.

A submission folder, and anything a sandbox may have touched, can hold symbolic links,
FIFOs, devices, and sparse files far larger than the disk. Everything here uses ``lstat``
and ``O_NOFOLLOW``, reads only regular files, and caps each file's apparent size and its
allocated size (blocks on disk), and the submission's total. What is refused is named in a
short reason an instructor can act on (it lands in the ``reason`` column of grades.csv).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NOTEBOOK_BYTES",
    "MAX_SUBMISSION_BYTES",
    "Staged",
    "StagingError",
    "human_size",
    "read_regular",
    "read_submission",
    "write_files",
]

MAX_FILE_BYTES = 50 * 2**20
"""A submitted file other than a notebook larger than this (apparent or allocated) is refused."""

MAX_NOTEBOOK_BYTES = 50 * 2**20
"""A notebook (submitted, or graded and read back) larger than this is refused."""

MAX_SUBMISSION_BYTES = 200 * 2**20
"""A submission's files beyond this total are refused."""


class StagingError(OSError):
    """A file that is not read: not a regular file, a link, or too large (``str`` says why)."""


def human_size(n: float) -> str:
    """``n`` bytes for a person: ``"40.0 GiB"``, ``"1000 bytes"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _check(info: os.stat_result, cap: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise StagingError(f"{_kind(info.st_mode)}, not read")
    allocated = getattr(info, "st_blocks", 0) * 512
    if info.st_size > cap:
        raise StagingError(
            f"{human_size(info.st_size)}, over the {human_size(cap)} limit, not read"
        )
    if allocated > cap:
        raise StagingError(
            f"{human_size(allocated)} on disk, over the {human_size(cap)} limit, not read"
        )


def read_regular(path: Path | str, cap: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link) of at most ``cap`` bytes.

    Raises :class:`StagingError` otherwise (a FIFO is never opened for reading in a way
    that blocks) and ``FileNotFoundError`` when it does not exist.
    """
    _check(os.lstat(path), cap)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _check(os.fstat(fd), cap)  # the same file we checked, not a swapped one
        chunks, total = [], 0
        while chunk := os.read(fd, min(1 << 20, cap + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise StagingError(f"grew past the {human_size(cap)} limit while read, not read")
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass
class Staged:
    """A submission's files as bytes (path relative to its folder, POSIX style) and the
    files refused, each ``(relative path, why)``."""

    files: dict[str, bytes] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def notes(self) -> list[str]:
        """One line per refused file, for the ``reason`` column."""
        return [f"{name}: {why}" for name, why in self.refused]


def read_submission(
    folder: Path,
    *,
    max_file: int = MAX_FILE_BYTES,
    max_notebook: int = MAX_NOTEBOOK_BYTES,
    max_total: int = MAX_SUBMISSION_BYTES,
) -> Staged:
    """Every regular file under ``folder`` (links are neither followed nor copied)."""
    staged = Staged()
    total = 0
    pending = [PurePosixPath()]
    while pending:
        rel_dir = pending.pop()
        try:
            entries = sorted(os.scandir(folder / rel_dir), key=lambda e: e.name)
        except OSError as exc:
            staged.refused.append((str(rel_dir), f"unreadable folder ({exc.strerror})"))
            continue
        for entry in entries:
            rel = rel_dir / entry.name
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                pending.append(rel)
                continue
            cap = max_notebook if entry.name.endswith(".ipynb") else max_file
            try:
                data = read_regular(folder / rel, cap)
            except StagingError as exc:
                staged.refused.append((str(rel), str(exc)))
                continue
            except OSError as exc:
                staged.refused.append((str(rel), f"unreadable ({exc.strerror})"))
                continue
            if total + len(data) > max_total:
                staged.refused.append(
                    (
                        str(rel),
                        f"the submission is over its {human_size(max_total)} limit, not read",
                    )
                )
                continue
            total += len(data)
            staged.files[str(rel)] = data
    return staged


def write_files(folder: Path, files: dict[str, bytes]) -> list[str]:
    """Write ``files`` under ``folder`` (created fresh files only, no link followed); return
    the names refused (absolute, escaping with ``..``, or clashing with a folder)."""
    refused = []
    for rel, data in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            refused.append(rel)
            continue
        target = folder.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(target, flags, 0o644)
        except OSError:
            refused.append(rel)
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    return refused
