"""The sign-in pages' requests, sent as the browser sends them, answered by the course's CORS front.

For each page (hand-written and Amplify) and each of its flows (sign in with USER_PASSWORD_AUTH,
refresh with REFRESH_TOKEN_AUTH, GlobalSignOut), the preflight and then the call, with the headers
Chromium sends (tests/browser_requests.py); then the API call with the bearer token. The CORS
answers must be what the browser needs, and no preflight may reach moto: whatever a moto release
does with ``OPTIONS`` (5.2.6 answers it with a 500), the pages keep working.
"""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest
import requests

from authlab.cloud.aws import MotoServer
from authlab.cloud.cognito import create_demo_pool
from authlab.cloud.cors import CorsFront
from authlab.cloud.gateway import Gateway

from .apigw import pool_api
from .browser_requests import PREFLIGHT_HEADERS, api_call, cognito_call, preflight

PAGES = sorted(PREFLIGHT_HEADERS)


@pytest.fixture(scope="module")
def stack():
    """moto behind its front (the methods reaching moto counted), a pool, a gateway."""
    with MotoServer() as aws:
        reached: Counter[str] = Counter()
        moto = aws.front.app

        def counted(environ, start_response):
            reached[environ["REQUEST_METHOD"]] += 1
            return moto(environ, start_response)

        aws.front.app = counted
        cognito, apigw = aws.client("cognito-idp"), aws.client("apigatewayv2")
        pool = create_demo_pool(cognito, endpoint_url=aws.endpoint_url)
        api = pool_api(apigw, pool)
        gateway = Gateway(
            api,
            apigw=apigw,
            handlers={"notes": lambda event, context: {"notes": ["buy milk"]}},
            jwks_urls={pool.issuer: pool.jwks_url},
        ).start()
        try:
            yield SimpleNamespace(aws=aws, pool=pool, gateway=gateway, reached=reached)
        finally:
            gateway.stop()


def _allowed(answer: requests.Response, origin: str, asked: str) -> None:
    """What Chromium requires of a preflight's answer before it sends the call."""
    assert 200 <= answer.status_code < 300, (answer.status_code, answer.text)
    assert answer.headers.get("Access-Control-Allow-Origin") in ("*", origin)
    methods = {m.strip().upper() for m in answer.headers["Access-Control-Allow-Methods"].split(",")}
    assert "POST" in methods
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert set(asked.split(",")) <= allowed, (asked, allowed)
    assert "Access-Control-Allow-Credentials" not in answer.headers  # no cookies, as on Cognito


def _call(stack, page: str, action: str, body: dict) -> dict:
    """The preflight, then the call, as the browser sends them; the call's JSON answer."""
    origin = stack.gateway.url.rstrip("/")
    url = stack.aws.endpoint_url + "/"
    before = len(stack.aws.front.preflights)
    _allowed(
        requests.options(url, headers=preflight(page, origin), timeout=10),
        origin,
        PREFLIGHT_HEADERS[page],
    )
    assert len(stack.aws.front.preflights) == before + 1, "the front answered the preflight"
    answer = requests.post(
        url, headers=cognito_call(page, origin, action), data=json.dumps(body), timeout=10
    )
    assert answer.headers.get("Access-Control-Allow-Origin") in ("*", origin), answer.headers
    exposed = {
        h.strip().lower() for h in answer.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"x-amzn-errortype", "x-amzn-requestid"} <= exposed
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("page", PAGES)
def test_each_flow_as_the_browser_sends_it(stack, page):
    user = stack.pool.user("alice")
    signed_in = _call(
        stack,
        page,
        "InitiateAuth",
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": stack.pool.client_id,
            "AuthParameters": {"USERNAME": user.username, "PASSWORD": user.password},
        },
    )["AuthenticationResult"]
    refreshed = _call(
        stack,
        page,
        "InitiateAuth",
        {
            "AuthFlow": "REFRESH_TOKEN_AUTH",
            "ClientId": stack.pool.client_id,
            "AuthParameters": {"REFRESH_TOKEN": signed_in["RefreshToken"]},
        },
    )["AuthenticationResult"]
    assert refreshed["AccessToken"] != signed_in["AccessToken"]

    notes = requests.get(
        stack.gateway.url.rstrip("/") + "/notes",
        headers=api_call(refreshed["AccessToken"]),
        timeout=10,
    )
    assert notes.status_code == 200 and notes.json() == {"notes": ["buy milk"]}

    assert _call(stack, page, "GlobalSignOut", {"AccessToken": refreshed["AccessToken"]}) == {}
    assert stack.reached["OPTIONS"] == 0, "a preflight reached moto"
    assert stack.reached["POST"] >= 3


def test_no_preflight_ever_reaches_moto_whatever_it_asks(stack):
    origin = stack.gateway.url.rstrip("/")
    odd = [
        {"Origin": origin, "Access-Control-Request-Method": "DELETE"},
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-amz-target,\x7fbad",
        },
        {"Origin": origin},
        {},
    ]
    for headers in odd:
        answer = requests.options(
            stack.aws.endpoint_url + "/some/path", headers=headers, timeout=10
        )
        assert answer.status_code in (204, 403), answer.status_code
        if answer.status_code == 403:
            assert "CORS preflight refused" in answer.text
            assert "Access-Control-Allow-Origin" not in answer.headers
    assert stack.reached["OPTIONS"] == 0


def test_boto3_and_requests_without_origin_get_no_cors_headers(stack):
    answer = requests.post(
        stack.aws.endpoint_url + "/",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.ListUserPools",
        },
        data=json.dumps({"MaxResults": 5}),
        timeout=10,
    )
    assert answer.status_code == 200
    cognito = stack.aws.client("cognito-idp")
    assert cognito.list_user_pools(MaxResults=5)["UserPools"]


def test_a_front_that_refuses_preflights_says_so_and_the_call_is_never_sent():
    """What the browser tests use to check the pages' line for a refused preflight."""
    reached = Counter()

    def app(environ, start_response):
        reached[environ["REQUEST_METHOD"]] += 1
        start_response("200 OK", [])
        return [b"{}"]

    front = CorsFront(app, refuse_preflights=True)
    environ = {
        "REQUEST_METHOD": "OPTIONS",
        "PATH_INFO": "/",
        "HTTP_ORIGIN": "http://127.0.0.1:1",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": PREFLIGHT_HEADERS["amplify"],
    }
    answered = []
    body = b"".join(front(environ, lambda status, headers: answered.append((status, headers))))
    status, headers = answered[0]
    assert status.startswith("403") and b"refuses CORS preflights" in body
    assert not [h for h, _ in headers if h.lower().startswith("access-control-")]
    assert reached == {} and front.preflights[-1].allowed is False
