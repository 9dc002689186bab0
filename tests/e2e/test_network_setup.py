"""How dockyard sets up the kernel side of a bridge network, asserted on the interfaces it makes.

Issue 12's data-path figures (bench/network_bench.py) depend on these settings; each
test here fails without the set-up it names.  Traffic stays on the test's bridge.
"""

from __future__ import annotations

import re
import time

from dockyard.network.linux import link_stem
from tests.e2e.test_network import d, run  # noqa: F401  (the fixture)


def mac_of(link: str) -> str:
    with open(f"/sys/class/net/{link}/address") as f:
        return f.read().strip()


def test_bridge_mac_stays_when_containers_come_and_go(d):  # noqa: F811
    """A bridge left to itself takes its lowest port's MAC, so removing that container
    changed the gateway's MAC under every other container (measured: ~11 s without the
    gateway, DNS and published ports included). Ours is fixed at creation, as dockerd's."""
    br = link_stem(d.prefix) + "bmac"
    run(d, "network", "create", "-o", f"com.docker.network.bridge.name={br}", "macnet")
    mac = mac_of(br)
    assert re.fullmatch(r"02:42(:[0-9a-f]{2}){4}", mac)
    with open(f"/sys/class/net/{br}/addr_assign_type") as f:
        assert f.read().strip() == "3"  # NET_ADDR_SET: the kernel keeps it
    run(d, "run", "-d", "--name", "first", "--network", "macnet", "busybox", "sleep", "60")
    assert mac_of(br) == mac  # the only port's MAC, without a fixed one
    run(d, "run", "-d", "--name", "second", "--network", "macnet", "busybox", "sleep", "60")
    run(d, "exec", "second", "nslookup", "first")  # second now knows the gateway's MAC (DNS is there)
    run(d, "rm", "-f", "first")
    assert mac_of(br) == mac
    t0 = time.monotonic()
    run(d, "exec", "second", "nslookup", "second")
    assert time.monotonic() - t0 < 3  # the gateway answers at once, no stale neighbour entry
