"""TLS for the API's TCP listeners: pyOpenSSL through memory BIOs, under aiohttp's protocol.

Why not asyncio's own TLS (``ssl=`` on ``create_server``): Debian's Python
links OpenSSL 3.0, whose server side of a mutual-TLS handshake costs ~0.3 ms
more CPU than the OpenSSL that ships inside ``cryptography``'s wheel (which
pyOpenSSL drives), and asyncio's ``sslproto`` adds about as much again in
Python per connection (buffers, state machine, flow-control bookkeeping).  A
new API connection cost twice the daemon CPU of dockerd's; see
docs/decisions.md.  :class:`TLSServerProtocol` is the small layer that
replaces it: bytes from the socket go into the TLS object's read BIO, what it
decrypts goes to aiohttp's protocol, what aiohttp writes is encrypted and the
write BIO's bytes go to the socket.  Before it, :class:`TLSAcceptor` accepts
and answers the ClientHello without asyncio's transport machinery, which it
makes only while the client checks our certificate.

What this layer must carry, each covered by tests/e2e/test_tls.py:

* a refused client (no certificate, another CA, garbage instead of a
  ClientHello) gets OpenSSL's alert before the connection is dropped, so the
  docker CLI says ``remote error: tls: certificate required``;
* a client that never finishes its handshake is dropped after
  :data:`HANDSHAKE_TIMEOUT`;
* the end of the client's input, either a TLS close_notify (Go's
  ``tls.Conn.CloseWrite``, what the docker CLI sends when stdin ends) or a
  bare TCP FIN, reaches the application as ``eof_received``; when it returns
  true (a hijacked attach/exec stream), the connection stays writable until
  the application closes it, as Go's server does;
* flow control both ways: the socket's write buffer pauses the application,
  the application pausing reading pauses the socket;
* closing sends a close_notify, then closes the socket once its buffer drained.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from OpenSSL import SSL

log = logging.getLogger("dockyard.api")

HANDSHAKE_TIMEOUT = 10.0  # seconds a client gets to finish the TLS handshake
READ_CHUNK = 256 * 1024  # largest piece of plaintext or ciphertext taken out of OpenSSL at once


def server_connection(ctx: SSL.Context) -> SSL.Connection:
    """A server-side TLS connection over memory BIOs, waiting for a ClientHello."""
    tls = SSL.Connection(ctx, None)
    tls.set_accept_state()
    return tls


def pending_output(tls: SSL.Connection) -> bytes:
    """What OpenSSL wrote for the peer (records, alerts) and nobody sent yet, taken out of its BIO."""
    chunks = []
    while True:
        try:
            chunks.append(tls.bio_read(READ_CHUNK))
        except SSL.WantReadError:
            return b"".join(chunks)


class TLSServerProtocol(asyncio.Protocol):
    """One TLS server connection: the socket's protocol, and the application's transport's owner."""

    def __init__(self, ctx: SSL.Context, app_factory: Callable[[], asyncio.BaseProtocol],
                 handshake_timeout: float = HANDSHAKE_TIMEOUT, tls: SSL.Connection | None = None,
                 unsent: bytes = b"") -> None:
        """``tls``: a handshake :class:`FirstFlight` began (our first flight is out, but for
        ``unsent``); the rest of it, and the connection, continue here."""
        self._ctx = ctx
        self._app_factory = app_factory
        self._handshake_timeout = handshake_timeout
        self._raw: asyncio.Transport | None = None
        self._tls: SSL.Connection | None = tls
        self._unsent = unsent
        self._timer: asyncio.TimerHandle | None = None
        self._app: Any = None  # the application's protocol, made once our first flight went out
        self._ready = False  # the handshake completed: the application's bytes flow
        self._app_transport: AppTransport | None = None
        self._app_paused = False  # the application asked us to stop reading
        self._eof = False  # the client's input ended (close_notify or FIN)
        self._keep_open = False  # ... and the application keeps writing after it
        self._closing = False
        # OpenSSL's post-handshake output under TLS 1.3 (a NewSessionTicket) waits for the
        # first response, so both leave in one segment (one send, one wake-up of the client).
        self._hold_output = False

    # -- the socket's side ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(self._handshake_timeout, self._handshake_timed_out)
        if self._tls is None:
            self._tls = server_connection(self._ctx)
            return
        if self._unsent:
            self._raw.write(self._unsent)
            self._unsent = b""
        self._make_app()

    def _make_app(self) -> None:
        self._app_transport = AppTransport(self)
        self._app = self._app_factory()
        self._app.connection_made(self._app_transport)

    def data_received(self, data: bytes) -> None:
        tls = self._tls
        if tls is None or self._closing:
            return
        tls.bio_write(data)
        if not self._ready:
            if not self._handshake():
                return
        self._read_app()

    def eof_received(self) -> bool | None:
        """A TCP FIN: the client's input ended; hand what came before it to the application first."""
        if not self._ready or self._closing:
            self._abort()
            return None
        if not self._eof:
            self._read_app(drain=True)
        if not self._eof:
            self._app_eof()
        if self._keep_open:
            return True
        self.close()
        return True  # close() closes the socket after the close_notify went out

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        app, self._app = self._app, None
        self._closing = True
        self._tls = None
        if app is not None:
            app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        if self._app is not None:
            self._app.resume_writing()

    # -- the handshake ----------------------------------------------------------------
    def _handshake(self) -> bool:
        """One step of the handshake; True once it completed and the application has its transport."""
        tls = self._tls
        assert tls is not None and self._raw is not None
        try:
            tls.do_handshake()
        except SSL.WantReadError:
            if self._flush() and self._app is None:
                # Our flight is out; the client now spends a millisecond or so checking it.
                # Setting up the application's protocol meanwhile takes that work off the
                # path of the first request.  No plaintext reaches it before the handshake ends.
                self._make_app()
            return False
        except SSL.Error as exc:
            # OpenSSL wrote its alert (certificate required, unknown ca, ...) into the write
            # BIO: send it before closing, so the client can say why it was refused.
            log.debug("TLS handshake with %s failed: %s", self._raw.get_extra_info("peername"), exc)
            self._flush()
            self._closing = True
            self._raw.close()
            return False
        if tls.get_protocol_version_name() == "TLSv1.3":
            self._hold_output = True  # only a session ticket is left to send
        else:
            self._flush()  # TLS 1.2: our ChangeCipherSpec and Finished, which the client waits for
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ack_now(self._raw)
        self._ready = True
        if self._app is None:
            self._make_app()
        return True

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if not self._ready and self._raw is not None:
            log.debug("TLS handshake with %s timed out", self._raw.get_extra_info("peername"))
            self._abort()

    # -- application data -------------------------------------------------------------
    def _read_app(self, drain: bool = False) -> None:
        """Hand the decrypted bytes to the application, while it reads (or all of them: ``drain``)."""
        while self._ready and self._tls is not None and self._app is not None and not self._eof \
                and not self._closing:
            if self._app_paused and not drain:
                return
            try:
                data = self._tls.recv(READ_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:  # the client's close_notify
                self._app_eof()
                if not self._keep_open:
                    self.close()
                break
            except SSL.Error as exc:
                log.debug("TLS error from %s: %s", self._raw and self._raw.get_extra_info("peername"), exc)
                self._flush()
                self._abort()
                return
            self._app.data_received(data)
        if not self._hold_output:
            self._flush()  # a TLS 1.2 alert or key update OpenSSL answered while reading

    def _app_eof(self) -> None:
        self._eof = True
        if self._app is not None:
            try:
                self._keep_open = bool(self._app.eof_received())
            except Exception:  # noqa: BLE001 - as asyncio's transports: the connection fails
                log.exception("eof_received() of the API protocol failed")
                self._abort()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._tls is None or self._closing or not data:
            return
        try:
            self._tls.sendall(data)
        except SSL.Error as exc:
            log.debug("TLS write failed: %s", exc)
            self._abort()
            return
        self._flush()

    def _flush(self) -> bool:
        """Move OpenSSL's output (records, alerts) to the socket; whether there was any."""
        tls, raw = self._tls, self._raw
        if tls is None or raw is None:
            return False
        self._hold_output = False
        out = pending_output(tls)
        if out:
            raw.write(out)
        return bool(out)

    def pause_app_reading(self) -> None:
        if not self._app_paused:
            self._app_paused = True
            if self._raw is not None and not self._raw.is_closing():
                self._raw.pause_reading()

    def resume_app_reading(self) -> None:
        if self._app_paused:
            self._app_paused = False
            if self._raw is not None and not self._raw.is_closing():
                self._raw.resume_reading()
            # bytes OpenSSL already decrypted wait for no new data to arrive
            asyncio.get_running_loop().call_soon(self._read_app)

    # -- closing ----------------------------------------------------------------------
    def close(self) -> None:
        """A close_notify, then the socket closes once what is buffered went out."""
        if self._closing or self._raw is None:
            return
        self._closing = True
        if self._tls is not None:
            try:
                self._tls.shutdown()
            except SSL.Error:
                pass
            self._flush()
        self._raw.close()

    def _abort(self) -> None:
        self._closing = True
        if self._raw is not None:
            self._raw.abort()

    def is_closing(self) -> bool:
        return self._closing or self._raw is None or self._raw.is_closing()

    @property
    def raw(self) -> asyncio.Transport | None:
        return self._raw

    @property
    def tls(self) -> SSL.Connection | None:
        return self._tls

    @property
    def context(self) -> SSL.Context:
        return self._ctx

    def set_app(self, protocol: Any) -> None:
        self._app = protocol

    @property
    def app(self) -> Any:
        return self._app


class AppTransport(asyncio.Transport):
    """What the application writes to and reads from: plaintext over :class:`TLSServerProtocol`."""

    def __init__(self, owner: TLSServerProtocol) -> None:
        super().__init__()
        self._owner = owner

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sslcontext":  # aiohttp: request.secure / scheme "https"
            return self._owner.context
        if name == "ssl_object":
            return self._owner.tls
        raw = self._owner.raw
        return raw.get_extra_info(name, default) if raw is not None else default

    def is_closing(self) -> bool:
        return self._owner.is_closing()

    def close(self) -> None:
        self._owner.close()

    def abort(self) -> None:
        self._owner._abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._owner.set_app(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._owner.app

    def is_reading(self) -> bool:
        return not self._owner._app_paused and not self.is_closing()

    def pause_reading(self) -> None:
        self._owner.pause_app_reading()

    def resume_reading(self) -> None:
        self._owner.resume_app_reading()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._owner.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._owner.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False  # TLS has no half-close of the server's side but close_notify, which is close()

    def write_eof(self) -> None:
        raise NotImplementedError("a TLS connection cannot half-close its write side")

    def get_write_buffer_size(self) -> int:
        raw = self._owner.raw
        return raw.get_write_buffer_size() if raw is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        raw = self._owner.raw
        return raw.get_write_buffer_limits() if raw is not None else (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self._owner.raw is not None:
            self._owner.raw.set_write_buffer_limits(high, low)


def ack_now(transport: asyncio.BaseTransport | None) -> None:
    """Acknowledge the client's last handshake flight now, not after the delayed-ACK timer.

    When the server has nothing to send after the client's Finished, the kernel
    holds that ACK for up to 40 ms, and a client with Nagle's algorithm on
    (Python's ``ssl`` sockets, curl without ``TCP_NODELAY``) holds its first
    request until the ACK comes.  ``TCP_QUICKACK`` sends a pending ACK at once.
    """
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass

ACCEPT_BATCH = 32  # connections taken from the backlog per wake-up, as asyncio's accept loop
ACCEPT_RETRY_DELAY = 1.0  # seconds accepting pauses when the process is out of descriptors
FIRST_READ = 64 * 1024  # a ClientHello is a few hundred bytes; with post-quantum key shares ~2 KB


class TLSAcceptor:
    """Accepts on a listening socket and sends each client our first flight itself.

    asyncio's own accept path costs a new connection three turns of the event
    loop before its ClientHello is even read (the accept, a task that builds
    the transport, then ``connection_made`` and the reader), ~0.1 ms of the
    ~2.5 ms a client waits for a TLS connection.  Here the accept registers
    a reader on the new socket at once, and the ClientHello is answered from
    that reader (:class:`FirstFlight`); only then is the asyncio transport
    made (``connect_accepted_socket``), while the client checks our
    certificate, and :class:`TLSServerProtocol` carries the rest.  An
    ``SSL.Connection`` is kept ready for the next client for the same
    reason.  Loops without ``add_reader`` (Windows' proactor) accept through
    ``create_server`` instead (:meth:`TLSSite.start`).
    """

    def __init__(self, lsock: socket.socket, ctx: SSL.Context,
                 protocol_factory: Callable[[SSL.Connection, bytes, float], asyncio.BaseProtocol],
                 handshake_timeout: float) -> None:
        self._lsock = lsock
        self._ctx = ctx
        self._protocol_factory = protocol_factory
        self._timeout = handshake_timeout
        self._loop = asyncio.get_running_loop()
        self._pending: set[FirstFlight] = set()
        self._spare: SSL.Connection | None = None
        self._closed = False

    def start(self) -> None:
        self._loop.add_reader(self._lsock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting; connections still before their first flight are dropped."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._lsock.fileno())
        self._lsock.close()
        for flight in list(self._pending):
            flight.drop()

    def new_tls(self) -> SSL.Connection:
        tls, self._spare = self._spare, None
        return tls if tls is not None else server_connection(self._ctx)

    def make_spare(self) -> None:
        if self._spare is None and not self._closed:
            self._spare = server_connection(self._ctx)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _addr = self._lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM: wait, as asyncio's server does
                log.error("accepting an API connection failed: %s; retrying in %.0f s", exc, ACCEPT_RETRY_DELAY)
                self._loop.remove_reader(self._lsock.fileno())
                self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pending.add(FirstFlight(self, conn))

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._lsock.fileno(), self._accept)

    def hand_over(self, flight: FirstFlight, unsent: bytes) -> None:
        """The first flight is out: the asyncio transport and :class:`TLSServerProtocol` take over."""
        self._pending.discard(flight)
        assert flight.tls is not None
        remaining = max(flight.deadline - self._loop.time(), 0.0)
        protocol = self._protocol_factory(flight.tls, unsent, remaining)
        task = self._loop.create_task(self._loop.connect_accepted_socket(lambda: protocol, flight.sock))
        task.add_done_callback(_log_failed_hand_over)
        self.make_spare()

    def forget(self, flight: FirstFlight) -> None:
        self._pending.discard(flight)


def _log_failed_hand_over(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("TLS connection lost at hand-over: %s", task.exception())


class FirstFlight:
    """One new connection until our first flight is sent: read the ClientHello, answer it."""

    __slots__ = ("acceptor", "sock", "fd", "tls", "deadline", "timer")

    def __init__(self, acceptor: TLSAcceptor, sock: socket.socket) -> None:
        self.acceptor = acceptor
        self.sock = sock
        self.fd = sock.fileno()
        # made when the ClientHello comes: a connection that sends nothing costs no TLS state
        self.tls: SSL.Connection | None = None
        loop = acceptor._loop
        self.deadline = loop.time() + acceptor._timeout
        self.timer = loop.call_at(self.deadline, self._timed_out)
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(FIRST_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client left before its ClientHello
            self.drop()
            return
        if self.tls is None:
            self.tls = self.acceptor.new_tls()
        tls = self.tls
        tls.bio_write(data)
        try:
            tls.do_handshake()
        except SSL.WantReadError:
            pass
        except SSL.Error as exc:
            # garbage, or a hello we refuse: OpenSSL's alert goes out before the close
            log.debug("TLS handshake with %s failed: %s", _peer(self.sock), exc)
            self._send(pending_output(tls))
            self.drop()
            return
        out = pending_output(tls)
        if not out:
            return  # a ClientHello split across segments: wait for the rest
        self._stop_reading()
        self.acceptor.hand_over(self, self._send(out))

    def _send(self, out: bytes) -> bytes:
        """Send what the socket takes now; the rest (rare: a full buffer) is returned."""
        try:
            sent = self.sock.send(out) if out else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return b""
        return out[sent:]

    def _stop_reading(self) -> None:
        self.acceptor._loop.remove_reader(self.fd)
        self.timer.cancel()

    def _timed_out(self) -> None:
        log.debug("TLS handshake with %s timed out", _peer(self.sock))
        self.drop()

    def drop(self) -> None:
        self._stop_reading()
        self.acceptor.forget(self)
        self.sock.close()


def _peer(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


class TLSSite(web.TCPSite):
    """aiohttp's TCP site with :class:`TLSServerProtocol` between the socket and the app."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, tls_context: SSL.Context,
                 reuse_address: bool = True) -> None:
        super().__init__(runner, host, port, reuse_address=reuse_address)
        self._tls_context = tls_context
        self._acceptors: list[TLSAcceptor] = []

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self._port}"

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server: Any = self._runner.server
        ctx = self._tls_context
        # DOCKYARD_TLS_HANDSHAKE_TIMEOUT: seconds a new connection has to finish its handshake
        timeout = float(os.environ.get("DOCKYARD_TLS_HANDSHAKE_TIMEOUT") or HANDSHAKE_TIMEOUT)

        def factory() -> TLSServerProtocol:
            return TLSServerProtocol(ctx, server, timeout)

        def adopt(tls: SSL.Connection, unsent: bytes, remaining: float) -> TLSServerProtocol:
            return TLSServerProtocol(ctx, server, remaining, tls=tls, unsent=unsent)

        # The listening sockets come from create_server (its address resolution, dual stack and
        # socket options); accepting is the TLSAcceptor's, on duplicates of them.
        self._server = await loop.create_server(factory, self._host, self._port, backlog=self._backlog,
                                                reuse_address=self._reuse_address, start_serving=False)
        for tsock in self._server.sockets:
            dup = socket.socket(tsock.family, tsock.type, tsock.proto, fileno=os.dup(tsock.fileno()))
            dup.setblocking(False)
            dup.listen(self._backlog)
            acceptor = TLSAcceptor(dup, ctx, adopt, timeout)
            try:
                acceptor.start()
            except NotImplementedError:  # no add_reader: the proactor loop on Windows
                dup.close()
                await self._server.start_serving()
                break
            self._acceptors.append(acceptor)

    async def stop(self) -> None:
        for acceptor in self._acceptors:
            acceptor.close()
        self._acceptors = []
        await super().stop()
