"""The detach-key scanner and key parser (sans-I/O)."""

from __future__ import annotations

import pytest

from dockyard.api.detachkeys import DetachScanner, parse_detach_keys
from dockyard.errors import InvalidParameter


def test_parse_default_and_spellings() -> None:
    assert parse_detach_keys(None) == b"\x10\x11"
    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a") == b"\x01"
    assert parse_detach_keys("ctrl-Z,x") == b"\x1ax"
    assert parse_detach_keys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_") == bytes([0, 27, 28, 29, 30, 31])


@pytest.mark.parametrize("bad", ["ctrl-", "ctrl-1", "ab", "ctrl-p,,ctrl-q", "é"])
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid detach keys"):
        parse_detach_keys(bad)


def test_plain_bytes_pass_through() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"echo hi\r") == (b"echo hi\r", False)


def test_sequence_in_one_chunk_detaches_and_is_swallowed() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"ls\x10\x11more") == (b"ls", True)
    assert s.feed(b"after") == (b"", True)


def test_sequence_split_over_chunks() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"a\x10") == (b"a", False)
    assert s.feed(b"\x11") == (b"", True)


def test_false_start_is_passed_on() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"\x10") == (b"", False)
    assert s.feed(b"x") == (b"\x10x", False)
    # a false start followed by a real start
    assert s.feed(b"\x10\x10") == (b"\x10", False)
    assert s.feed(b"\x11") == (b"", True)


def test_flush_returns_held_partial() -> None:
    s = DetachScanner(b"\x10\x11")
    s.feed(b"q\x10")
    assert s.flush() == b"\x10"
    assert s.flush() == b""


def test_single_key_and_empty_keys() -> None:
    s = DetachScanner(b"\x01")
    assert s.feed(b"ab\x01c") == (b"ab", True)
    assert DetachScanner(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
