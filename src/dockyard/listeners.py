"""Opening the API's listeners: unix sockets (mode 0660, group ``docker``) and TCP with TLS.

The decisions (which hosts, which TLS switches, what is refused) are made in
``daemon/hosts.py`` from the configuration; this module only does the I/O:
the SSL context from the PEM files, the sockets, their owner and mode.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from typing import Any

from dockyard import errors
from dockyard.daemon import hosts as hostsmod
from dockyard.daemon.config import DaemonConfig

log = logging.getLogger("dockyard")

# TLS 1.3 session tickets sent after each handshake.  OpenSSL 3.0 spends about as much
# server CPU on its two default tickets (each a copy of the session with the client's
# certificate, serialised and encrypted) as on the rest of the handshake, and no API
# client resumes: the docker CLI (Go, no ClientSessionCache) and docker-py (urllib3)
# start every connection afresh.  See docs/decisions.md.
TLS13_SESSION_TICKETS = 0


def server_ssl_context(tls: hostsmod.TLSSettings) -> ssl.SSLContext:
    """dockerd's ``tlsconfig.Server``: TLS 1.2 or newer; with verify, only clients the CA signed.

    With ``verify`` the CA file is the only trust root (dockerd's
    ``ExclusiveRootPools``): the system's CAs sign no client in.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.num_tickets = TLS13_SESSION_TICKETS
    try:
        ctx.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise errors.InvalidParameter(
            f'invalid TLS configuration: could not load X509 key pair (cert: "{tls.cert}", key: '
            f'"{tls.key}"): {_reason(exc)}') from None
    if tls.verify:
        try:
            ctx.load_verify_locations(cafile=tls.cacert)
        except (OSError, ssl.SSLError) as exc:
            raise errors.InvalidParameter(
                f'invalid TLS configuration: could not read CA certificate "{tls.cacert}": {_reason(exc)}') from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
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
    ssl_context: ssl.SSLContext | None
    gid: int | None


def prepare(cfg: DaemonConfig) -> ListenPlan:
    """Refuse an unsafe TCP listener, load the certificates, look the group up: all before serving."""
    hosts = cfg.listen_hosts
    for warning in hostsmod.check_listeners(hosts, cfg.tls):
        log.warning("%s", warning)
    ctx = server_ssl_context(cfg.tls) if cfg.tls.enabled else None
    gid = socket_gid(cfg.group) if any(h.proto == "unix" for h in hosts) else None
    return ListenPlan(hosts, ctx, gid)


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
        else:
            site = (TLSSite(runner, h.address, h.port, ssl_context=ctx, reuse_address=True) if ctx
                    else web.TCPSite(runner, h.address, h.port, reuse_address=True))
            try:
                await site.start()
            except OSError as exc:
                raise errors.InvalidParameter(f"failed to listen on {h}: {_reason(exc)}") from None
        sites.append(site)
    log.info("dockyardd listening on %s", ", ".join(str(h) for h in hosts))
    return sites
