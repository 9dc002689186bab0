"""Sans-I/O pieces of Docker's stream formats."""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEM = 0, 1, 2, 3


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame: stream byte, three zero bytes, big-endian length, payload."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def frames(stream: int, data: bytes, max_size: int = 32 * 1024) -> bytes:
    """``data`` split into frames no larger than ``max_size`` (what dockerd sends)."""
    if len(data) <= max_size:
        return frame(stream, data)
    return b"".join(frame(stream, data[i:i + max_size]) for i in range(0, len(data), max_size))


class FrameDecoder:
    """Incremental decoder of stdcopy frames: feed bytes, get (stream, payload) pairs."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= 8:
            stream, size = struct.unpack(">BxxxI", self._buf[:8])
            if len(self._buf) < 8 + size:
                break
            out.append((stream, bytes(self._buf[8:8 + size])))
            del self._buf[:8 + size]
        return out
