"""Newline-delimited JSON messages between the runtime and its container processes.

A pair of close-on-exec pipes, not a socket: pipes need no ``socket``/``enum``
import and end with EOF when the other side dies, which the runtime reports.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemError_
from dockyard.runtime.native import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Channel:
    """One end: ``rfd`` to read the peer's messages, ``wfd`` to write ours."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = b""

    @staticmethod
    def pair() -> tuple["Channel", "Channel"]:
        """(parent end, child end); after fork each side closes the other's end."""
        a_r, b_w = os.pipe2(os.O_CLOEXEC)
        b_r, a_w = os.pipe2(os.O_CLOEXEC)
        return Channel(a_r, a_w), Channel(b_r, b_w)

    def send(self, **message: Any) -> None:
        data = (fastjson.dumps(message) + "\n").encode()
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None at EOF (the peer exited)."""
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return fastjson.loads(line)

    def expect(self, key: str, what: str) -> Any:
        """Wait for a message carrying ``key``; an ``error`` message or EOF raises."""
        msg = self.recv()
        if msg is None:
            raise SystemError_(f"container init exited before {what}")
        if "error" in msg:
            raise SystemError_(msg["error"])
        if key not in msg:
            raise SystemError_(f"unexpected message from container init while waiting for {what}: {msg}")
        return msg[key]

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.rfd = self.wfd = -1
