"""The daemon's nftables table: NAT, published ports, isolation (render is sans-I/O).

Each daemon owns exactly one table, ``ip <name_prefix>``, and replaces it as a
whole in one nft transaction whenever a network or a published port changes.
The table is a pure function of the daemon's state (:func:`render`), so a
daemon restart reconciles by rendering again, two daemons never touch each
other's rules, and removing everything is ``delete table``.  The rules live in
the kernel: published ports keep answering while the daemon is down.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from dockyard.errors import SystemError_


@dataclass(frozen=True)
class BridgeRules:
    """What the table needs to know of one bridge network."""

    bridge: str
    subnet: str
    internal: bool = False


@dataclass(frozen=True)
class PortRule:
    """One published port: host (ip, port, proto) → container (ip, port)."""

    host_ip: str
    host_port: int
    proto: str
    container_ip: str
    container_port: int


def _q(name: str) -> str:
    return f'"{name}"'


def render(table: str, bridges: list[BridgeRules], ports: list[PortRule]) -> str:
    """The nft script that replaces ``table`` with the rules for ``bridges`` and ``ports``."""
    lines = [f"table ip {table} {{}}", f"delete table ip {table}"]
    if not bridges:
        return "\n".join(lines) + "\n"
    lines.append(f"table ip {table} {{")
    lines.append("  chain ports {")
    for p in ports:
        daddr = f"ip daddr {p.host_ip} " if p.host_ip not in ("", "0.0.0.0") else ""
        lines.append(f"    {daddr}{p.proto} dport {p.host_port} dnat to {p.container_ip}:{p.container_port}")
    lines.append("  }")
    lines.append("  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n"
                 "    fib daddr type local jump ports\n  }")
    lines.append("  chain output {\n    type nat hook output priority -100; policy accept;\n"
                 "    fib daddr type local jump ports\n  }")
    lines.append("  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;")
    for b in bridges:
        br = _q(b.bridge)
        # the host's loopback reaching a published port; a container its own or a neighbour's
        # (the bridge sends that one back by hairpin: the source must not stay its own address)
        lines.append(f"    oifname {br} ip saddr 127.0.0.0/8 masquerade")
        lines.append(f"    oifname {br} ip saddr {b.subnet} ct status dnat masquerade")
        if not b.internal:
            lines.append(f"    ip saddr {b.subnet} oifname != {br} masquerade")
    lines.append("  }")
    lines.append("  chain forward {\n    type filter hook forward priority 0; policy accept;")
    names = ", ".join(_q(b.bridge) for b in bridges)
    for b in bridges:
        br = _q(b.bridge)
        if b.internal:
            lines.append(f"    iifname {br} oifname != {br} drop")
            lines.append(f"    oifname {br} iifname != {br} drop")
        else:
            # networks are isolated from each other, except through a published port
            lines.append(f"    oifname {br} iifname != {br} iifname {{ {names} }} ct status & dnat == 0 drop")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def apply(script: str) -> None:
    """Run ``script`` through nft in one transaction (all or nothing)."""
    proc = subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True)
    if proc.returncode != 0:
        raise SystemError_(f"nft: {proc.stderr.decode(errors='replace').strip()}")


def remove(table: str) -> None:
    apply(render(table, [], []))
