"""The course's IPython extension: hints from the first moment a kernel runs.

Every kernel started from the course's environment loads it (``make lab`` and ``make test``
copy ``config/ipython_kernel_config.py``, which names it, to ``etc/ipython`` in the
environment, where IPython reads its configuration),
so a learner who restarts the kernel and runs a cell halfway down still gets one line of
advice under a common error, and a ``NameError`` names the cell that defines the name.
A notebook can also load it by hand: ``%load_ext authlab.course.kernel``.
"""

from __future__ import annotations

from typing import Any

from .feedback import install_hints

__all__ = ["load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Install the course's hints in ``ipython`` (what ``%load_ext`` calls)."""
    install_hints(ipython)
