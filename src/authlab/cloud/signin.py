"""The sign-in pages of the mini project: static pages the local API Gateway serves.

``src/authlab/cloud/static/signin.html`` is plain HTML and JavaScript (no build step, the fallback
when the Amplify page could not be built). It signs a user in against the Cognito endpoint of the
moto server with ``InitiateAuth`` and ``USER_PASSWORD_AUTH``, written by hand with ``fetch`` (the
Amplify library defaults to SRP instead), keeps the tokens in memory, calls the protected API on its own origin with
the access token, refreshes the tokens and signs out. The gateway serves it at
``/_static/signin.html``; the page reads its settings from the query string, which
:func:`signin_url` builds::

    url = signin_url(gateway.url, aws.endpoint_url, pool.client_id, api="/notes")
    signin_link(gateway.url, aws.endpoint_url, pool.client_id)   # a link in a notebook

On a JupyterHub (``JUPYTERHUB_SERVICE_PREFIX`` set) the same calls give the pages, their Cognito
endpoint and their API routes as paths through the learner's own server,
``/user/<name>/proxy/<port>/...`` (:mod:`authlab.cloud.browser`), so the link works from a browser on
another machine; the pages resolve them against their own URL.

The browser calls the moto server directly, across origins: the course's CORS front answers
the browser's preflights in front of moto (:mod:`authlab.cloud.cors`), as Cognito's endpoint does.
When a call fails, ``static/netcheck.js`` gives the page one line naming the server and how it
failed (not running, preflight refused, no answer, a 5xx).

**The Amplify page.** ``frontend/`` holds the same frontend written with the AWS Amplify library
v6 (``signIn``, ``fetchAuthSession``, ``getCurrentUser``, ``signOut``); `make lab` bundles it into
``static/amplify-signin.html`` and ``amplify-signin.js`` (git-ignored build outputs; the student
kit ships them built). It needs the
pool's id as well as its client::

    amplify_link(gateway.url, aws.endpoint_url, pool.pool_id, pool.client_id, scoped="/admin")

:func:`amplify_link` falls back to the hand-written page, and says why, when the bundle was not
built (the npm registry could not be reached when `make lab` ran, say).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..errors import ConfigurationError
from .browser import browser_url, hub_prefix

__all__ = [
    "AMPLIFY_BUNDLE",
    "AMPLIFY_FLOWS",
    "AMPLIFY_PAGE",
    "SIGNIN_PAGE",
    "amplify_available",
    "amplify_link",
    "amplify_url",
    "signin_link",
    "signin_url",
]

SIGNIN_PAGE = "/_static/signin.html"
"""Where the gateway serves the page (see :mod:`authlab.cloud.gateway`)."""

AMPLIFY_PAGE = "/_static/amplify-signin.html"
"""Where the gateway serves the Amplify page, once ``frontend/build.py`` has built it."""

AMPLIFY_BUNDLE = Path(__file__).resolve().parent / "static" / "amplify-signin.js"
"""The Amplify page's JavaScript bundle (a build output, git-ignored)."""

AMPLIFY_FLOWS = ("USER_PASSWORD_AUTH", "USER_SRP_AUTH")
"""The sign-in flows the Amplify page offers (``authFlowType``)."""


def signin_url(
    gateway_url: str,
    cognito_endpoint: str,
    client_id: str,
    *,
    api: str = "/notes",
    username: str | None = None,
) -> str:
    """The sign-in page's URL on the gateway, with its settings in the query string.

    ``gateway_url``: ``gateway.url``; ``cognito_endpoint``: the moto server's URL
    (``aws.endpoint_url``); ``client_id``: the pool's public app client; ``api``: the route the
    page calls, on the gateway's own origin; ``username``: pre-filled in the form.
    """
    query = {
        "endpoint": browser_url(cognito_endpoint),
        "client_id": client_id,
        "api": _route(gateway_url, api),
    }
    if username:
        query["username"] = username
    return browser_url(f"{gateway_url.rstrip('/')}{SIGNIN_PAGE}?{urlencode(query)}")


def _route(gateway_url: str, route: str) -> str:
    """A route of the gateway as the page calls it on its own origin: ``/notes`` on a laptop,
    ``/user/<name>/proxy/<port>/notes`` on a JupyterHub (:mod:`authlab.cloud.browser`)."""
    if hub_prefix() is None:
        return route
    return browser_url(gateway_url.rstrip("/") + "/" + route.lstrip("/"))


def amplify_available(bundle: str | Path = AMPLIFY_BUNDLE) -> bool:
    """Whether the Amplify page was built (its bundle and page sit in the static folder)."""
    bundle = Path(bundle)
    return bundle.is_file() and bundle.with_suffix(".html").is_file()


def amplify_url(
    gateway_url: str,
    cognito_endpoint: str,
    pool_id: str,
    client_id: str,
    *,
    api: str = "/notes",
    scoped: str = "/admin",
    username: str | None = None,
    flow: str | None = None,
) -> str:
    """The Amplify page's URL on the gateway, with its settings in the query string.

    As :func:`signin_url`, plus ``pool_id`` (Amplify's ``userPoolId``, which also names the
    region), ``scoped``: a route whose authorizer requires a scope the pool's tokens lack (the
    page's 403), and ``flow``: the preselected sign-in flow, one of :data:`AMPLIFY_FLOWS`.
    """
    if not pool_id or "_" not in pool_id:
        raise ConfigurationError(f"pool_id should look like 'us-east-1_AbC123', not {pool_id!r}")
    if flow is not None and flow not in AMPLIFY_FLOWS:
        raise ConfigurationError(f"flow should be one of {', '.join(AMPLIFY_FLOWS)}, not {flow!r}")
    query = {
        "endpoint": browser_url(cognito_endpoint),
        "pool_id": pool_id,
        "client_id": client_id,
        "api": _route(gateway_url, api),
        "scoped": _route(gateway_url, scoped),
    }
    if username:
        query["username"] = username
    if flow:
        query["flow"] = flow
    return browser_url(f"{gateway_url.rstrip('/')}{AMPLIFY_PAGE}?{urlencode(query)}")


def amplify_link(
    gateway_url: str,
    cognito_endpoint: str,
    pool_id: str,
    client_id: str,
    *,
    bundle: str | Path = AMPLIFY_BUNDLE,
    **kwargs: Any,
) -> Any:
    """A link to the Amplify page for a notebook, or, when it was not built, to the hand-written
    page with one line saying why (an ``IPython.display.HTML`` object)."""
    from html import escape

    from IPython.display import HTML

    if not amplify_available(bundle):
        kwargs.pop("scoped", None)
        kwargs.pop("flow", None)
        fallback = signin_link(gateway_url, cognito_endpoint, client_id, **kwargs)
        return HTML(
            "<p>The Amplify page is unavailable: its bundle was not built here (the course's "
            "<code>make lab</code> builds it when it can reach the npm registry; the student "
            "edition comes with it built). The hand-written page works meanwhile:</p>"
            + fallback.data
        )
    url = escape(
        amplify_url(gateway_url, cognito_endpoint, pool_id, client_id, **kwargs), quote=True
    )
    return HTML(
        f'<a href="{url}" target="_blank" rel="noopener">Open the Amplify sign-in page</a> '
        "(served by the local API Gateway; it works while this notebook's gateway runs)"
    )


def signin_link(gateway_url: str, cognito_endpoint: str, client_id: str, **kwargs: Any) -> Any:
    """A clickable link to the page for a notebook (an ``IPython.display.HTML`` object)."""
    from html import escape

    from IPython.display import HTML

    url = escape(signin_url(gateway_url, cognito_endpoint, client_id, **kwargs), quote=True)
    return HTML(
        f'<a href="{url}" target="_blank" rel="noopener">Open the sign-in page</a> '
        "(served by the local API Gateway; it works while this notebook's gateway runs)"
    )
