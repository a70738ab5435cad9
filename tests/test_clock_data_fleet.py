"""Small foundations: the injectable clock, data_path and the container fleet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import authlab
from authlab import SYSTEM_CLOCK, Fleet, FrozenClock, Request, Response
from authlab.clock import Clock, as_datetime
from authlab.errors import ConfigurationError


def test_frozen_clock_moves_only_when_told():
    clock = FrozenClock(1_000)
    assert clock.now() == 1_000
    clock.advance(30, minutes=1, hours=1, days=1)
    assert clock.now() == 1_000 + 30 + 60 + 3600 + 86400
    clock.set(datetime(2011, 3, 22, tzinfo=UTC))
    assert as_datetime(clock.now()).isoformat() == "2011-03-22T00:00:00+00:00"
    assert isinstance(clock, Clock) and isinstance(SYSTEM_CLOCK, Clock)


def test_frozen_clock_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware"):
        FrozenClock(datetime(2020, 1, 1))


def test_data_path_finds_the_course_data(monkeypatch, tmp_path):
    assert authlab.data_path("submissions", "expected_scores.csv").is_file()
    with pytest.raises(ConfigurationError, match="No data file"):
        authlab.data_path("no-such-file.csv")
    monkeypatch.setenv("AUTHLAB_DATA", str(tmp_path))
    (tmp_path / "x.txt").write_text("x")
    assert authlab.data_path("x.txt") == tmp_path / "x.txt"


class Counter:
    def __init__(self):
        self.seen = 0

    def handle(self, request: Request) -> Response:
        self.seen += 1
        return Response(200, {"seen": self.seen, "auth": request.header("authorization")})


def test_fleet_round_robins_and_cold_starts_lose_memory():
    fleet = Fleet(Counter, size=2)
    answers = [fleet.request("GET", "/", headers={"Authorization": "x"}) for _ in range(4)]
    assert [a.body["seen"] for a in answers] == [1, 1, 2, 2]
    assert [a.served_by for a in answers] == [
        "container A",
        "container B",
    ] * 2  # as in 01's diagram
    assert answers[0].body["auth"] == "x"
    fleet.cold_start(0)
    assert fleet.containers[0].name == "container C"  # a fresh container, never a reused name
    assert fleet.request("GET", "/", to=0).body["seen"] == 1
    assert fleet.request("GET", "/", to=1).body["seen"] == 3
    fleet.scale_to(3)
    assert [c.name for c in fleet.containers] == ["container C", "container B", "container D"]
    assert Fleet(Counter, size=1).containers[0].name == "container A"  # names are per fleet
    assert [entry[3] for entry in fleet.log] == [200] * 6
    with pytest.raises(ValueError):
        Fleet(Counter, size=0)
