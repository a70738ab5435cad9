"""Where the learner's browser reaches a local server: the same link on a laptop and on a hub.

The course's servers (the moto server, the local API Gateway and its sign-in pages, the identity
providers) listen on ``http://127.0.0.1:<port>`` of the machine the notebook's kernel runs on. On a
laptop the browser runs there too, so that URL works as it is. On a JupyterHub the browser is on
another machine: it reaches the learner's own Jupyter server, and through it, with
`jupyter-server-proxy <https://jupyter-server-proxy.readthedocs.io/>`_, a local port at
``/user/<name>/proxy/<port>/``. Only the signed-in owner of that server gets through (the hub's
login guards the whole ``/user/<name>/`` prefix), and the local servers still bind 127.0.0.1 only.

JupyterHub tells each single-user server (and so its kernels) its URL prefix in the
``JUPYTERHUB_SERVICE_PREFIX`` environment variable; :func:`browser_url` uses it when present::

    browser_url("http://127.0.0.1:8123/_static/signin.html?x=1")
    # laptop: 'http://127.0.0.1:8123/_static/signin.html?x=1'
    # hub:    '/user/alice/proxy/8123/_static/signin.html?x=1'

On a hub the result is a path on the page's own origin (the hub's), which a browser resolves
against the page it is on; the sign-in pages resolve their ``endpoint`` setting the same way. Their
calls then stay on one origin (the hub's), so no CORS preflight is involved there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError

__all__ = ["HUB_PREFIX_VARIABLE", "browser_url", "hub_prefix"]

HUB_PREFIX_VARIABLE = "JUPYTERHUB_SERVICE_PREFIX"
"""The variable JupyterHub sets in every single-user server: its URL prefix, ``/user/<name>/``."""

_LOCAL_HOSTS = ("127.0.0.1", "localhost")


def hub_prefix(environ: Mapping[str, str] | None = None) -> str | None:
    """The single-user server's URL prefix (``/user/alice/``) on a JupyterHub, else ``None``."""
    value = (os.environ if environ is None else environ).get(HUB_PREFIX_VARIABLE, "").strip()
    if not value:
        return None
    if not value.startswith("/") or "//" in value or any(c in value for c in "?#\\ "):
        raise ConfigurationError(
            f"{HUB_PREFIX_VARIABLE} should be a path such as '/user/alice/', not {value!r}: "
            "JupyterHub sets it; unset it when not running under a hub."
        )
    return value if value.endswith("/") else value + "/"


def browser_url(url: str, environ: Mapping[str, str] | None = None) -> str:
    """``url`` of a server on this machine, as the learner's browser must open it.

    ``url`` is a local server's address (``http://127.0.0.1:<port>`` with any path and query).
    Without a hub it is returned unchanged. Under a JupyterHub (``JUPYTERHUB_SERVICE_PREFIX``
    set) it becomes ``<prefix>proxy/<port><path>?<query>``, a path on the hub's origin served by
    jupyter-server-proxy in the learner's own server. A URL of another host is refused there: the
    proxy reaches this machine's loopback only.
    """
    prefix = hub_prefix(environ)
    if prefix is None:
        return url
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{url!r} has no valid port: {exc}") from None
    if parts.scheme != "http" or parts.hostname not in _LOCAL_HOSTS or port is None:
        raise ConfigurationError(
            f"Only a local server (http://127.0.0.1:<port>) can be reached through the hub, "
            f"not {url!r}."
        )
    path = parts.path or "/"
    return urlunsplit(("", "", f"{prefix}proxy/{port}{path}", parts.query, parts.fragment))
