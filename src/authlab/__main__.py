"""``python -m authlab decode|verify ...``: see :mod:`authlab.cli`."""

from .cli import main

raise SystemExit(main())
