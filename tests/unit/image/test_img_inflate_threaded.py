"""The pull's gzip reader: ISA-L inflating in a thread of its own, a block ahead of the unpacker."""

from __future__ import annotations

import gzip
import io
import os
import threading
import time

import pytest

from dockyard.errors import InvalidParameter
from dockyard.image.archive import open_layer_stream


def test_threaded_gzip_reads_multi_member_streams_whole():
    payload = os.urandom(3 << 20) + b"tar " * (1 << 20)
    packed = gzip.compress(payload[:1000]) + gzip.compress(payload[1000:])  # two members, as pigz can write
    reader = open_layer_stream(io.BytesIO(packed), threaded=True)
    try:
        out = bytearray()
        while chunk := reader.read(65536):
            out += chunk
    finally:
        reader.close()
    assert bytes(out) == payload


def test_threaded_gzip_truncated_or_corrupt_is_a_clear_error():
    packed = gzip.compress(os.urandom(1 << 20))
    for bad in (packed[: len(packed) // 2], packed[:-8] + b"\0" * 8):
        reader = open_layer_stream(io.BytesIO(bad), threaded=True)
        with pytest.raises(InvalidParameter, match="invalid gzip archive"):
            try:
                while reader.read(65536):
                    pass
            finally:
                reader.close()


def test_close_stops_the_inflating_thread_of_a_half_read_stream():
    before = threading.active_count()
    reader = open_layer_stream(io.BytesIO(gzip.compress(os.urandom(8 << 20), 1)), threaded=True)
    assert threading.active_count() == before + 1
    reader.read(1000)  # an unpacker that fails early reads no further
    reader.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
