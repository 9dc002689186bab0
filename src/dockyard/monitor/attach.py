"""conmon's attach socket: a SOCK_SEQPACKET unix socket at ``<bundle>/attach``.

Protocol (conmon src/ctr_stdio.c, conn_sock.c): every packet conmon sends is
one read of the container's stdout or stderr, prefixed with one byte naming the
pipe (2 = stdout, 3 = stderr; conmon's ``stdpipe_t``).  Bytes we send are
written raw to the container's stdin (one packet ≤ 32 KiB, conmon's buffer).
Shutting down our write side makes conmon close the container's stdin when it
was started with ``-i`` and without ``--leave-stdin-open`` — that is how
``echo hi | docker run -i busybox cat`` sees EOF.  When the container exits,
conmon closes every attached socket: :meth:`Attachment.read` returns None.

Paths can exceed the 108-byte ``sun_path``: we connect through
``/proc/self/fd/<dirfd>/attach`` like conmon binds it.
"""

from __future__ import annotations

import asyncio
import os
import socket

from dockyard.errors import os_error

STDOUT = 1
STDERR = 2
_CONMON_PIPES = {2: STDOUT, 3: STDERR}
_MAX_PACKET = 32768  # conmon's CONN_SOCK_BUF_SIZE
_RECV_SIZE = 65536


def decode_packet(packet: bytes) -> tuple[int, bytes] | None:
    """One conmon packet → (1 stdout | 2 stderr, data); None for an unknown pipe byte."""
    if not packet:
        return None
    stream = _CONMON_PIPES.get(packet[0])
    if stream is None:
        return None
    return stream, packet[1:]


def connect_attach_socket(bundle: str) -> socket.socket:
    """Connect (blocking) to ``<bundle>/attach``; returns a non-blocking socket."""
    dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/attach")
    except OSError as exc:
        sock.close()
        raise os_error("connect to attach socket", os.path.join(bundle, "attach"), exc) from None
    finally:
        os.close(dirfd)
    sock.setblocking(False)
    return sock


class Attachment:
    """A live connection to a container's stdio through conmon."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._stdin_closed = False
        self._closed = False

    def fileno(self) -> int:
        return self._sock.fileno()

    async def read(self) -> tuple[int, bytes] | None:
        """Next chunk of output as (stream 1|2, bytes); None at EOF (container gone)."""
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                return None
            try:
                packet = await loop.sock_recv(self._sock, _RECV_SIZE)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not packet:
                return None
            decoded = decode_packet(packet)
            if decoded is not None:
                return decoded

    async def write(self, data: bytes) -> None:
        """Send bytes to the container's stdin (split into conmon-sized packets)."""
        if self._stdin_closed:
            raise BrokenPipeError("stdin already closed")
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        for off in range(0, len(view), _MAX_PACKET):
            await loop.sock_sendall(self._sock, view[off:off + _MAX_PACKET])

    def close_stdin(self) -> None:
        """Half-close: the container's stdin gets EOF (unless conmon keeps it open)."""
        if self._stdin_closed or self._closed:
            return
        self._stdin_closed = True
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sock.close()

    async def __aenter__(self) -> "Attachment":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
