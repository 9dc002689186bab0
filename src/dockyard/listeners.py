"""Opening the API's listeners: unix sockets (mode 0660, group ``docker``) and TCP with TLS.

The decisions (which hosts, which TLS switches, what is refused) are made in
``daemon/hosts.py`` from the configuration; this module only does the I/O:
the SSL context from the PEM files, the sockets, their owner and mode.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from OpenSSL import SSL

from dockyard import errors
from dockyard.daemon import hosts as hostsmod
from dockyard.daemon.config import DaemonConfig

log = logging.getLogger("dockyard")

# dockerd's server cipher suites for TLS 1.2 (``tlsconfig.DefaultServerAcceptedCiphers``):
# ECDHE key exchange with AES-GCM or AES-CBC.
TLS12_CIPHERS = b"ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:!aNULL"
# Go's TLS 1.3 order on AES-NI hardware (OpenSSL puts AES-256 first): SHA-256 transcripts
# and AES-128 cost a little less per handshake and per record.
TLS13_SUITES = b"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
# OpenSSL's SSL_MODE_NO_AUTO_CHAIN (pyOpenSSL names no constant for it).
MODE_NO_AUTO_CHAIN = 0x00000008


def server_ssl_context(tls: hostsmod.TLSSettings) -> SSL.Context:
    """dockerd's ``tlsconfig.Server``: TLS 1.2 or newer; with verify, only clients the CA signed.

    With ``verify`` the CA file is the only trust root (dockerd's
    ``ExclusiveRootPools``): the system's CAs sign no client in.  pyOpenSSL,
    not the ``ssl`` module: see api/tls.py and docs/decisions.md.

    No stateless TLS 1.3 session tickets (``OP_NO_TICKET``; with the session
    cache off the two stateful tickets OpenSSL sends instead are a few bytes that
    resume nothing): no API client resumes (the docker CLI's Go client has no
    ``ClientSessionCache``, docker-py's urllib3 keeps none), and OpenSSL spends
    ~0.35 ms of server CPU per connection on its two default ones, each a copy
    of the session with the client's certificate, serialised and encrypted.

    The certificates sent are those of ``--tlscert``, as Go's server sends
    them (``MODE_NO_AUTO_CHAIN``).  Left to itself OpenSSL completes the chain
    from the verify store on every handshake: it appended the CA, which the
    client already holds, and paid a chain verification (an ECDSA verify)
    per connection for it, ~0.1 ms of server CPU, and ~0.15 ms more for the
    client to parse and check a certificate it did not need.
    """
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_COMPRESSION
                    | SSL.OP_CIPHER_SERVER_PREFERENCE)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.set_mode(MODE_NO_AUTO_CHAIN)
    ctx.set_cipher_list(TLS12_CIPHERS)
    ctx.set_tls13_ciphersuites(TLS13_SUITES)
    ctx.set_alpn_select_callback(_alpn_http11)
    try:
        for path in (tls.cert, tls.key):
            with open(path, "rb"):
                pass
        ctx.use_certificate_chain_file(tls.cert)
        ctx.use_privatekey_file(tls.key)
        ctx.check_privatekey()
    except (OSError, SSL.Error) as exc:
        raise errors.InvalidParameter(
            f'invalid TLS configuration: could not load X509 key pair (cert: "{tls.cert}", key: '
            f'"{tls.key}"): {_reason(exc)}') from None
    if tls.verify:
        try:
            with open(tls.cacert, "rb"):
                pass
            ctx.load_verify_locations(tls.cacert)
        except (OSError, SSL.Error) as exc:
            raise errors.InvalidParameter(
                f'invalid TLS configuration: could not read CA certificate "{tls.cacert}": {_reason(exc)}') from None
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    return ctx


def _alpn_http11(conn: SSL.Connection, offered: list[bytes]) -> bytes | Any:
    """HTTP/1.1 when the client offers it (as Go's ``NextProtos``), no ALPN otherwise."""
    return b"http/1.1" if b"http/1.1" in offered else SSL.NO_OVERLAPPING_PROTOCOLS


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        return "; ".join(": ".join(p for p in err if p) for err in exc.args[0]) or "unreadable PEM"
    return str(exc)


def socket_gid(group: str) -> int | None:
    """The gid for ``--group``: a name or a number; None when the default ``docker`` is absent.

    dockerd fails on an unknown group the user named, and only warns when the
    default group does not exist.
    """
    if not group:
        return None
    import grp  # POSIX only, and only for unix sockets

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    if group.isdigit():
        return int(group)
    if group == hostsmod.DEFAULT_SOCKET_GROUP:
        log.warning("could not change group of the API socket to %s: no such group", group)
        return None
    raise errors.InvalidParameter(f"can't create unix socket: group {group} not found")


@dataclass
class ListenPlan:
    """What :func:`prepare` checked and loaded, before the daemon touches any state."""

    hosts: list[hostsmod.Host]
    ssl_context: SSL.Context | None
    gid: int | None


def prepare(cfg: DaemonConfig) -> ListenPlan:
    """Refuse an unsafe TCP listener, load the certificates, look the group up: all before serving."""
    hosts = cfg.listen_hosts
    for warning in hostsmod.check_listeners(hosts, cfg.tls):
        log.warning("%s", warning)
    if any(h.proto == "npipe" for h in hosts) and not hasattr(asyncio.get_running_loop(), "start_serving_pipe"):
        raise errors.InvalidParameter("npipe:// listeners need Windows (the proactor event loop's named pipes)")
    ctx = server_ssl_context(cfg.tls) if cfg.tls.enabled else None
    gid = socket_gid(cfg.group) if any(h.proto == "unix" for h in hosts) else None
    return ListenPlan(hosts, ctx, gid)


class PipeSite:
    """The API on a Windows named pipe (``npipe://``), dockerd's default transport there: the
    proactor loop's pipe server with aiohttp's protocol.  Plain HTTP (a pipe's access is the
    pipe's security descriptor, as for dockerd; ``--tls`` applies to TCP only)."""

    def __init__(self, runner: Any, name: str) -> None:
        self.runner, self.name = runner, name
        self._servers: list[Any] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._servers = await loop.start_serving_pipe(self.runner.server, self.name)  # type: ignore[attr-defined]
        except OSError as exc:
            raise errors.InvalidParameter(f"failed to listen on {self.name}: {exc}") from None

    async def stop(self) -> None:
        for server in self._servers:
            server.close()


async def start_sites(runner: Any, plan: ListenPlan) -> list[Any]:
    """Start one aiohttp site per host."""
    from aiohttp import web

    from dockyard.api.tls import TLSSite

    hosts, ctx, gid = plan.hosts, plan.ssl_context, plan.gid
    sites: list[Any] = []
    for h in hosts:
        site: Any
        if h.proto == "unix":
            os.makedirs(os.path.dirname(h.address) or ".", exist_ok=True)
            if os.path.exists(h.address):
                os.unlink(h.address)
            old = os.umask(0o117)  # the socket is never wider than 0660, not even for a moment
            try:
                site = web.UnixSite(runner, h.address)
                await site.start()
            finally:
                os.umask(old)
            os.chmod(h.address, 0o660)
            if gid is not None:
                os.chown(h.address, 0, gid)
        elif h.proto == "npipe":
            site = PipeSite(runner, h.address)
            await site.start()
        else:
            site = (TLSSite(runner, h.address, h.port, ctx, reuse_address=True) if ctx
                    else web.TCPSite(runner, h.address, h.port, reuse_address=True))
            try:
                await site.start()
            except OSError as exc:
                raise errors.InvalidParameter(f"failed to listen on {h}: {_reason(exc)}") from None
        sites.append(site)
    log.info("dockyardd listening on %s", ", ".join(str(h) for h in hosts))
    return sites
