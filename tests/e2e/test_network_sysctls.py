"""The network sysctls a container starts with, as Docker's (spec/network_sysctls.py says why each).

Each row was compared with a private dockerd 20.10 on this machine: the same
values for bridge, none, host and container:<peer>, and --sysctl winning.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_network import d, run  # noqa: F401 (d: the fixture)
from tests.e2e.test_network_ipv6 import _ipv6_available

READ = ("cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range "
        "/proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6")


def host_values() -> list[str]:
    out = []
    for name in READ.split()[1:]:
        with open(name) as f:
            out += f.read().split()
    return out


@pytest.mark.skipif(bool(_ipv6_available()), reason=_ipv6_available() or "IPv6 present")
@pytest.mark.parametrize("mode", ["bridge", "none", "container:peer"])
def test_private_namespaces_get_low_ports_ping_and_no_ipv6(d, mode):
    run(d, "run", "-d", "--name", "peer", "busybox", "sleep", "60")
    out = run(d, "run", "--rm", "--network", mode, "busybox", "sh", "-c", READ).stdout.split()
    assert out == ["0", "0", "2147483647", "1", "1"]


def test_host_network_keeps_the_hosts_values(d):
    out = run(d, "run", "--rm", "--network", "host", "busybox", "sh", "-c", READ).stdout.split()
    assert out == host_values()


def test_a_non_root_user_binds_port_80(d):
    # -i: busybox's nc -l gives up on its connection when its stdin ends, which /dev/null does at
    # once; the client's data then lost that race about one run in four (empty logs)
    run(d, "run", "-d", "-i", "--name", "web", "-u", "1000:1000", "busybox", "nc", "-l", "-p", "80")
    ip = run(d, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.strip()
    r = run(d, "run", "--rm", "-u", "1000:1000", "busybox", "sh", "-c",
            f"echo hi | nc -w 3 {ip} 80 && echo sent")  # (busybox ping opens raw sockets only)
    assert r.stdout.strip() == "sent"
    assert run(d, "wait", "web").stdout.strip() == "0"  # nc -l ends with its one connection
    assert run(d, "logs", "web").stdout.strip() == "hi"


def test_the_requests_sysctls_win(d):
    out = run(d, "run", "--rm", "--sysctl", "net.ipv4.ip_unprivileged_port_start=1024",
              "--sysctl", "net.ipv6.conf.all.disable_ipv6=0", "busybox", "sh", "-c", READ).stdout.split()
    assert out[:4] == ["1024", "0", "2147483647", "0"]


@pytest.mark.skipif(bool(_ipv6_available()), reason=_ipv6_available() or "IPv6 present")
def test_ipv6_stays_on_with_an_ipv6_network_and_comes_back_on_connect(d):
    run(d, "network", "create", "--ipv6", "--subnet", "fd00:5a::/64", "v6sys")
    out = run(d, "run", "--rm", "--network", "v6sys", "busybox", "sh", "-c", READ).stdout.split()
    assert out[3:] == ["0", "0"]
    run(d, "run", "-d", "--name", "late", "busybox", "sleep", "60")
    assert run(d, "exec", "late", "cat", "/proc/net/if_inet6").stdout == ""  # no IPv6 at all, lo neither
    run(d, "network", "connect", "v6sys", "late")
    addr = run(d, "inspect", "-f", '{{(index .NetworkSettings.Networks "v6sys").GlobalIPv6Address}}', "late")
    assert addr.stdout.strip().startswith("fd00:5a::")
    assert addr.stdout.strip() in run(d, "exec", "late", "ip", "-6", "addr").stdout
