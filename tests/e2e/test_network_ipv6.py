"""IPv6 on user-defined bridge networks (dual-stack), with the real docker CLI and docker-py.

Only documentation (2001:db8::/32) and ULA (fd00::/8) addresses; nothing is
routed off the machine: the traffic stays on the test daemon's own bridge.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from dockyard.network.linux import link_stem
from tests.e2e.test_network import d, links_settle, nft_table, run  # noqa: F401 (d: the fixture)
from tests.support.daemon import docker, new_daemon


def _ipv6_available() -> str:
    if not os.path.exists("/proc/net/if_inet6"):
        return "the kernel has no IPv6"
    try:
        with open("/proc/sys/net/ipv6/conf/default/disable_ipv6") as f:
            if f.read().strip() != "0":
                return "IPv6 is disabled (net.ipv6.conf.default.disable_ipv6)"
    except OSError:
        return "no net.ipv6 sysctls"
    return ""


pytestmark = pytest.mark.skipif(bool(_ipv6_available()), reason=_ipv6_available() or "IPv6 present")


def bridge_addrs(bridge: str) -> str:
    return subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", bridge], capture_output=True, text=True).stdout


def test_cli_dual_stack_network_static_and_allocated_ping(d):
    run(d, "network", "create", "--ipv6", "--subnet", "2001:db8:5::/64", "--gateway", "2001:db8:5::1", "v6net")
    n = json.loads(run(d, "network", "inspect", "v6net").stdout)[0]
    assert n["EnableIPv6"] is True
    subnets = [c["Subnet"] for c in n["IPAM"]["Config"]]
    assert "2001:db8:5::/64" in subnets and any(":" not in s for s in subnets)  # plus an automatic IPv4 one
    bridge = link_stem(d.prefix) + "b" + n["Id"][:6]
    assert "2001:db8:5::1/64" in bridge_addrs(bridge)

    run(d, "run", "-d", "--name", "a6", "--network", "v6net", "--ip6", "2001:db8:5::a", "busybox", "sleep", "60")
    run(d, "run", "-d", "--name", "b6", "--network", "v6net", "busybox", "sleep", "60")
    a = json.loads(run(d, "inspect", "a6").stdout)[0]["NetworkSettings"]["Networks"]["v6net"]
    b = json.loads(run(d, "inspect", "b6").stdout)[0]["NetworkSettings"]["Networks"]["v6net"]
    assert a["IPAMConfig"]["IPv6Address"] == "2001:db8:5::a"
    assert (a["GlobalIPv6Address"], a["GlobalIPv6PrefixLen"], a["IPv6Gateway"]) == ("2001:db8:5::a", 64,
                                                                                    "2001:db8:5::1")
    assert b["GlobalIPv6Address"] == "2001:db8:5::2" and b["IPAddress"]  # allocated: lowest free; and IPv4 too
    inside = run(d, "exec", "a6", "ip", "-6", "addr", "show", "eth0").stdout
    assert "2001:db8:5::a/64" in inside
    route = run(d, "exec", "a6", "ip", "-6", "route").stdout
    assert "default via 2001:db8:5::1" in route
    assert run(d, "exec", "a6", "ping", "-6", "-c", "1", "-W", "3", "2001:db8:5::2").returncode == 0
    assert run(d, "exec", "b6", "ping", "-6", "-c", "1", "-W", "3", "2001:db8:5::a").returncode == 0
    assert run(d, "exec", "b6", "ping", "-6", "-c", "1", "-W", "3", "2001:db8:5::1").returncode == 0  # the gateway
    # by name: aardvark answers AAAA with the IPv6 address; /etc/hosts has both of the container's own
    assert run(d, "exec", "b6", "ping", "-6", "-c", "1", "-W", "3", "a6").returncode == 0
    hosts = run(d, "exec", "a6", "cat", "/etc/hosts").stdout
    assert "2001:db8:5::a\t" in hosts and f"{a['IPAddress']}\t" in hosts
    shown = json.loads(run(d, "network", "inspect", "v6net").stdout)[0]["Containers"]
    assert sorted(c["IPv6Address"] for c in shown.values()) == ["2001:db8:5::2/64", "2001:db8:5::a/64"]

    # taken, outside, on a network without IPv6: refused, nothing started
    p = run(d, "run", "--network", "v6net", "--ip6", "2001:db8:5::a", "busybox", "true", check=False)
    assert p.returncode != 0 and "Address already in use" in p.stderr
    p = run(d, "run", "--network", "v6net", "--ip6", "2001:db8:6::a", "busybox", "true", check=False)
    assert p.returncode != 0 and "no configured subnet or ip-range contain the IP address 2001:db8:6::a" in p.stderr
    run(d, "network", "create", "--subnet", "10.231.0.0/24", "v4only")
    p = run(d, "create", "--network", "v4only", "--ip6", "2001:db8:5::9", "busybox", "true", check=False)
    assert p.returncode != 0 and "user configured subnets" in p.stderr
    p = run(d, "network", "create", "--ipv6", "nosubnet6", check=False)  # as dockerd 20.10: no default v6 pools
    assert p.returncode != 0 and "non-overlapping IPv6 address pool" in p.stderr
    p = run(d, "network", "create", "--subnet", "2001:db8:7::/64", "nov6", check=False)
    assert p.returncode != 0 and "enable IPv6" in p.stderr

    # the CLI's network connect --ip6 on a running container: a second interface with its address
    run(d, "run", "-d", "--name", "c6", "busybox", "sleep", "60")
    run(d, "network", "connect", "--ip6", "2001:db8:5::c", "v6net", "c6")
    assert "2001:db8:5::c/64" in run(d, "exec", "c6", "ip", "-6", "addr", "show", "eth1").stdout
    assert run(d, "exec", "c6", "ping", "-6", "-c", "1", "-W", "3", "2001:db8:5::a").returncode == 0
    run(d, "network", "disconnect", "v6net", "c6")
    assert "2001:db8:5::c" not in run(d, "exec", "c6", "ip", "-6", "addr").stdout
    run(d, "rm", "-f", "c6")

    # a failed start leaves no interface and its static address free for the next one
    before = links_settle(d.prefix, [])
    p = run(d, "run", "--name", "bad6", "--network", "v6net", "--ip6", "2001:db8:5::b", "busybox", "no-such-program",
            check=False)
    assert p.returncode != 0
    run(d, "rm", "bad6")
    assert links_settle(d.prefix, before) == before
    run(d, "run", "--rm", "--network", "v6net", "--ip6", "2001:db8:5::b", "busybox", "true")

    # a restart gives the same static address back; rm takes everything away
    run(d, "restart", "-t", "0", "a6")
    assert "2001:db8:5::a/64" in run(d, "exec", "a6", "ip", "-6", "addr", "show", "eth0").stdout
    run(d, "rm", "-f", "a6", "b6")
    run(d, "network", "rm", "v6net", "v4only")
    # only the default bridge may stay (made when some container used it), as docker0 does
    assert links_settle(d.prefix, []) in ([], [link_stem(d.prefix) + "b0"])
    assert "2001:db8" not in nft_table(d.prefix)


def test_v6_host_ip_publishing_is_refused(d):
    run(d, "network", "create", "--ipv6", "--subnet", "fd00:db8:9::/64", "v6pub")
    p = run(d, "run", "--network", "v6pub", "-p", "[::1]:18080:80", "busybox", "true", check=False)
    assert p.returncode != 0 and "IPv6 host addresses are not supported yet" in p.stderr


def test_dockerpy_ipv6_create_and_connect(d):
    import docker as dockerpy

    client = dockerpy.DockerClient(base_url=d.docker_host, timeout=60)
    ipam_cfg = dockerpy.types.IPAMConfig(pool_configs=[dockerpy.types.IPAMPool(
        subnet="2001:db8:389::/64", iprange="2001:db8:389::0/96", gateway="2001:db8:389::ffff")])
    net = client.networks.create("py6", driver="bridge", enable_ipv6=True, ipam=ipam_cfg)
    assert net.attrs["EnableIPv6"] is True
    assert {"Subnet": "2001:db8:389::/64", "IPRange": "2001:db8:389::/96",
            "Gateway": "2001:db8:389::ffff"} in net.attrs["IPAM"]["Config"]
    assert len(net.attrs["IPAM"]["Config"]) == 2
    api = client.api
    cid = api.create_container("busybox", ["sleep", "60"], host_config=api.create_host_config(network_mode="py6"),
                               networking_config=api.create_networking_config({
                                   "py6": api.create_endpoint_config(ipv6_address="2001:db8:389::f00d")}))["Id"]
    api.start(cid)
    ep = api.inspect_container(cid)["NetworkSettings"]["Networks"]["py6"]
    assert ep["IPAMConfig"]["IPv6Address"] == "2001:db8:389::f00d"
    assert (ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"], ep["IPv6Gateway"]) == (
        "2001:db8:389::f00d", 64, "2001:db8:389::ffff")

    other = client.containers.run("busybox", ["sleep", "60"], detach=True)  # default bridge, then connect
    net.connect(other, ipv6_address="2001:db8:389::beef")
    other.reload()
    ep2 = other.attrs["NetworkSettings"]["Networks"]["py6"]
    assert ep2["IPAMConfig"]["IPv6Address"] == "2001:db8:389::beef"
    assert ep2["GlobalIPv6Address"] == "2001:db8:389::beef"
    res = other.exec_run(["ping", "-6", "-c", "1", "-W", "3", "2001:db8:389::f00d"])
    assert res.exit_code == 0, res.output
    net.disconnect(other)
    other.reload()
    assert "py6" not in other.attrs["NetworkSettings"]["Networks"]
    other.remove(force=True)
    api.remove_container(cid, force=True)
    net.remove()


def test_daemon_restart_remakes_the_ipv6_gateway(busybox_tar):
    """A stop removes the bridges no running container uses; the start remakes them with both gateways."""
    dm = new_daemon()
    dm.start()
    try:
        docker(dm, "import", str(busybox_tar), "busybox:latest", check=True)
        docker(dm, "network", "create", "--ipv6", "--subnet", "fd00:db8:11::/64", "idle6", check=True)
        docker(dm, "network", "create", "--ipv6", "--subnet", "fd00:db8:12::/64", "busy6", check=True)
        docker(dm, "run", "-d", "--name", "svc6", "--network", "busy6", "busybox", "sleep", "300", check=True)
        idle = link_stem(dm.prefix) + "b" + json.loads(docker(dm, "network", "inspect", "idle6").stdout)[0]["Id"][:6]
        dm.stop()
        assert not os.path.exists(f"/sys/class/net/{idle}")
        dm.start()
        assert "fd00:db8:11::1/64" in bridge_addrs(idle)
        p = docker(dm, "run", "--rm", "--network", "busy6", "busybox", "ping", "-6", "-c", "1", "-W", "3",
                   "fd00:db8:12::2")
        assert p.returncode == 0, p.stderr
        p = docker(dm, "run", "--rm", "--network", "idle6", "busybox", "ping", "-6", "-c", "1", "-W", "3",
                   "fd00:db8:11::1")
        assert p.returncode == 0, p.stderr
    finally:
        dm.cleanup()
    assert links_settle(dm.prefix, []) == [] and nft_table(dm.prefix) == ""


def test_default_bridge_ipv6_and_ipv6_default_pools(busybox_tar):
    """daemon.json ipv6 + fixed-cidr-v6 and an IPv6 default-address-pools entry, as dockerd 20.10 does them."""
    import ipaddress
    import secrets

    fixed = ipaddress.ip_network(f"fd00:{secrets.randbelow(0xffff):x}:{secrets.randbelow(0xffff):x}::/64")
    pool = ipaddress.ip_network(f"fd01:{secrets.randbelow(0xffff):x}:{secrets.randbelow(0xffff):x}::/48")
    dm = new_daemon(config={"ipv6": True, "fixed-cidr-v6": str(fixed), "default-address-pools": [
        {"base": "10.192.0.0/12", "size": 24}, {"base": str(pool), "size": 64}]})
    dm.start()
    try:
        docker(dm, "import", str(busybox_tar), "busybox:latest", check=True)
        gw6 = str(fixed.network_address + 1)
        info = json.loads(docker(dm, "network", "inspect", "bridge", check=True).stdout)[0]
        assert info["EnableIPv6"] is True and info["IPAM"]["Config"][1] == {"Subnet": str(fixed), "Gateway": gw6}
        docker(dm, "run", "-d", "--name", "b6", "busybox", "sleep", "300", check=True)
        c = json.loads(docker(dm, "inspect", "b6", check=True).stdout)[0]["NetworkSettings"]
        mac = int(c["MacAddress"].replace(":", ""), 16)
        want = str(ipaddress.ip_address(int(fixed.network_address) | mac))  # dockerd: prefix + MAC
        for where in (c, c["Networks"]["bridge"]):
            assert (where["GlobalIPv6Address"], where["GlobalIPv6PrefixLen"], where["IPv6Gateway"]) == (want, 64, gw6)
        out = docker(dm, "exec", "b6", "sh", "-c", "ip -6 -o addr show eth0; ip -6 route; cat /etc/hosts",
                     check=True).stdout
        assert f"inet6 {want}/64" in out and f"default via {gw6}" in out and f"{want}\t" in out
        p = docker(dm, "run", "--rm", "busybox", "ping", "-6", "-c1", "-W3", want)
        assert p.returncode == 0, p.stdout + p.stderr
        # --ipv6 without a subnet: the IPv6 pool's pieces, in order
        docker(dm, "network", "create", "--ipv6", "auto6a", check=True)
        docker(dm, "network", "create", "--ipv6", "auto6b", check=True)
        subnets = [json.loads(docker(dm, "network", "inspect", n).stdout)[0]["IPAM"]["Config"][1]
                   for n in ("auto6a", "auto6b")]
        first = ipaddress.ip_network((int(pool.network_address), 64))
        second = ipaddress.ip_network((int(pool.network_address) + (1 << 64), 64))
        assert subnets == [{"Subnet": str(first), "Gateway": str(first.network_address + 1)},
                           {"Subnet": str(second), "Gateway": str(second.network_address + 1)}]
        p = docker(dm, "run", "--rm", "--network", "auto6a", "busybox", "ip", "-6", "-o", "addr", "show", "eth0")
        assert f"inet6 {first.network_address + 2}/64" in p.stdout, p.stdout + p.stderr
        # the default bridge follows the configuration at the next start
        docker(dm, "rm", "-f", "b6", check=True)
        dm.stop()
        dm.config = {}
        dm.start()
        info = json.loads(docker(dm, "network", "inspect", "bridge", check=True).stdout)[0]
        assert info["EnableIPv6"] is False and len(info["IPAM"]["Config"]) == 1
        out = docker(dm, "run", "--rm", "busybox", "ip", "-6", "-o", "addr", "show", "scope", "global").stdout
        assert str(fixed.network_address)[:-1] not in out
    finally:
        dm.cleanup()
    assert links_settle(dm.prefix, []) == [] and nft_table(dm.prefix) == ""


def test_ipv6_without_fixed_cidr_v6_refuses_to_start():
    dm = new_daemon(config={"ipv6": True})
    try:
        with pytest.raises(RuntimeError, match="IPv6 is enabled for the default bridge, but no subnet is configured"):
            dm.start(timeout=10)
    finally:
        dm.cleanup()
