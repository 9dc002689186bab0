"""The kernel side of bridge networking: netns files, bridges, veth pairs, port checks.

Driven through iproute2 (``ip -batch``, one exec per side) and util-linux
(``unshare --net=FILE`` for a persistent namespace), the Debian tools every
host has; see docs/decisions.md for why not netavark.  Every function has its
undo next to it, and every name comes from :func:`link_stem`, so all of a
daemon's interfaces carry its prefix.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shlex
import socket
import subprocess
from dataclasses import dataclass

from dockyard.errors import SystemError_

MNT_DETACH = 2


def link_stem(prefix: str) -> str:
    """The daemon's interface-name prefix: ``prefix`` itself when short, else a stable 8-char stem.

    Interface names hold 15 characters, so ``dytest-1a2b3c`` becomes ``dyt`` + 5 hex
    digits of its hash; bridges are ``<stem>b<n>`` and veths ``<stem>v<6 hex>``.
    """
    if len(prefix) <= 8:
        return prefix
    return prefix[:3] + hashlib.sha1(prefix.encode()).hexdigest()[:5]


def veth_name(stem: str, container_id: str, network_id: str) -> str:
    return stem + "v" + hashlib.sha1(f"{container_id}/{network_id}".encode()).hexdigest()[:6]


def _run(argv: list[str], script: str | None = None) -> None:
    proc = subprocess.run(argv, input=script.encode() if script is not None else None, capture_output=True)
    if proc.returncode != 0:
        raise SystemError_(f"{' '.join(argv[:3])}: {proc.stderr.decode(errors='replace').strip()}")


# -- network namespaces ------------------------------------------------------------------
def delete_netns(path: str) -> None:
    """Unmount and remove a netns file (the namespace goes when nothing else holds it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise SystemError_(f"umount {path}: {os.strerror(err)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def netns_alive(path: str) -> bool:
    """Whether ``path`` is still a mounted namespace file."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


# -- bridges -----------------------------------------------------------------------------
def links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def bridge_mac() -> str:
    """A random locally administered MAC in Docker's ``02:42`` range, for a new bridge.

    Given at creation, it makes the kernel keep it (``addr_assign_type`` 3): a bridge
    left to itself takes the lowest MAC of its ports, so it changes whenever the
    container owning that port goes, and every other container's ARP entry for the
    gateway goes stale: ~11 s without the gateway (DNS, published ports, NAT), as
    measured before this (docs/decisions.md).  dockerd sets one the same way.
    """
    return "02:42:" + ":".join(f"{b:02x}" for b in os.urandom(4))


def create_bridge(name: str, gateway_cidr: str, mtu: int | None, gateway6_cidr: str = "") -> None:
    """The network's bridge with a fixed MAC and its gateway address(es), up (undo: delete_link).

    An IPv6 gateway is added ``nodad``: it is ours alone on a fresh bridge, and
    duplicate address detection would hold it "tentative" for a second or more.
    """
    mtu_arg = f" mtu {mtu}" if mtu else ""
    v6 = f"addr add {gateway6_cidr} dev {name} nodad\n" if gateway6_cidr else ""
    script = (f"link add {name}{mtu_arg} address {bridge_mac()} type bridge\n"
              f"addr add {gateway_cidr} dev {name}\n{v6}link set {name} up\n")
    try:
        _run(["ip", "-batch", "-"], script)
    except SystemError_:
        delete_link(name)  # a batch stops at its first failing line: the bridge may exist
        raise
    try:
        # the host's 127.0.0.1 may reach published ports: DNAT'd loopback traffic leaves by the bridge
        with open(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "w") as f:
            f.write("1")
    except OSError:
        delete_link(name)
        raise


def delete_link(name: str) -> None:
    proc = subprocess.run(["ip", "link", "del", name], capture_output=True)
    if proc.returncode != 0 and b"Cannot find device" not in proc.stderr:
        raise SystemError_(f"ip link del {name}: {proc.stderr.decode(errors='replace').strip()}")


def reap_links(names: list[str], timeout: float = 2.0) -> None:
    """In a thread: wait for ``names`` to vanish with their namespace, delete what stays."""
    import threading
    import time

    def reap() -> None:
        deadline = time.monotonic() + timeout
        left = [n for n in names if os.path.exists(f"/sys/class/net/{n}")]
        while left and time.monotonic() < deadline:
            time.sleep(0.01)
            left = [n for n in left if os.path.exists(f"/sys/class/net/{n}")]
        for name in left:  # something still holds the namespace: take the pair out
            try:
                delete_link(name)
            except SystemError_:
                pass

    if names:
        threading.Thread(target=reap, name="reap-links", daemon=True).start()


# -- endpoints ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """One container interface on one bridge."""

    netns: str
    veth: str  # the host end, <stem>v<hex>
    bridge: str
    ifname: str  # eth0, eth1, ...
    address: str  # 172.18.0.2/16
    gateway: str
    mac: str
    mtu: int | None = None
    default_route: bool = True
    address6: str = ""  # 2001:db8::2/64 on an IPv6 network
    gateway6: str = ""
    link_local: tuple[str, ...] = ()  # --link-local-ip, with their prefix (169.254.8.8/16, fe80::8/64)


def setup_endpoint(ep: Endpoint, new_netns: bool = False) -> None:
    """A veth pair: one end configured inside the netns, the other on the bridge (undo: delete_link).

    Two execs: ``ip -batch`` inside the namespace makes the pair there and sends the
    host end out to the daemon's namespace, then one on the host enslaves it.  With
    ``new_netns`` the first one is ``unshare --net=FILE``, which also makes the
    namespace and its bind mount (undo: delete_netns).
    """
    mtu = f" mtu {ep.mtu}" if ep.mtu else ""
    inside = ("link set lo up\n" if new_netns else "") + (
        f"link add {ep.ifname}{mtu} address {ep.mac} type veth peer name {ep.veth}{mtu} "
        f"netns /proc/{os.getpid()}/ns/net\n"
        f"addr add {ep.address} dev {ep.ifname}\nlink set {ep.ifname} up\n")
    if ep.address6:
        inside += f"addr add {ep.address6} dev {ep.ifname} nodad\n"
    for lla in ep.link_local:
        inside += f"addr add {lla} dev {ep.ifname}{' nodad' if ':' in lla else ''}\n"
    if ep.default_route:
        inside += f"route replace default via {ep.gateway} dev {ep.ifname}\n"
        if ep.gateway6:
            inside += f"route replace default via {ep.gateway6} dev {ep.ifname}\n"
    if new_netns:
        os.makedirs(os.path.dirname(ep.netns), mode=0o711, exist_ok=True)
        with open(ep.netns, "w"):
            pass
        argv = ["unshare", f"--net={ep.netns}", "ip", "-batch", "-"]
    else:
        argv = ["nsenter", f"--net={ep.netns}", "ip", "-batch", "-"]
    try:
        if not new_netns and (ep.address6 or any(":" in a for a in ep.link_local)):
            enable_ipv6(ep.netns)
        _run(argv, inside)
        _run(["ip", "-batch", "-"], f"link set {ep.veth} master {ep.bridge}\n"
                                    f"link set dev {ep.veth} type bridge_slave hairpin on\n"
                                    f"link set {ep.veth} up\n")
    except BaseException:
        delete_link(ep.veth)
        if new_netns:
            delete_netns(ep.netns)
        raise


def enable_ipv6(netns: str) -> None:
    """Turn IPv6 back on in a running container's namespace before an IPv6 endpoint joins it.

    A container started with no IPv6 endpoint has ``disable_ipv6=1`` for all
    and default (spec.network_sysctls, as Docker), so the new interface would take no
    IPv6 address.  Writing ``all`` reaches the existing interfaces and loopback.
    """
    write_sysctls(netns, {"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0"})


def write_sysctls(netns: str, values: dict[str, str]) -> None:
    """Write ``net.*`` sysctls into a namespace file's network namespace, as the host's root.

    For a namespace the engine made (owned by the host's user namespace) that a
    container in a remapped user namespace joins: its root may not write them.
    """
    lines = []
    for key, value in values.items():
        if not key.startswith("net.") or not all(ch.isalnum() or ch in "._-" for ch in key):
            raise SystemError_(f"not a network sysctl: {key!r}")
        lines.append(f"printf '%s\\n' {shlex.quote(value)} > /proc/sys/{key.replace('.', '/')}")
    if lines:
        _run(["nsenter", f"--net={netns}", "sh", "-e", "-c", "\n".join(lines)])


# -- ports -------------------------------------------------------------------------------
def port_in_use(host_ip: str, port: int, proto: str) -> bool:
    """Whether some program on the host holds (ip, port): what Docker's port allocator refuses."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def free_port(host_ip: str, proto: str) -> int:
    """An ephemeral port the host gives out, for ``-p containerPort`` (Docker's random host port)."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host_ip or "0.0.0.0", 0))
        return int(s.getsockname()[1])


def host_routes() -> list[str]:
    """The host's IPv4 routes as CIDRs (from /proc/net/route), so a new subnet overlaps none."""
    import ipaddress
    import struct

    out = []
    try:
        with open("/proc/net/route", encoding="ascii") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return out
    for row in rows:
        fields = row.split()
        if len(fields) < 8:
            continue
        dest = struct.pack("<I", int(fields[1], 16))
        mask = struct.pack("<I", int(fields[7], 16))
        bits = bin(int.from_bytes(mask, "big")).count("1")
        if bits == 0:
            continue  # the default route overlaps everything and blocks nothing
        out.append(str(ipaddress.ip_network((ipaddress.IPv4Address(dest), bits), strict=False)))
    return out
