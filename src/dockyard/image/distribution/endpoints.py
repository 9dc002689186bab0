"""Which URLs a registry name means, sans-I/O: mirrors, insecure registries, loopback.

As dockerd: ``docker.io`` goes to the ``registry-mirrors`` in order, then to
``https://registry-1.docker.io``; a registry listed in ``insecure-registries``
(a host[:port] or a CIDR) or on a loopback address is tried over HTTPS without
certificate checks and then over plain HTTP; any other registry is HTTPS only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dockyard.errors import InvalidParameter

DOCKER_IO = "docker.io"
DOCKER_IO_ENDPOINT = "https://registry-1.docker.io"
INDEX_SERVER = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Endpoint:
    url: str            # "https://host:port" (no trailing slash)
    verify_tls: bool
    mirror: bool = False

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]


def _host_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    name = host
    if name.startswith("["):
        name = name[1:name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return ipaddress.ip_address("127.0.0.1")
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def validate_insecure(entries: list[str]) -> list[str]:
    """daemon.json ``insecure-registries``: host[:port] names or CIDRs (no scheme)."""
    out = []
    for e in entries:
        e = str(e).strip()
        if "://" in e:
            raise InvalidParameter(f"insecure registry {e} should not contain '://'")
        if "/" in e:
            try:
                ipaddress.ip_network(e, strict=False)
            except ValueError:
                raise InvalidParameter(f"insecure registry {e} is not a valid CIDR") from None
        out.append(e)
    return out


def validate_mirrors(entries: list[str]) -> list[str]:
    """daemon.json ``registry-mirrors``: http(s) URLs without a path."""
    out = []
    for e in entries:
        e = str(e).strip().rstrip("/")
        if not e.startswith(("http://", "https://")):
            raise InvalidParameter(f"invalid mirror: unsupported scheme in {e}: must use either 'https://' or 'http://'")
        if "/" in e.split("://", 1)[1]:
            raise InvalidParameter(f"invalid mirror: path, query, or fragment at end of the URI {e!r}")
        out.append(e)
    return out


def is_insecure(host: str, insecure: list[str]) -> bool:
    if host in insecure:
        return True
    ip = _host_ip(host)
    if ip is None:
        return False
    if ip.is_loopback:
        return True
    for e in insecure:
        if "/" in e and ip in ipaddress.ip_network(e, strict=False):
            return True
    return False


def endpoints(domain: str, insecure: list[str], mirrors: list[str]) -> list[Endpoint]:
    """The endpoints to try, in order, for the registry ``domain`` of a reference."""
    if domain == DOCKER_IO:
        out = [Endpoint(m, verify_tls=not is_insecure(m.split("://", 1)[1], insecure), mirror=True)
               for m in mirrors]
        return out + [Endpoint(DOCKER_IO_ENDPOINT, verify_tls=True)]
    if is_insecure(domain, insecure):
        return [Endpoint(f"https://{domain}", verify_tls=False), Endpoint(f"http://{domain}", verify_tls=False)]
    return [Endpoint(f"https://{domain}", verify_tls=True)]


def registry_of_server_address(address: str) -> str:
    """The registry a ``docker login`` server address names (``https://index.docker.io/v1/`` → docker.io)."""
    a = address.strip()
    if not a or a.rstrip("/") in (INDEX_SERVER.rstrip("/"), "index.docker.io", "docker.io",
                                  "registry-1.docker.io", "https://registry-1.docker.io"):
        return DOCKER_IO
    if "://" in a:
        a = a.split("://", 1)[1]
    return a.split("/", 1)[0]


def registry_config(insecure: list[str], mirrors: list[str]) -> dict[str, object]:
    """``RegistryConfig`` of ``GET /info``, as dockerd reports its configuration."""
    cidrs = ["::1/128", "127.0.0.0/8"] + [e for e in insecure if "/" in e]
    shown_mirrors = [m + "/" for m in mirrors]
    index: dict[str, object] = {DOCKER_IO: {"Name": DOCKER_IO, "Mirrors": shown_mirrors, "Secure": True,
                                            "Official": True}}
    for e in insecure:
        if "/" not in e:
            index[e] = {"Name": e, "Mirrors": [], "Secure": False, "Official": False}
    return {"InsecureRegistryCIDRs": cidrs, "IndexConfigs": index, "Mirrors": shown_mirrors}
