"""Where the course's data files live: ``authlab.data_path("users.csv")``."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigurationError

__all__ = ["data_path", "project_root"]

_ENV = "AUTHLAB_DATA"


def project_root() -> Path:
    """The course repository's root: the folder that holds ``data/`` and ``solutions/``."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "data").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    raise ConfigurationError(
        f"Cannot find the course folder (with data/ and pyproject.toml) above {here.parent}.",
        hint=f"Install the course with 'make lab', or set {_ENV} to its data folder.",
    )


def data_path(*parts: str, must_exist: bool = True) -> Path:
    """The path of a file in the course's ``data/`` folder.

    Notebooks use this instead of ``../data`` so they run from any working
    directory. ``AUTHLAB_DATA`` overrides the folder.
    """
    base = Path(os.environ[_ENV]) if os.environ.get(_ENV) else project_root() / "data"
    path = base.joinpath(*parts)
    if must_exist and not path.exists():
        raise ConfigurationError(
            f"No data file {'/'.join(parts)!r} in {base}.",
            hint="Check the name; the files are listed in the data/ folder.",
        )
    return path
