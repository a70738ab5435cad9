"""authlab.course.pricing: the price book of data/pricing.json and the cost arithmetic."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import urlparse

import pytest

from authlab.course.pricing import Band, graduated_cost, load_prices
from authlab.errors import ConfigurationError


@pytest.fixture(scope="module")
def book():
    return load_prices()


def test_every_priced_item_has_a_source_a_date_and_a_status(book):
    rows = book.sources()
    assert len(rows) >= 10
    for row in rows:
        for url in row["source"].split(" ; "):
            assert urlparse(url).scheme == "https", row
        read = date.fromisoformat(row["read"])  # a full YYYY-MM-DD date, not just a year
        assert date(2024, 1, 1) <= read <= date.today(), row
        assert row["status"] in {"checked", "example"}, row


def test_cognito_tiers_match_the_checked_reference(book):
    lite, essentials, plus = (book.plan(f"cognito-{t}") for t in ("lite", "essentials", "plus"))
    assert (lite.free_units, essentials.free_units, plus.free_units) == (10_000, 10_000, 0)
    assert lite.cost(10_000) == 0 and essentials.cost(10_000) == 0
    assert lite.cost(10_001) == pytest.approx(0.0055)
    assert essentials.cost(25_000) == pytest.approx(15_000 * 0.015)
    assert plus.cost(1) == pytest.approx(0.02)
    assert book.plan("cognito-federated").free_units == 50
    assert book.figure("cognito-legacy-free-maus").value == 50_000


def test_cognito_lite_is_graduated_and_large_pools_pay_less_per_mau(book):
    """Issue 22 item 9: Lite bills larger pools at lower rates, as the pricing page does."""
    lite = book.plan("cognito-lite")
    assert [b.price for b in lite.bands] == [0.0, 0.0055, 0.0046, 0.00325]
    assert lite.cost(100_000) == pytest.approx(90_000 * 0.0055)
    assert lite.cost(1_000_000) == pytest.approx(90_000 * 0.0055 + 900_000 * 0.0046)
    assert lite.cost(2_000_000) - lite.cost(1_000_000) == pytest.approx(1_000_000 * 0.00325)
    assert lite.cost(2_000_000) / 2_000_000 < lite.cost(100_000) / 100_000
    assert lite.describe() == (
        "free to 10,000, then $0.0055 to 100,000, $0.0046 to 1,000,000, $0.00325 above"
    )
    assert book.plan("cognito-plus").describe() == "$0.02 from the first MAU"


def test_the_mau_definition_counts_administrative_operations(book):
    counts = " ".join(book.mau_counts)
    for operation in ("sign-in", "token refresh", "AdminGetUser", "AdminCreateUser"):
        assert operation in counts
    assert any(row["item"] == book.mau_definition["label"] for row in book.sources())


def test_no_unsourced_terms_for_pools_older_than_november_2024(book):
    """The terms accounts with older pools keep could not be sourced: the file says it does not
    model them, and claims nothing about them."""
    note = book.figure("cognito-legacy-free-maus").note
    assert "does not model them" in note and "could not be re-read" not in note


def test_firebase_blaze_is_free_to_50000_then_graduated(book):
    firebase = book.plan("firebase-identity-platform")
    assert firebase.free_units == 50_000
    assert firebase.cost(50_000) == 0
    assert firebase.cost(150_000) == pytest.approx(50_000 * 0.0055 + 50_000 * 0.0046)
    assert book.figure("firebase-spark-tier1-daily-users").value == 3000


def test_unconfirmed_prices_are_marked_for_checking(book):
    flagged = book.needs_checking()
    assert any("federated" in item or "SAML" in item for item in flagged)
    assert all("Lambda" not in item for item in flagged)


def test_graduated_cost_bills_each_band_at_its_own_rate():
    bands = [Band(10, 0.0), Band(20, 1.0), Band(None, 2.0)]
    assert graduated_cost(bands, 0) == 0
    assert graduated_cost(bands, 10) == 0
    assert graduated_cost(bands, 15) == 5
    assert graduated_cost(bands, 25) == 10 + 10
    with pytest.raises(ValueError):
        graduated_cost(bands, -1)


def test_lambda_cost_counts_requests_and_gb_seconds(book):
    # AWS's own example: 3M runs, 512 MB, 1 s, with the free tier: $18.34 + $0.40 (rounded price).
    cost = book.lambda_cost(3_000_000, 512, 1000, free_tier=True)
    assert cost.gb_seconds == pytest.approx(1_500_000)
    assert cost.requests == pytest.approx(0.40)
    assert cost.compute == pytest.approx(18.33, abs=0.02)
    assert cost.total == pytest.approx(cost.requests + cost.compute)
    # Without the free tier, and duration rounded up to the next millisecond.
    assert book.lambda_cost(1_000_000, 1024, 0.2).gb_seconds == pytest.approx(1_000)
    assert book.lambda_cost(1_000_000, 128, 100).requests == pytest.approx(0.20)


def test_http_api_cost_is_graduated_per_million(book):
    assert book.http_api_cost(1_000_000) == pytest.approx(1.0)
    assert book.http_api_cost(1_000_000, free_tier=True) == 0
    assert book.http_api_cost(400_000_000) == pytest.approx(300 + 100 * 0.9)


def test_saved_by_gateway_is_the_lambda_cost_of_the_rejected_requests(book):
    saved = book.saved_by_gateway(2_000_000, 256, 120)
    assert saved == pytest.approx(book.lambda_cost(2_000_000, 256, 120).total)
    assert saved > 0
    assert book.saved_by_gateway(0, 256, 120) == 0


def test_unknown_names_and_broken_files_raise_configuration_errors(book, tmp_path):
    with pytest.raises(ConfigurationError):
        book.plan("auth0-free")
    with pytest.raises(ConfigurationError):
        book.figure("nope")
    bad = tmp_path / "pricing.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigurationError):
        load_prices(bad)
    missing = {
        "mau_plans": {
            "x": {
                "label": "x",
                "unit": "MAU",
                "bands": [{"up_to": None, "price": 1}],
                "source": "",
                "read": "2026",
                "status": "checked",
            }
        }
    }
    bad.write_text(json.dumps(missing))
    with pytest.raises(ConfigurationError):
        load_prices(bad)
    unordered = {
        "mau_plans": {
            "x": {
                "label": "x",
                "unit": "MAU",
                "bands": [{"up_to": None, "price": 1}, {"up_to": 5, "price": 0}],
                "source": "https://x",
                "read": "2026",
                "status": "checked",
            }
        }
    }
    bad.write_text(json.dumps(unordered))
    with pytest.raises(ConfigurationError):
        load_prices(bad)


def test_cite_names_the_source_and_the_date(book):
    line = book.cite("cognito-essentials")
    assert "https://aws.amazon.com/cognito/pricing/" in line and "read 2026" in line
    assert "[example" in book.cite("firebase-identity-platform")
    assert "lambda/pricing" in book.cite("lambda")
    assert "firebase.google.com" in book.cite("firebase-spark-tier1-daily-users")


def test_footnote_lists_each_page_once_with_its_date(book):
    note = book.footnote("cognito-lite", "cognito-essentials", "firebase-identity-platform")
    assert note.startswith("Sources: ")
    assert note.count("aws.amazon.com/cognito/pricing") == 1
    assert "read 2026" in note and "example: check" in note
    assert "lambda/pricing (read 2026-11-25)" in book.footnote("lambda")
