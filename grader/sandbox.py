"""The sandbox each student's notebook runs in while it is graded.

What it does, for every kernel the grader starts:

* **working directory**: a fresh scratch folder (under the system's temp folder, never
  under the course) holding only that student's files; ``../solutions`` and the course's
  gradebook are not reachable by a relative path from it;
* **environment**: rebuilt from an allowlist (``PATH``, locale, ``JPY_*`` …); everything
  else, and anything that looks like a secret (``AWS_*``, ``*TOKEN*``, ``*SECRET*``,
  ``*KEY*``, ``*PASSWORD*`` …) is dropped; ``HOME`` is a scratch folder too, so
  ``~/.aws/credentials`` and the like are out of sight;
* **memory**: ``RLIMIT_AS`` (soft and hard) on the kernel process, set by
  ``sandbox_site/sitecustomize.py``, so a runaway allocation raises ``MemoryError``;
* **network**: Python sockets refuse every address but loopback, and name lookups every
  name but ``localhost`` (same file);
* **output**: a cell's captured output stops growing past :data:`MAX_OUTPUT_CHARS`;
* **the notebook itself** is executed from outside that folder (:mod:`grader.worker`), so
  the restored hidden tests are not a file the student's code can open;
* **warm start**: kernels are forked from a zygote that imported ipykernel and common
  libraries once (:mod:`grader.zygote`); each is still a new process running no earlier code.

What it does not do: it is not a security boundary against a determined attacker who runs
as the same operating-system user. Absolute paths (the course checkout, the interpreter's
own ``site-packages``) stay readable, and code that bypasses Python's ``socket`` module
(``ctypes``, a C extension, ``subprocess`` running ``curl``) can reach the network. For
that, run the grader in a container or as a separate user without network access. Likewise,
kernels of the same machine run as the same user: a notebook that goes looking by absolute
path could find a concurrently graded notebook's kernel connection file or the worker's
private gradebook copy (which holds the assignment's hidden tests) in the temp folder.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode

__all__ = [
    "MAX_OUTPUT_CHARS",
    "SITE_DIR",
    "SandboxExecute",
    "SandboxKernelManager",
    "scrub_env",
]

SITE_DIR = Path(__file__).with_name("sandbox_site")
"""The folder put first on the kernel's ``PYTHONPATH`` (it holds ``sitecustomize.py``)."""

MAX_OUTPUT_CHARS = 2_000_000
"""Characters of output kept per cell while it runs (nbgrader's LimitOutput trims further)."""

_KEEP = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "JPY_*",
    "PYTHONHASHSEED",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING",
    "MPLBACKEND",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "AUTHLAB_*",
    "NBGRADER_EXECUTION",
)
_SECRET = ("AWS_*", "*TOKEN*", "*SECRET*", "*KEY*", "*PASSW*", "*CREDENTIAL*", "*AUTH*")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name.upper(), pattern) for pattern in patterns)


def scrub_env(
    env: Mapping[str, str],
    *,
    home: str | None = None,
    memory_mb: int = 0,
    network: str = "loopback",
) -> dict[str, str]:
    """The environment a sandboxed kernel gets: allowlisted names, no secrets, sandbox switches.

    ``AUTHLAB_AWS`` survives (it selects the local AWS); any other name that looks like a
    secret is dropped even when allowlisted.
    """
    clean = {
        name: value
        for name, value in env.items()
        if _matches(name, _KEEP) and (name == "AUTHLAB_AWS" or not _matches(name, _SECRET))
    }
    clean["GRADER_SANDBOX"] = "1"
    clean["GRADER_MEMORY_MB"] = str(int(memory_mb))
    clean["GRADER_NETWORK"] = network
    clean["PYTHONPATH"] = str(SITE_DIR)
    if home:
        clean["HOME"] = home
        clean["USERPROFILE"] = home
    # matplotlib's font cache lives with the grading user; sharing it saves seconds per kernel.
    cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    if cache.is_dir():
        clean["MPLCONFIGDIR"] = str(cache)
    return clean


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts kernels with :func:`scrub_env`'s environment."""

    memory_mb = Integer(0, help="address-space limit of the kernel in MiB (0: none)").tag(
        config=True
    )
    network = Unicode("loopback", help="'loopback' (only 127.0.0.1 works) or 'open'").tag(
        config=True
    )
    home = Unicode("", help="HOME for the kernel (a scratch folder)").tag(config=True)
    warm = Bool(True, help="fork kernels from a warm zygote (grader.zygote)").tag(config=True)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        kw["env"] = scrub_env(
            kw.get("env") or os.environ,
            home=self.home or kw.get("cwd"),
            memory_mb=self.memory_mb,
            network=self.network,
        )
        forked = None
        if self.warm:
            from . import zygote

            forked = zygote.spawn(kernel_cmd, kw["env"], str(kw.get("cwd") or os.getcwd()))
        if forked is None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        provisioner = self.provisioner
        provisioner.process = forked
        provisioner.pid = forked.pid
        provisioner.pgid = forked.pid  # the kernel calls setsid(): its group is its pid
        provisioner.cwd = kw.get("cwd")
        self._reconcile_connection_info(provisioner.connection_info)


class SandboxExecute(Execute):
    """nbgrader's Execute preprocessor, with the sandboxed kernel and bounded output."""

    max_output_chars = Integer(MAX_OUTPUT_CHARS, help="output characters kept per cell").tag(
        config=True
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._sizes: dict[int, int] = {}

    def output(
        self, outs: list[NotebookNode], msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        size = self._sizes.get(cell_index, 0)
        if size > self.max_output_chars:
            return None
        content = msg.get("content", {})
        size += len(str(content.get("text", ""))) + len(str(content.get("data", "")))
        self._sizes[cell_index] = size
        if size > self.max_output_chars:
            note = new_output(
                "stream",
                name="stdout",
                text=f"\n[grader] output cut after {self.max_output_chars:,} characters\n",
            )
            outs.append(note)
            return note
        return super().output(outs, msg, display_id, cell_index)
