"""TLS for the API's TCP listeners, with the half-close that hijacked streams need.

The docker CLI (and docker-py) end a hijacked stream's input by shutting the
TCP connection's write side: Go's TLS client sends a bare FIN, no TLS
close_notify, and keeps reading the container's output.  asyncio's TLS layer
treats any FIN as the end of the whole connection (it flushes and closes), so
``docker run --rm busybox echo hi`` over TLS would print nothing.
:class:`HalfCloseSSLProtocol` hands that FIN to the application protocol as
an EOF instead and, when the protocol asks to stay open (a hijacked stream
does), keeps the write side alive until the server closes, as Go's server does.

This subclasses ``asyncio.sslproto.SSLProtocol`` and touches two of its
internals (``_state``, ``_do_read``): the stdlib offers no hook for a TLS
half-close.  tests/e2e/test_tls.py covers the paths that depend on it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from asyncio import sslproto
from typing import Any

from aiohttp import web

HANDSHAKE_TIMEOUT = 10.0  # seconds a client gets to finish the TLS handshake


class HalfCloseSSLProtocol(sslproto.SSLProtocol):
    """asyncio's server-side TLS protocol, where the client's end of input is a half-close.

    Two ways a client says "no more input": the docker CLI's ``tls.Conn.CloseWrite``
    sends a TLS close_notify and keeps the socket; a client that shuts the TCP
    socket's write side sends a bare FIN.  Either way the application protocol
    gets ``eof_received``; when it returns true (a hijacked stream), the
    connection stays writable until the application closes it.
    """

    _keep_open = False

    def _call_eof_received(self) -> None:
        if self._app_state != sslproto.AppProtocolState.STATE_CON_MADE:
            return
        self._app_state = sslproto.AppProtocolState.STATE_EOF
        try:
            self._keep_open = bool(self._app_protocol.eof_received())
        except Exception as exc:  # noqa: BLE001 - what the base class does: fail the connection
            self._fatal_error(exc, "Error calling eof_received()")

    def _start_shutdown(self) -> None:
        app_closing = self._app_transport is not None and self._app_transport._closed
        if self._keep_open and not app_closing and self._state == sslproto.SSLProtocolState.WRAPPED:
            return  # the peer's close_notify: its input ended, our output goes on
        super()._start_shutdown()

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is None:
            ack_now(self._transport)
        else:
            # Send the alert OpenSSL wrote (``certificate required``, ``unknown ca``) before
            # the connection is dropped, so the client says why instead of a bare EOF.
            try:
                self._process_outgoing()
            except Exception:  # noqa: BLE001 - the connection is failing anyway
                pass
        super()._on_handshake_complete(handshake_exc)

    def eof_received(self) -> bool | None:
        if self._state != sslproto.SSLProtocolState.WRAPPED:
            return super().eof_received()
        self._eof_received = True
        # Whatever the client sent before its FIN reaches the application first,
        # even if the application had paused reading (the bytes are already in memory).
        paused = self._app_reading_paused
        self._app_reading_paused = False
        self._do_read()
        self._app_reading_paused = self._app_reading_paused or paused
        self._call_eof_received()
        if self._keep_open:
            return True  # the application keeps writing; it closes the connection itself
        return super().eof_received()


def ack_now(transport: asyncio.BaseTransport | None) -> None:
    """Acknowledge the client's last handshake flight now, not after the delayed-ACK timer.

    Without session tickets the server has nothing to send after the client's
    Finished, so the kernel holds that ACK for up to 40 ms; a client with Nagle's
    algorithm on (Python's ``ssl`` sockets, curl without ``TCP_NODELAY``) holds its
    first request until the ACK comes.  ``TCP_QUICKACK`` sends a pending ACK at once.
    """
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


class TLSSite(web.TCPSite):
    """aiohttp's TCP site with :class:`HalfCloseSSLProtocol` between the socket and the app."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server: Any = self._runner.server
        ctx: ssl.SSLContext = self._ssl_context  # type: ignore[assignment]

        def factory() -> HalfCloseSSLProtocol:
            return HalfCloseSSLProtocol(loop, server(), ctx, None, server_side=True,
                                        ssl_handshake_timeout=HANDSHAKE_TIMEOUT)

        self._server = await loop.create_server(factory, self._host, self._port, backlog=self._backlog,
                                                reuse_address=self._reuse_address)
