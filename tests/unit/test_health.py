"""Healthcheck rules without a daemon: the probe, the merge with the image, results and statuses."""

from __future__ import annotations

import pytest

from dockyard.daemon.containers.health import (go_duration, merge_healthcheck, probe_of, record_result,
                                                validate_healthcheck)
from dockyard.daemon.containers.model import parse_rfc3339
from dockyard.errors import InvalidParameter

S = 1_000_000_000


def test_probe_of_commands_and_defaults():
    assert probe_of({}) is None
    assert probe_of({"Healthcheck": {"Test": ["NONE"]}}) is None
    p = probe_of({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"]}})
    assert p.argv == ["/bin/sh", "-c", "curl -f localhost"]
    assert (p.interval, p.timeout, p.retries, p.start_period, p.start_interval) == (30, 30, 3, 0, 5)
    p = probe_of({"Healthcheck": {"Test": ["CMD", "true"], "Interval": S // 2, "Retries": 7},
                  "Shell": ["/bin/ash", "-c"]})
    assert p.argv == ["true"] and p.interval == 0.5 and p.retries == 7


def test_merge_takes_the_images_fields_where_the_container_has_none():
    image = {"Test": ["CMD", "true"], "Interval": 5 * S, "Retries": 2}
    assert merge_healthcheck(None, image) == image
    assert merge_healthcheck({"Interval": S}, image) == {"Test": ["CMD", "true"], "Interval": S, "Retries": 2}
    assert merge_healthcheck({"Test": ["NONE"]}, image)["Test"] == ["NONE"]


def test_validation_texts():
    validate_healthcheck({"Interval": 1_000_000})
    with pytest.raises(InvalidParameter, match="^Timeout in Healthcheck cannot be less than 1ms$"):
        validate_healthcheck({"Timeout": 999})
    with pytest.raises(InvalidParameter, match="Retries in Healthcheck cannot be negative"):
        validate_healthcheck({"Retries": -1})


@pytest.mark.parametrize("secs,text", [(1, "1s"), (0.3, "300ms"), (1.5, "1.5s"), (90, "1m30s"),
                                       (3600, "1h0m0s"), (0.0000015, "1.5µs")])
def test_go_duration(secs, text):
    assert go_duration(secs) == text


def _result(code, start="2030-01-01T00:00:10Z"):
    return {"Start": start, "End": start, "ExitCode": code, "Output": ""}


def test_results_streak_and_status():
    p = probe_of({"Healthcheck": {"Test": ["CMD", "x"], "Retries": 2, "StartPeriod": 5 * S}})
    started = parse_rfc3339("2030-01-01T00:00:08Z")
    h = {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert record_result(h, _result(1), p, started) == "starting"  # inside the start period
    assert h["FailingStreak"] == 0
    later = "2030-01-01T00:00:20Z"
    assert record_result(h, _result(1, later), p, started) == "starting" and h["FailingStreak"] == 1
    assert record_result(h, _result(1, later), p, started) == "unhealthy"
    assert record_result(h, _result(0, later), p, started) == "healthy" and h["FailingStreak"] == 0
    for _ in range(10):
        record_result(h, _result(0, later), p, started)
    assert len(h["Log"]) == 5
