"""The requests a browser sends for the sign-in pages, as Chromium sent them (recorded 2026-12-07
with Chromium 156 against both pages; tests/e2e checks that the browser still sends these).

Both pages call Cognito on another origin (the moto server's port) with ``POST /`` and
``X-Amz-Target``: the browser first sends a CORS preflight. The hand-written page asks for two
headers, Amplify 6 for six. The API call goes to the page's own origin (the gateway): no preflight.
"""

from __future__ import annotations

FETCH_METADATA = {
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-site",
    "Sec-Fetch-Dest": "empty",
}

PREFLIGHT_HEADERS = {
    "hand-written": "content-type,x-amz-target",
    "amplify": "amz-sdk-invocation-id,amz-sdk-request,cache-control,content-type,x-amz-target,"
    "x-amz-user-agent",
}
"""``Access-Control-Request-Headers`` of each page's preflight, exactly as Chromium lists them."""


def preflight(page: str, origin: str) -> dict[str, str]:
    """The headers of ``OPTIONS /`` that the browser sends before a page's Cognito call."""
    headers = {
        "Accept": "*/*",
        "Origin": origin,
        "Referer": origin + "/",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": PREFLIGHT_HEADERS[page],
        **FETCH_METADATA,
    }
    if page == "amplify":
        headers |= {"Pragma": "no-cache", "Cache-Control": "no-cache"}
    return headers


def cognito_call(page: str, origin: str, action: str) -> dict[str, str]:
    """The headers of the ``POST /`` that follows the preflight, for ``action``."""
    headers = {
        "Accept": "*/*",
        "Origin": origin,
        "Referer": origin + "/",
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"AWSCognitoIdentityProviderService.{action}",
        **FETCH_METADATA,
    }
    if page == "amplify":
        headers |= {
            "Pragma": "no-cache",
            "Cache-Control": "no-store",
            "X-Amz-User-Agent": "aws-amplify/6.22.1 auth/4 framework/0",
            "Amz-Sdk-Request": "attempt=1; max=3",
            "Amz-Sdk-Invocation-Id": "75d41254-036d-4c7f-a29d-df80b607348f",
        }
    return headers


def api_call(token: str) -> dict[str, str]:
    """The headers of ``GET /notes`` on the page's own origin: no Origin, no preflight."""
    return {
        "Accept": "*/*",
        "Authorization": f"Bearer {token}",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Dest": "empty",
    }
