"""``python -m authlab decode|verify ...``: see :mod:`authlab.tokens.cli`."""

from .tokens.cli import main

raise SystemExit(main())
