"""The sign-in page of the mini project: a static page the local API Gateway serves.

``src/authlab/cloud/static/signin.html`` is plain HTML and JavaScript (no build step). It signs a user
in against the Cognito endpoint of the moto server with ``InitiateAuth`` over HTTP, as the Amplify
SDK does under the hood, keeps the tokens in memory, calls the protected API on its own origin with
the access token, refreshes the tokens and signs out. The gateway serves it at
``/_static/signin.html``; the page reads its settings from the query string, which
:func:`signin_url` builds::

    url = signin_url(gateway.url, aws.endpoint_url, pool.client_id, api="/notes")
    signin_link(gateway.url, aws.endpoint_url, pool.client_id)   # a link in a notebook

The browser calls the moto server directly, across origins: moto's server answers CORS
preflights (it wraps every service in flask-cors), as Cognito's public endpoints do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

__all__ = ["SIGNIN_PAGE", "signin_link", "signin_url"]

SIGNIN_PAGE = "/_static/signin.html"
"""Where the gateway serves the page (see :mod:`authlab.cloud.gateway`)."""


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
    query = {"endpoint": cognito_endpoint, "client_id": client_id, "api": api}
    if username:
        query["username"] = username
    return f"{gateway_url.rstrip('/')}{SIGNIN_PAGE}?{urlencode(query)}"


def signin_link(gateway_url: str, cognito_endpoint: str, client_id: str, **kwargs: Any) -> Any:
    """A clickable link to the page for a notebook (an ``IPython.display.HTML`` object)."""
    from html import escape

    from IPython.display import HTML

    url = escape(signin_url(gateway_url, cognito_endpoint, client_id, **kwargs), quote=True)
    return HTML(
        f'<a href="{url}" target="_blank" rel="noopener">Open the sign-in page</a> '
        "(served by the local API Gateway; it works while this notebook's gateway runs)"
    )
