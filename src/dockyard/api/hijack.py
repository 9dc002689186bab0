"""Hijacked connections: the raw byte streams of attach and exec.

The docker CLI asks for ``Connection: Upgrade`` / ``Upgrade: tcp`` and, after
a ``101 UPGRADED``, treats the socket as a bidirectional pipe; older clients
send no upgrade header and get ``200 OK`` followed by the same raw stream.

aiohttp has no public hijack, and its protocol closes the socket when the
client half-closes (``eof_received`` returns None) — which would lose the
output still to come after ``echo hi | docker run -i … cat`` closes stdin.
So we write the response head ourselves and swap the transport's protocol
for :class:`HijackedStream`, which keeps the write side open after EOF.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
READ_HIGH_WATER = 1 << 20  # client bytes held before we stop reading its socket
HEAD_GAP = 0.02  # seconds between a 101 head and the first bytes of the stream


class HijackedStream(asyncio.Protocol):
    """Both directions of a hijacked connection, with flow control."""

    def __init__(self, transport: asyncio.Transport, initial: bytes) -> None:
        self.transport = transport
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        if initial:
            self._chunks.put_nowait(initial)
        self._eof = False
        self._closed = asyncio.Event()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._buffered = len(initial)
        self._reading_paused = False
        self._head_sent_at: float | None = None

    # -- asyncio.Protocol ------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._chunks.put_nowait(data)
        self._buffered += len(data)
        if self._buffered > READ_HIGH_WATER and not self._reading_paused:
            # the container reads slower than the client sends: stop reading the socket
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._chunks.put_nowait(b"")
        return True  # keep our write side open: output still drains after stdin EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()
        self._can_write.set()
        if not self._eof:
            self._eof = True
            self._chunks.put_nowait(b"")

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- our side ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def read(self) -> bytes:
        """The next chunk the client sent; b"" once it closed its side."""
        if self._eof and self._chunks.empty():
            return b""
        data = await self._chunks.get()
        self._buffered -= len(data)
        if self._reading_paused and self._buffered < READ_HIGH_WATER // 2:
            self._reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self._head_sent_at is not None:
            # docker-py reads an upgraded stream from the raw socket under http.client's
            # buffered reader: bytes that reach it together with the 101 head are lost.
            # So the first bytes (a logs=1 replay, say) leave a moment after the head.
            wait = HEAD_GAP - (asyncio.get_running_loop().time() - self._head_sent_at)
            self._head_sent_at = None
            if wait > 0:
                await asyncio.sleep(wait)
        if self.closed or self.transport.is_closing():
            raise ConnectionResetError("client went away")
        self.transport.write(data)
        await self._can_write.wait()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def wants_upgrade(request: web.Request) -> bool:
    conn = request.headers.get("Connection", "").lower()
    return "upgrade" in conn and request.headers.get("Upgrade", "").lower() == "tcp"


async def hijack(request: web.Request, content_type: str = RAW_STREAM) -> HijackedStream:
    """Answer ``request`` with the stream's head and take over its connection."""
    transport: Any = request.transport
    protocol: Any = request.protocol
    if transport is None:
        raise ConnectionResetError("client went away")
    if wants_upgrade(request):
        head = ("HTTP/1.1 101 UPGRADED\r\n"
                f"Content-Type: {content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    else:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
    # Bytes the client pipelined behind the request head wait in aiohttp's buffer.
    tail = getattr(protocol, "_message_tail", b"") or b""
    protocol._message_tail = b""
    stream = HijackedStream(transport, tail)
    transport.set_protocol(stream)
    transport.write(head.encode("ascii"))
    if wants_upgrade(request):
        stream._head_sent_at = asyncio.get_running_loop().time()
    return stream


def finished_response() -> web.StreamResponse:
    """What a hijacking handler returns once it has closed the connection itself.

    A prepared-looking response that aiohttp will not try to write again.
    """
    resp = web.Response(status=101)
    resp.force_close()
    return resp
