"""Keep the API reachable: header timeouts, and an fd reserve that idle connections give way to.

aiohttp closes a keep-alive connection that stays idle after a response
(``keepalive_timeout``), but a connection that never sends a request stays
open for ever, and each one holds a file descriptor.  A client opening
connections and sending nothing could so exhaust the daemon's fds: accept(2)
fails with EMFILE, nobody new gets in, and container operations that need
fds fail too.  The guard

* closes a connection whose first request has not arrived within
  ``header_timeout`` (dockerd: ``ReadHeaderTimeout``);
* keeps ``reserve`` fds free: Linux hands out the lowest free descriptor, so
  a new connection whose fd is within ``reserve`` of the soft RLIMIT_NOFILE
  means fewer than ``reserve`` are left; then the oldest connections that are
  not in the middle of a request are closed (and, when every one is busy, the
  new one), so the fds go back to the daemon and a new client is served.

The guard sees connections through :class:`GuardedFactory`, which wraps
aiohttp's protocol factory, and requests through :func:`guard_middleware`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("dockyard.api")

HEADER_TIMEOUT = 60.0  # seconds for a new connection to send its first request
RESERVE = 64  # fds kept free for the daemon's own work
EVICT_BATCH = 16


class _Conn:
    __slots__ = ("transport", "busy", "timer")

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.busy = 0
        self.timer: asyncio.TimerHandle | None = None


class ConnectionGuard:
    """The daemon's open API connections, oldest first."""

    def __init__(self, header_timeout: float = HEADER_TIMEOUT, reserve: int = RESERVE,
                 fd_limit: Callable[[], int] | None = None) -> None:
        self.header_timeout = header_timeout
        self.reserve = reserve
        # the host's soft descriptor limit (soft_fd_limit on Linux); None where sockets have none (Windows)
        self.fd_limit = fd_limit
        self._conns: dict[int, _Conn] = {}  # id(transport) -> conn, in opening order
        self.evicted = 0

    def opened(self, transport: asyncio.BaseTransport) -> None:
        conn = _Conn(transport)
        self._conns[id(transport)] = conn
        if self.header_timeout > 0:
            loop = asyncio.get_running_loop()
            conn.timer = loop.call_later(self.header_timeout, self._no_request, conn)
        sock = transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
        if self.fd_limit is not None and fd >= 0 and fd >= self.fd_limit() - self.reserve:
            self._make_room(conn)

    def closed(self, transport: asyncio.BaseTransport) -> None:
        conn = self._conns.pop(id(transport), None)
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        conn = self._conns.get(id(transport)) if transport is not None else None
        if conn is not None:
            conn.busy += 1
            if conn.timer is not None:
                conn.timer.cancel()
                conn.timer = None

    def request_finished(self, transport: asyncio.BaseTransport | None) -> None:
        conn = self._conns.get(id(transport)) if transport is not None else None
        if conn is not None and conn.busy > 0:
            conn.busy -= 1
        if conn is not None and conn.transport.is_closing():  # a hijacked stream that ended
            self._conns.pop(id(transport), None)

    def _no_request(self, conn: _Conn) -> None:
        conn.timer = None
        if conn.busy == 0 and not conn.transport.is_closing():
            conn.transport.close()

    def _make_room(self, new: _Conn) -> None:
        """Close idle connections, oldest first; the new one when all others are busy."""
        victims = []
        for conn in list(self._conns.values()):
            if conn.transport.is_closing():  # hijacked and gone, or closing already
                self._conns.pop(id(conn.transport), None)
                continue
            if conn is not new and conn.busy == 0:
                victims.append(conn)
                if len(victims) >= EVICT_BATCH:
                    break
        if not victims:
            victims = [new]
        for conn in victims:
            conn.transport.close()
        self.evicted += len(victims)
        log.warning("fewer than %d file descriptors left: closed %d idle API connection(s) "
                    "(%d open)", self.reserve, len(victims), len(self._conns))


def soft_fd_limit() -> int:
    import resource  # POSIX only: the Linux host parts hand this function to the guard

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the guard told of its opening and closing."""

    def __init__(self, inner: Any, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._guard.opened(transport)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.closed(self._transport)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class GuardedFactory:
    """Stands in for aiohttp's ``web.Server`` as the sites' protocol factory."""

    def __init__(self, server: Any, guard: ConnectionGuard) -> None:
        self._server = server
        self._guard = guard

    def __call__(self) -> GuardedProtocol:
        return GuardedProtocol(self._server(), self._guard)

    def __getattr__(self, name: str) -> Any:  # shutdown(), connections, ... of the real server
        return getattr(self._server, name)


class GuardedRunner(web.AppRunner):
    """An AppRunner whose sites accept through the app's :class:`ConnectionGuard`."""

    async def _make_server(self) -> Any:
        server = await super()._make_server()
        return GuardedFactory(server, self.app["conn_guard"])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A connection in the middle of a request is never closed to make room."""
    guard: ConnectionGuard = request.app["conn_guard"]
    transport = request.transport
    guard.request_started(transport)
    try:
        return await handler(request)
    finally:
        guard.request_finished(transport)
