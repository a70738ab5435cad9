"""The sign-in pages' URL helpers, static files and build (browser tests: tests/e2e/)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from authlab.cloud.gateway import STATIC_DIR, Gateway
from authlab.cloud.signin import (
    AMPLIFY_BUNDLE,
    AMPLIFY_PAGE,
    SIGNIN_PAGE,
    amplify_available,
    amplify_link,
    amplify_url,
    signin_link,
    signin_url,
)
from authlab.errors import ConfigurationError

from .conftest import ROOT


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


# ---- the Amplify page (frontend/; its browser test is tests/e2e/test_amplify.py) --------------


def test_amplify_url_carries_pool_client_and_routes():
    url = amplify_url(
        "http://127.0.0.1:8000/", "http://127.0.0.1:5000", "us-east-1_abc", "c1", username="alice"
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1:8000" + AMPLIFY_PAGE
    assert parse_qs(parts.query) == {
        "endpoint": ["http://127.0.0.1:5000"],
        "pool_id": ["us-east-1_abc"],
        "client_id": ["c1"],
        "api": ["/notes"],
        "scoped": ["/admin"],
        "username": ["alice"],
    }


@pytest.mark.parametrize(
    ("pool_id", "flow"), [("", None), ("no-region", None), ("us-east-1_a", "PLAIN")]
)
def test_amplify_url_refuses_bad_settings_with_a_message(pool_id, flow):
    with pytest.raises(ConfigurationError, match="pool_id|flow"):
        amplify_url("http://127.0.0.1:1", "http://127.0.0.1:2", pool_id, "c", flow=flow)


def test_amplify_link_falls_back_to_the_hand_written_page(tmp_path):
    missing = tmp_path / "amplify-signin.js"
    html = amplify_link(
        "http://127.0.0.1:8000", "http://127.0.0.1:5000", "us-east-1_a", "c1", bundle=missing
    ).data
    assert "The Amplify page is unavailable" in html
    assert "/_static/signin.html?" in html and "amplify-signin.html" not in html


def test_amplify_link_points_at_the_built_page(tmp_path):
    bundle = tmp_path / "amplify-signin.js"
    bundle.write_text("// built")
    bundle.with_suffix(".html").write_text("<!doctype html>")
    assert amplify_available(bundle)
    html = amplify_link(
        "http://127.0.0.1:8000", "http://127.0.0.1:5000", "us-east-1_a", "c&1", bundle=bundle
    ).data
    assert 'href="http://127.0.0.1:8000/_static/amplify-signin.html?endpoint=' in html
    assert "c%261" in html and "c&1" not in html


def test_the_bundle_is_a_git_ignored_build_output_and_the_lockfile_is_committed():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(AMPLIFY_BUNDLE)], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, "the bundle must be git-ignored"
    lock = json.loads((ROOT / "frontend" / "package-lock.json").read_text())
    package = json.loads((ROOT / "frontend" / "package.json").read_text())
    assert lock["lockfileVersion"] >= 3
    for name, version in {**package["dependencies"], **package["devDependencies"]}.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be pinned exactly"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert package["dependencies"]["aws-amplify"].startswith("6.")
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert lock["packages"][""]["devDependencies"] == package["devDependencies"]
    unchecked = [
        path
        for path, entry in lock["packages"].items()
        if path and not entry.get("link") and not entry.get("integrity", "").startswith("sha512-")
    ]
    assert not unchecked, f"npm ci checks every package's hash: {unchecked[:3]} have none"


def test_the_page_uses_amplify_and_keeps_tokens_in_memory():
    source = (ROOT / "frontend" / "src" / "main.js").read_text()
    for call in (
        "Amplify.configure",
        "userPoolEndpoint",
        "signIn(",
        "fetchAuthSession(",
        "getCurrentUser(",
        "signOut(",
    ):
        assert call in source, call
    assert "setKeyValueStorage(sharedInMemoryStorage)" in source
    assert "innerHTML" not in source, "render with textContent only"


def test_the_build_says_in_one_line_when_npm_cannot_install(tmp_path):
    """A registry that cannot be reached (a closed port on 127.0.0.1): exit 0, one line, no
    bundle, so `make lab` goes on with the hand-written page."""
    frontend = tmp_path / "frontend"
    frontend.mkdir()
    for name in ("package.json", "package-lock.json", "index.html"):
        shutil.copy(ROOT / "frontend" / name, frontend / name)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    env = {
        **os.environ,
        "npm_config_registry": f"http://127.0.0.1:{closed}/",
        "npm_config_cache": str(tmp_path / "npm-cache"),
        "npm_config_fetch_retries": "0",
        "npm_config_offline": "false",
        "npm_config_update_notifier": "false",
        "npm_config_audit": "false",
    }
    out = tmp_path / "static"
    command = [
        sys.executable,
        str(ROOT / "frontend" / "build.py"),
        "--frontend",
        str(frontend),
        "--out",
        str(out),
        "--logs",
        str(tmp_path / "logs"),
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1 and "The Amplify sign-in page is unavailable" in lines[0], run.stdout
    assert "hand-written page" in lines[0]
    assert not (out / "amplify-signin.js").exists()
    strict = subprocess.run([*command, "--strict"], env=env, capture_output=True, check=False)
    assert strict.returncode == 1


def test_notebook_05_quotes_the_pages_amplify_code_as_it_is():
    """Every line of the ```js blocks in notebook 05 is a line of frontend/src/main.js."""
    notebook = json.loads(
        (
            ROOT
            / "solutions"
            / "05-api-gateway-jwt-authorizer"
            / "05-api-gateway-jwt-authorizer.ipynb"
        ).read_text()
    )
    text = "\n".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    blocks = re.findall(r"```js\n(.*?)```", text, re.DOTALL)
    shown = "\n".join(blocks)
    for call in ("Amplify.configure(", "signIn("):  # sign-out is shown in the sequence diagram
        assert call in shown, f"notebook 05 shows no {call} code from the page"
    source = {
        line.strip() for line in (ROOT / "frontend" / "src" / "main.js").read_text().splitlines()
    }
    for block in blocks:
        for line in block.splitlines():
            assert line.strip() in source, f"not in main.js: {line!r}"
    assert "amplify_link(" in "".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"
    )
