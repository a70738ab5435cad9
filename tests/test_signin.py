"""The sign-in page's URL helper and its static file (the browser test is tests/e2e/test_signin.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from authlab.cloud.gateway import STATIC_DIR, Gateway
from authlab.cloud.signin import SIGNIN_PAGE, signin_link, signin_url


def test_signin_url_carries_the_settings_in_the_query():
    url = signin_url("http://127.0.0.1:8000/", "http://127.0.0.1:5000", "abc123", username="alice")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1:8000" + SIGNIN_PAGE
    assert parse_qs(parts.query) == {
        "endpoint": ["http://127.0.0.1:5000"],
        "client_id": ["abc123"],
        "api": ["/notes"],
        "username": ["alice"],
    }


def test_signin_link_escapes_the_url():
    html = signin_link("http://127.0.0.1:8000", "http://127.0.0.1:5000", "a&b").data
    assert 'href="http://127.0.0.1:8000/_static/signin.html?endpoint=' in html
    assert "a&b" not in html and "a%26b" in html


def test_the_page_is_plain_html_that_keeps_tokens_in_memory():
    page = (STATIC_DIR / "signin.html").read_text()
    assert "AWSCognitoIdentityProviderService." in page
    assert "application/x-amz-json-1.1" in page
    for storage in ("localStorage.setItem", "sessionStorage.setItem", "document.cookie ="):
        assert storage not in page
    assert "innerHTML" not in page, "render with textContent only"


def test_the_gateway_serves_the_page(aws):
    apigw = aws.client("apigatewayv2")
    api = apigw.create_api(Name="empty", ProtocolType="HTTP")["ApiId"]
    with Gateway(api, apigw=apigw) as gateway:
        response = requests.get(gateway.url + SIGNIN_PAGE, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Serverless Auth Lab" in response.text
