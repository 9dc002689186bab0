"""Where the API listens, and with which TLS settings: dockerd's ``-H`` and ``--tls*``, as data.

Sans-I/O: parsing ``-H`` values and deciding what each TCP listener needs are
pure functions, unit-tested; ``dockyard/listeners.py`` opens the sockets.

dockerd's rules, kept here:

- ``--tlsverify`` (set to anything) turns TLS on; ``--tls`` alone verifies
  clients too unless ``--tlsverify=false`` is given (moby since v23:
  "enable tls verification unless explicitly disabled").
- A TCP address without a host is ``localhost``; without a port it is 2375,
  or 2376 with TLS.
- TCP without client verification: dockerd logs that it is insecure, and on a
  non-loopback address without an explicit ``--tls=false``/``--tlsverify=false``
  it only slows its start by 15 s and announces that this "will be a hard
  failure" in a future version.  dockyard makes it that hard failure now:
  such a daemon does not start, and the message names the flag that opts in.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Callable

from dockyard.errors import InvalidParameter

DEFAULT_HTTP_PORT = 2375
DEFAULT_TLS_PORT = 2376
DEFAULT_CA_FILE = "ca.pem"
DEFAULT_CERT_FILE = "cert.pem"
DEFAULT_KEY_FILE = "key.pem"
DEFAULT_SOCKET_GROUP = "docker"


@dataclass(frozen=True)
class Host:
    """One parsed ``-H`` value: ``unix:///path``, ``tcp://host:port`` or ``npipe:////./pipe/name``."""

    proto: str  # "unix", "tcp" or "npipe"
    address: str  # the socket path, the host part of a TCP address, or the pipe's name (\\.\pipe\name)
    port: int = 0

    def __str__(self) -> str:
        if self.proto == "unix":
            return f"unix://{self.address}"
        if self.proto == "npipe":
            return "npipe://" + self.address.replace("\\", "/")
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True)
class TLSSettings:
    """The resolved ``tls``/``tlsverify`` switches and the three PEM files."""

    enabled: bool = False
    verify: bool = False
    cacert: str = ""
    cert: str = ""
    key: str = ""
    # True when the user said tls=false or tlsverify=false on purpose: dockerd's
    # "please let me shoot myself in the foot", which allows plain TCP off loopback.
    explicitly_insecure: bool = False


def parse_host(value: str, tls: bool = False) -> Host:
    """dockerd's ``-H``: ``unix:///p``, ``/p``, ``tcp://h:p``, ``tcp://:p``, ``tcp://h``, ``npipe:////./pipe/n``."""
    text = value.strip()
    if not text:
        raise InvalidParameter("invalid empty host address")
    proto, sep, rest = text.partition("://")
    if not sep:
        if text.startswith("/"):
            return Host("unix", text)
        if text.startswith(":") or text[0].isdigit():
            proto, rest = "tcp", text  # "-H :2375" and "-H 127.0.0.1:2375", as dockerd accepts
        else:
            raise InvalidParameter(f"invalid bind address ({text}): bad format, expected PROTO://ADDR")
    if proto == "unix":
        if not rest.startswith("/"):
            raise InvalidParameter(f"invalid bind address ({text}): the unix socket path must be absolute")
        return Host("unix", rest)
    if proto == "npipe":  # dockerd's Windows form: npipe:////./pipe/docker_engine
        name = rest.replace("\\", "/")
        if not name.startswith("//./pipe/") or len(name) == len("//./pipe/") or "/" in name[len("//./pipe/"):]:
            raise InvalidParameter(f"invalid bind address ({text}): a named pipe is npipe:////./pipe/NAME")
        return Host("npipe", name.replace("/", "\\"))
    if proto == "fd":
        raise InvalidParameter(f"invalid bind address ({text}): fd:// (systemd socket activation) is not "
                               "supported; use unix:// or tcp://")
    if proto != "tcp":
        raise InvalidParameter(f"invalid bind address ({text}): unsupported protocol {proto!r}")
    if "/" in rest.rstrip("/"):
        raise InvalidParameter(f"invalid bind address ({text}): should not contain a path element")
    rest = rest.rstrip("/")
    host, port_text = _split_host_port(rest, text)
    port = DEFAULT_TLS_PORT if tls else DEFAULT_HTTP_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidParameter(f"invalid bind address ({text}): invalid port {port_text!r}")
        port = int(port_text)
    return Host("tcp", host or "localhost", port)


def _split_host_port(rest: str, text: str) -> tuple[str, str]:
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise InvalidParameter(f"invalid bind address ({text}): missing ']' in address")
        host, after = rest[1:end], rest[end + 1:]
        if after and not after.startswith(":"):
            raise InvalidParameter(f"invalid bind address ({text}): bad IPv6 address")
        return host, after[1:]
    if rest.count(":") > 1:
        raise InvalidParameter(f"invalid bind address ({text}): IPv6 addresses need brackets: [::1]:2376")
    host, _, port = rest.partition(":")
    return host, port


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal; any other name counts as reachable from outside."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_tls(tls: bool | None, tlsverify: bool | None, cacert: str | None, cert: str | None,
                key: str | None, cert_path: str | None = None,
                exists: Callable[[str], bool] | None = None) -> TLSSettings:
    """dockerd's ``setDefaultOptions`` + config merge: what ``tls``/``tlsverify`` mean together.

    ``None`` is "not given".  ``cert_path`` is where the default PEM files live
    (``$DOCKER_CERT_PATH`` or ``~/.docker``); a default cert or key that does
    not exist is dropped, as dockerd does, so the error names what is missing.
    """
    exists = exists or os.path.exists
    enabled = bool(tls) or tlsverify is not None
    verify = enabled and (tlsverify if tlsverify is not None else True)
    insecure = tls is False or tlsverify is False
    if not enabled:
        return TLSSettings(explicitly_insecure=insecure)
    base = cert_path or os.path.join(os.path.expanduser("~"), ".docker")
    files = {}
    for name, given, default in (("cacert", cacert, DEFAULT_CA_FILE), ("cert", cert, DEFAULT_CERT_FILE),
                                 ("key", key, DEFAULT_KEY_FILE)):
        path = given or os.path.join(base, default)
        files[name] = path if given or name == "cacert" or exists(path) else ""
    return TLSSettings(True, verify, files["cacert"] if verify else (cacert or ""), files["cert"],
                       files["key"], insecure)


def tcp_warnings(hosts: list[Host], tls: TLSSettings) -> list[str]:
    """What ``docker info`` warns about these listeners (moby's ``fillAPIInfo`` texts)."""
    note = ("\n         Access to the remote API is equivalent to root access on the host. Refer\n"
            "         to the 'Docker daemon attack surface' section in the documentation for\n"
            "         more information: https://docs.docker.com/go/attack-surface/")
    out = []
    for h in hosts:
        if h.proto != "tcp":
            continue
        addr = str(h)[len("tcp://"):]
        if not tls.enabled:
            out.append(f"[DEPRECATION NOTICE]: API is accessible on http://{addr} without encryption.{note}")
        elif not tls.verify:
            out.append(f"[DEPRECATION NOTICE]: API is accessible on https://{addr} without TLS client "
                       f"verification.{note}")
    return out


def check_listeners(hosts: list[Host], tls: TLSSettings) -> list[str]:
    """Refuse what must not start; return the warnings to log for what may.

    A TCP listener without client verification is logged as insecure (dockerd's
    words); on a non-loopback address, without an explicit ``--tls=false`` or
    ``--tlsverify=false``, the daemon refuses to start.
    """
    if not hosts:
        raise InvalidParameter("no hosts configured")
    warnings = []
    for h in hosts:
        if h.proto != "tcp" or (tls.enabled and tls.verify):
            continue
        warnings.append(f"Binding to IP address without --tlsverify is insecure and gives root access on this "
                        f"machine to everyone who has access to your network. host={h}")
        if not tls.enabled and not tls.explicitly_insecure and not is_loopback(h.address):
            raise InvalidParameter(
                f"refusing to listen on {h} without TLS: anyone who can reach this address gets root on "
                "this host. Use --tlsverify with --tlscacert/--tlscert/--tlskey, or say --tls=false "
                "(\"tls\": false in daemon.json) to listen without encryption anyway")
    return warnings
