"""authlab.cloud.denylist: the jti denylist table on the local DynamoDB (moto)."""

from __future__ import annotations

import pytest

from authlab.cloud.denylist import TTL_ATTRIBUTE, DenylistTable, time_calls
from authlab.errors import ConfigurationError


@pytest.fixture
def table(aws):
    return DenylistTable(aws.client("dynamodb")).create()


def test_create_turns_ttl_on_and_is_idempotent(table):
    assert table.ttl_attribute() == TTL_ATTRIBUTE == "expires_at"
    assert table.create() is table
    assert table.count() == 0


def test_put_and_get_round_trip_with_a_consistent_read(table):
    assert table.get("nope") is None
    table.put("abc123", 1_700_000_900.9, sub="alice", reason="logout")
    entry = table.get("abc123")
    assert entry == {
        "jti": "abc123",
        "expires_at": 1_700_000_900,
        "sub": "alice",
        "reason": "logout",
    }
    assert table.reads == 2 and table.count() == 1


def test_expired_entries_stay_until_a_reader_ignores_them(table):
    """moto, like DynamoDB within its deletion delay, still returns items past their TTL."""
    table.put("old", 1_000)
    assert table.get("old")["expires_at"] == 1_000


def test_put_needs_a_jti(table):
    with pytest.raises(ConfigurationError):
        table.put("", 1_700_000_000)


def test_reference_is_revoked_on_top_of_the_table(table):
    """The notebook's exercise, answered here to check the table supports it."""
    now = 1_700_000_000

    def is_revoked(claims):
        entry = table.get(claims["jti"]) if claims.get("jti") else None
        return entry is not None and entry["expires_at"] > now

    table.put("live", now + 600)
    table.put("stale", now - 1)
    assert is_revoked({"jti": "live"}) and not is_revoked({"jti": "stale"})
    assert not is_revoked({"jti": "other"}) and not is_revoked({})


def test_time_calls_returns_one_duration_per_argument():
    times = time_calls(lambda x: sum(range(x)), [10, 1000], repeat=2)
    assert len(times) == 2 and all(t >= 0 for t in times)
