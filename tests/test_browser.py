"""Links to the course's local servers: unchanged on a laptop, through the user's server on a hub."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from authlab.cloud.browser import HUB_PREFIX_VARIABLE, browser_url, hub_prefix
from authlab.cloud.signin import AMPLIFY_PAGE, SIGNIN_PAGE, amplify_url, signin_url
from authlab.errors import ConfigurationError

HUB = {HUB_PREFIX_VARIABLE: "/user/alice/"}


def test_without_a_hub_a_local_url_is_the_browsers_url():
    url = "http://127.0.0.1:8123/_static/signin.html?endpoint=x#top"
    assert browser_url(url, {}) == url
    assert hub_prefix({}) is None and hub_prefix({HUB_PREFIX_VARIABLE: " "}) is None


def test_on_a_hub_a_local_url_goes_through_the_users_own_server():
    assert (
        browser_url("http://127.0.0.1:8123/_static/signin.html?a=1&b=2", HUB)
        == "/user/alice/proxy/8123/_static/signin.html?a=1&b=2"
    )
    assert browser_url("http://localhost:5000", HUB) == "/user/alice/proxy/5000/"
    assert hub_prefix({HUB_PREFIX_VARIABLE: "/hub-base/user/b%40x"}) == "/hub-base/user/b%40x/"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8000/",  # another host: the proxy reaches loopback only
        "https://127.0.0.1:8000/",
        "http://127.0.0.1/",  # no port to proxy to
        "http://127.0.0.1:99999/",
    ],
)
def test_on_a_hub_only_a_local_http_server_with_a_port_is_reachable(url):
    with pytest.raises(ConfigurationError, match="127.0.0.1|port"):
        browser_url(url, HUB)


@pytest.mark.parametrize("prefix", ["user/alice/", "//evil.example/", "/user/a?x=1"])
def test_a_prefix_that_is_not_a_path_is_refused_with_a_message(prefix):
    with pytest.raises(ConfigurationError, match=HUB_PREFIX_VARIABLE):
        hub_prefix({HUB_PREFIX_VARIABLE: prefix})


def test_the_sign_in_links_follow_the_hub(monkeypatch):
    monkeypatch.setenv(HUB_PREFIX_VARIABLE, "/user/alice/")
    url = signin_url("http://127.0.0.1:8000/", "http://127.0.0.1:5000", "abc", username="alice")
    parts = urlsplit(url)
    assert parts.scheme == parts.netloc == ""
    assert parts.path == "/user/alice/proxy/8000" + SIGNIN_PAGE
    assert parse_qs(parts.query) == {
        "endpoint": ["/user/alice/proxy/5000/"],
        "client_id": ["abc"],
        "api": ["/user/alice/proxy/8000/notes"],
        "username": ["alice"],
    }
    amplify = urlsplit(amplify_url("http://127.0.0.1:8000", "http://127.0.0.1:5000", "r_x", "c"))
    assert amplify.path == "/user/alice/proxy/8000" + AMPLIFY_PAGE
    query = parse_qs(amplify.query)
    assert query["api"] == ["/user/alice/proxy/8000/notes"]
    assert query["scoped"] == ["/user/alice/proxy/8000/admin"]


def test_the_sign_in_links_are_unchanged_on_a_laptop(monkeypatch):
    monkeypatch.delenv(HUB_PREFIX_VARIABLE, raising=False)
    url = signin_url("http://127.0.0.1:8000", "http://127.0.0.1:5000", "abc")
    assert url.startswith("http://127.0.0.1:8000" + SIGNIN_PAGE + "?endpoint=http")
