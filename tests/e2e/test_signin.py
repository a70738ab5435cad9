"""The mini project's sign-in page in a real browser: Cognito (moto) + the local API Gateway.

The page (``src/authlab/cloud/static/signin.html``) is served by :class:`authlab.cloud.gateway.Gateway` at
``/_static/signin.html``; it signs in against the moto server's Cognito endpoint across origins
(CORS), and calls ``GET /notes`` on its own origin, behind a JWT authorizer pointed at the pool.
Screenshots go to ``build/e2e/signin-*.png``.
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from authlab.cloud.aws import MotoServer
from authlab.cloud.cognito import create_demo_pool
from authlab.cloud.gateway import Gateway
from authlab.cloud.signin import signin_url

from ..apigw import pool_api
from ..browser_requests import PREFLIGHT_HEADERS
from .conftest import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(moto_server):
    """A demo pool, an HTTP API whose GET /notes needs a pool token, and the gateway serving it."""
    moto_server.reset()
    cognito = moto_server.client("cognito-idp")
    apigw = moto_server.client("apigatewayv2")
    pool = create_demo_pool(cognito, endpoint_url=moto_server.endpoint_url)
    api = pool_api(apigw, pool, ("notes", "broken"))

    def notes(event, context):
        claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        return {"owner": claims["username"], "notes": ["buy milk", "rotate the signing keys"]}

    def broken_handler(event, context):
        raise RuntimeError("a bug in the function")

    gateway = Gateway(
        api,
        apigw=apigw,
        handlers={"notes": notes, "broken": broken_handler},
        jwks_urls={pool.issuer: pool.jwks_url},
    ).start()
    url = signin_url(gateway.url, moto_server.endpoint_url, pool.client_id, api="/notes")
    yield SimpleNamespace(gateway=gateway, pool=pool, url=url)
    gateway.stop()


def open_page(page, stack):
    page.goto(stack.url)
    page.locator("#signin").wait_for()
    return page


def sign_in(page, password: str) -> None:
    page.fill("#username", "alice")
    page.fill("#password", password)
    page.click("#signin")


def storage_is_empty(page) -> bool:
    """No token in localStorage, sessionStorage or cookies: the page keeps them in memory."""
    return page.evaluate("() => localStorage.length + sessionStorage.length === 0") and (
        page.context.cookies() == []
    )


def test_a_stopped_moto_server_and_a_refused_preflight_each_get_their_line(
    page, stack, moto_server
):
    """Nothing listens at the endpoint; then moto runs but refuses the browser's preflight."""
    password = stack.pool.user("alice").password
    with MotoServer(refuse_preflights=True) as refusing:
        for endpoint, words in (
            (f"http://127.0.0.1:{free_port()}", "is not running: nothing answers there"),
            (refusing.endpoint_url, "is running, but the browser blocked the call"),
        ):
            page.goto(signin_url(stack.gateway.url, endpoint, stack.pool.client_id))
            page.locator("#signin").wait_for()
            sign_in(page, password)
            started = time.monotonic()
            page.locator("#error", has_text=words).wait_for()
            assert time.monotonic() - started < 5, "the line comes within 5 seconds"
            message = page.inner_text("#error")
            assert message.startswith(f"Cognito (the local moto server) at {endpoint}"), message
            assert "\n" not in message.strip()
            assert page.inner_text("#session") == "signed out"
        asked = {",".join(p.headers) for p in refusing.front.preflights}
    assert asked == {PREFLIGHT_HEADERS["hand-written"]}, (
        "tests/test_cors.py sends what Chromium sends"
    )


def test_a_failing_lambda_gets_a_line_naming_the_gateway(page, stack):
    """A 5xx from the API: one line naming the server and the status, not a blank result."""
    password = stack.pool.user("alice").password
    open_page(page, stack)
    sign_in(page, password)
    page.locator("#session", has_text="signed in as alice").wait_for()
    page.fill("#api", "/broken")
    page.click("#call-api")
    page.locator("#error", has_text="failed with HTTP 5").wait_for()
    assert page.inner_text("#error").startswith(
        "The API (the local API Gateway) at http://127.0.0.1:"
    )
    assert "signed in as alice" in page.inner_text("#session")


def test_wrong_password_shows_an_error(page, stack, screenshot_dir):
    open_page(page, stack)
    sign_in(page, "not-alices-password")
    error = page.locator("#error")
    error.filter(has_text="NotAuthorizedException").wait_for()
    assert "Incorrect username or password" in error.inner_text()
    assert page.inner_text("#session") == "signed out"
    assert page.locator("#call-api").is_disabled()
    page.screenshot(path=screenshot_dir / "signin-01-wrong-password.png", full_page=True)


def test_sign_in_call_tamper_refresh_sign_out(page, stack, screenshot_dir):
    """The whole session as a person clicks through it, one screenshot per step."""
    password = stack.pool.user("alice").password
    calls = stack.gateway.invocations["notes"]
    open_page(page, stack)

    sign_in(page, password)
    page.locator("#session", has_text="signed in as alice").wait_for()
    assert page.inner_text("#error") == ""
    assert storage_is_empty(page), "tokens must stay in memory"
    first_token = page.inner_text("#token")
    assert first_token.count(".") == 2 and first_token.startswith("eyJ")

    page.click("#call-api")
    page.locator("#result-status", has_text="200").wait_for()
    assert '"owner": "alice"' in page.inner_text("#result")
    assert stack.gateway.invocations["notes"] == calls + 1
    page.screenshot(path=screenshot_dir / "signin-02-signed-in-api-200.png", full_page=True)

    page.click("#call-tampered")
    page.locator("#result-status", has_text="401").wait_for()
    result = page.inner_text("#result")
    assert '"message": "Unauthorized"' in result and "invalid_token" in result
    assert stack.gateway.invocations["notes"] == calls + 1, "the Lambda must not run on a 401"
    page.screenshot(path=screenshot_dir / "signin-03-tampered-token-401.png", full_page=True)

    page.click("#refresh")
    page.locator("#session", has_text="access token #2").wait_for()
    assert page.inner_text("#token") != first_token
    page.click("#call-api")
    page.locator("#result-status", has_text="200").wait_for()
    assert stack.gateway.invocations["notes"] == calls + 2
    page.screenshot(path=screenshot_dir / "signin-04-refreshed-api-200.png", full_page=True)

    page.click("#signout")
    page.locator("#session", has_text="signed out").wait_for()
    assert page.inner_text("#token") == "none"
    assert page.locator("#claims").is_hidden()
    for button in ("#call-api", "#call-tampered", "#refresh", "#signout"):
        assert page.locator(button).is_disabled(), button
    assert "GlobalSignOut done" in page.inner_text("#result")
    assert storage_is_empty(page)
    # Nothing left in the page that could call the API: no token text anywhere.
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", page.content())
    page.screenshot(path=screenshot_dir / "signin-05-signed-out.png", full_page=True)
