"""IP address management: subnets of networks, addresses of endpoints (sans-I/O).

What libnetwork's default IPAM does, as pure functions of the networks that
exist and the host's routes: a network gets the user's ``--subnet`` (checked
for overlap) or the first free /16 (or pool size) of the daemon's address
pools; an endpoint gets the user's ``--ip`` (checked against the subnet and
``--ip-range``) or the lowest free address of the range.  The callers hand in
what is taken; nothing here looks at the host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import Conflict, Forbidden, InvalidParameter, NotFound

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address
# an IPv6 network (EnableIPv6) has one config of each family: these name either
AnyNet = ipaddress.IPv4Network | ipaddress.IPv6Network
AnyAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

# Docker's defaults: 172.17.0.0/16 for the default bridge (bip), then 172.18–31/16 and
# 192.168.0.0/20 pieces for user networks (default-address-pools).
DEFAULT_POOLS: list[tuple[str, int]] = [(f"172.{i}.0.0/16", 16) for i in range(17, 32)] + [("192.168.0.0/16", 20)]


@dataclass
class IPAMConfig:
    """One entry of a network's IPAM.Config: Subnet, Gateway, IPRange (Docker's names)."""

    subnet: AnyNet
    gateway: AnyAddr
    ip_range: AnyNet | None = None

    def to_docker(self) -> dict[str, str]:
        out = {"Subnet": str(self.subnet), "Gateway": str(self.gateway)}
        if self.ip_range is not None:
            out["IPRange"] = str(self.ip_range)
        return out

    @classmethod
    def from_docker(cls, data: dict[str, str]) -> "IPAMConfig":
        rng = data.get("IPRange")
        return cls(ipaddress.ip_network(data["Subnet"]), ipaddress.ip_address(data["Gateway"]),
                   ipaddress.ip_network(rng) if rng else None)

    @property
    def v6(self) -> bool:
        return self.subnet.version == 6


def split_configs(raw: list[dict[str, str]]) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """A network's IPAM.Config as (its IPv4 config, its IPv6 config), either may be missing."""
    v4 = next((c for c in raw if ":" not in c.get("Subnet", "")), None)
    v6 = next((c for c in raw if ":" in c.get("Subnet", "")), None)
    return v4, v6


def parse_subnet(text: str) -> Net:
    net = parse_any_subnet(text)
    if not isinstance(net, Net):
        raise InvalidParameter(f"an IPv6 subnet needs an IPv6 network (--ipv6): {text}")
    return net


def parse_any_subnet(text: str) -> AnyNet:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid CIDR address: {text}") from None


def parse_addr(text: str, what: str = "IP address") -> Addr:
    addr = parse_any_addr(text, what)
    if not isinstance(addr, Addr):
        raise InvalidParameter(f"invalid {what}: {text} is an IPv6 address")
    return addr


def parse_any_addr(text: str, what: str = "IP address") -> AnyAddr:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None


def user_config(subnet: str, gateway: str = "", ip_range: str = "") -> IPAMConfig:
    """One IPAM config from ``--subnet/--gateway/--ip-range``, checked as libnetwork does (either family)."""
    net = parse_any_subnet(subnet)
    if net.prefixlen > net.max_prefixlen - 2:
        raise InvalidParameter(f"invalid subnet {subnet}: too small for a network")
    rng = None
    if ip_range:
        rng = parse_any_subnet(ip_range)
        if rng.version != net.version or not rng.subnet_of(net):  # type: ignore[arg-type]
            raise InvalidParameter(f"Invalid pool request: the range {ip_range} is not a subset of "
                                   f"the pool {net}")
    if gateway:
        gw = parse_any_addr(gateway, "gateway")
        if gw not in net:
            raise Forbidden(f"no matching subnet for gateway {gateway}")
    else:
        gw = next(net.hosts())
    return IPAMConfig(net, gw, rng)


def check_overlap(new: AnyNet, existing: Iterable[AnyNet]) -> None:
    """Docker's text when a user subnet overlaps one of the daemon's networks."""
    if any(new.version == net.version and new.overlaps(net) for net in existing):  # type: ignore[arg-type]
        raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")


def pick_subnet(pools: list[tuple[str, int]], taken: Iterable[AnyNet], version: int = 4) -> AnyNet:
    """The first pool piece of IP ``version`` that overlaps nothing taken (the daemon's networks, the host's routes).

    Pieces are walked lazily: a /48 IPv6 pool cut in /64s costs only the pieces already taken.
    """
    used = [u for u in taken if u.version == version]
    for base, size in pools:
        pool = ipaddress.ip_network(base, strict=False)
        if pool.version != version:
            continue
        for cand in pool.subnets(new_prefix=size) if size >= pool.prefixlen else [pool]:
            if not any(cand.overlaps(u) for u in used):  # type: ignore[arg-type]
                return cand
    err = Forbidden if version == 4 else NotFound  # dockerd's statuses for the two
    raise err(f"could not find an available, non-overlapping IPv{version} address pool among the defaults "
              "to assign to the network")


def mac_v6(subnet: AnyNet, mac: str) -> AnyAddr | None:
    """dockerd's address on the default bridge's fixed-cidr-v6: the prefix, then the MAC's 48 bits.

    Only for a prefix of at most /80 (the MAC must fit); None otherwise (the caller allocates).
    """
    if subnet.version != 6 or subnet.prefixlen > 80:
        return None
    return ipaddress.ip_address(int(subnet.network_address) | int(mac.replace(":", ""), 16))


def allocate(cfg: IPAMConfig, used: Iterable[AnyAddr], want: str = "") -> AnyAddr:
    """An address for an endpoint: ``want`` if free and inside, else the lowest free one.

    Either family: ``cfg`` says which; an IPv6 pool is walked lazily from its start
    (``hosts()`` is a generator), so a /64 costs only the addresses already taken.
    """
    taken = set(used) | {cfg.gateway}
    # IPv4 keeps its network and broadcast addresses; IPv6 has no broadcast, only the subnet-router anycast
    reserved = (cfg.subnet.network_address,) if cfg.v6 else (cfg.subnet.network_address, cfg.subnet.broadcast_address)
    if want:
        addr = parse_any_addr(want)
        if addr not in cfg.subnet or addr in reserved:
            raise InvalidParameter(f"no configured subnet or ip-range contain the IP address {want}")
        if addr in taken:
            raise Conflict("Address already in use")
        return addr
    space = cfg.ip_range or cfg.subnet
    for addr in space.hosts() if space.prefixlen < 31 else iter(space):
        if addr not in taken and addr not in reserved:
            return addr
    raise Unavailable_(f"no available IPv{cfg.subnet.version} addresses on this network's address pools: "
                       f"{cfg.subnet}")


class Unavailable_(Forbidden):
    """The pool is exhausted (Docker answers 403 too)."""


def mac_for(addr: AnyAddr) -> str:
    """Docker's generated MAC: 02:42 followed by the IPv4 address's bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed)
