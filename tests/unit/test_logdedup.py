"""A repeated error is logged once, then with a count (issue 18: 42 MB of identical tracebacks)."""

from __future__ import annotations

import logging

from dockyard.logdedup import RepeatFilter


def _record(msg: str, args=(), level=logging.ERROR, exc=None) -> logging.LogRecord:
    return logging.LogRecord("dockyard.api", level, __file__, 1, msg, args,
                             (exc, exc("x"), None) if exc else None)


def test_repeats_are_counted_and_reported_once_the_window_is_over():
    now = [0.0]
    f = RepeatFilter(window=10, clock=lambda: now[0])
    assert f.filter(_record("%s %s failed", ("GET", "/a"), exc=OSError))
    for i in range(1000):
        now[0] += 0.001
        assert not f.filter(_record("%s %s failed", ("GET", f"/b{i}"), exc=OSError))
    assert f.filter(_record("%s %s failed", ("GET", "/a"), exc=ValueError))  # another problem
    now[0] = 11
    rec = _record("%s %s failed", ("GET", "/c"), exc=OSError)
    assert f.filter(rec)
    assert "repeated 1000 times" in rec.getMessage()
    assert f.filter(_record("debug line", level=logging.DEBUG))
    assert f.filter(_record("debug line", level=logging.DEBUG))
