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


def test_a_clients_malformed_http_is_one_debug_line_without_traceback():
    from aiohttp.http_exceptions import BadHttpMessage

    from dockyard.logdedup import ClientHTTPErrorFilter

    try:
        raise BadHttpMessage("Invalid header value char:\n\n  b'X: \\x00'\n")
    except BadHttpMessage:
        import sys
        record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
                                   ("127.0.0.1",), sys.exc_info())
    logging.getLogger("aiohttp.server").setLevel(logging.DEBUG)
    try:
        assert ClientHTTPErrorFilter().filter(record)
        assert record.levelno == logging.DEBUG and record.exc_info is None
        assert record.getMessage().startswith("Error handling request from 127.0.0.1: 400, message: Invalid header")
        logging.getLogger("aiohttp.server").setLevel(logging.INFO)
        record.levelno, record.exc_info = logging.ERROR, (BadHttpMessage, BadHttpMessage("x"), None)
        assert not ClientHTTPErrorFilter().filter(record)  # dropped below debug
    finally:
        logging.getLogger("aiohttp.server").setLevel(logging.NOTSET)
    other = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Unhandled exception", None,
                              (ValueError, ValueError("ours"), None))
    assert ClientHTTPErrorFilter().filter(other) and other.levelno == logging.ERROR and other.exc_info
