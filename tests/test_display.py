"""authlab.tokens.display: a token coloured by part, decoded header and claims beside it."""

from __future__ import annotations

from authlab.tokens.attacks import make_lab
from authlab.tokens.display import COLOURS, TokenView, render_ansi, render_html, show_token

LAB = make_lab()


def test_html_colours_each_part_and_shows_decoded_json():
    token = LAB.token()
    page = render_html(token, clock=LAB.clock, title="alice's ID token")
    header, payload, signature = token.split(".")
    for part, text in (("header", header), ("payload", payload), ("signature", signature)):
        assert f'<span style="color:{COLOURS[part]}">{text}</span>' in page
    assert "&quot;role&quot;: &quot;user&quot;" in page
    assert "unverified" in page and "2026-01-01 01:00:00 UTC (in 3600 s)" in page
    assert "alice&#x27;s ID token" in page


def test_html_escapes_hostile_claims():
    token = LAB.token(LAB.claims(name="<script>alert(1)</script>"))
    assert "<script>" not in render_html(token)


def test_ansi_colours_and_plain_text():
    token = LAB.token()
    coloured = render_ansi(token)
    assert "\033[31m" in coloured and "\033[35m" in coloured and "\033[36m" in coloured
    plain = render_ansi(token, colour=False)
    assert "\033[" not in plain and token in plain and '"kid": "authlab-key-1"' in plain


def test_malformed_tokens_still_render():
    for bad in ("a.b", "!!!.x.y", ""):
        assert "Cannot decode" in render_html(bad)
        assert "Cannot decode" in render_ansi(bad, colour=False)


def test_token_view_in_notebooks():
    view = show_token(LAB.token(), clock=LAB.clock)
    assert isinstance(view, TokenView)
    assert view.claims["sub"] == "7d3f0c1e-alice" and view.error is None
    assert view._repr_html_().startswith('<div class="authlab-token">')
    assert "\033[" not in repr(view)
