"""moby's GetTimestamp as the prune ``until`` filter reads it (dockyard.daemon.timestamps)."""

from __future__ import annotations

import pytest

from dockyard.daemon.timestamps import get_timestamp, go_duration_seconds
from dockyard.errors import InvalidParameter

NOW = 1_800_000_000.0


@pytest.mark.parametrize("text,seconds", [
    ("10m", 600), ("1h30m", 5400), ("1.5h", 5400), ("-1h", -3600), ("300ms", 0.3), ("0", 0), ("2h0m3s", 7203),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "h", "1x", "1h-2m", "bogus"])
def test_not_go_durations(text: str) -> None:
    assert go_duration_seconds(text) is None


@pytest.mark.parametrize("text,expected", [
    ("10m", NOW - 600),
    ("0", 0.0),
    ("1700000000", 1_700_000_000.0),
    ("1700000000.5", 1_700_000_000.5),
    ("2000-01-01T00:00:00Z", 946_684_800.0),
    ("2000-01-01T00:00:00.25Z", 946_684_800.25),
    ("2000-01-01T01:00:00+01:00", 946_684_800.0),
    ("2000-01-01", 946_684_800.0 - 3600),  # no zone: the daemon's (here one hour east)
    ("2000-01-01T00", 946_684_800.0 - 3600),
])
def test_timestamps(text: str, expected: float) -> None:
    assert get_timestamp(text, NOW, local_offset=3600) == pytest.approx(expected)


def test_neither_time_nor_duration_is_worded_as_dockerd() -> None:
    with pytest.raises(InvalidParameter, match='failed to parse value as time or duration: "bogus"'):
        get_timestamp("bogus", NOW)
    with pytest.raises(InvalidParameter, match="parsing time"):
        get_timestamp("2000-13-45", NOW)
