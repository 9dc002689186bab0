"""Names outside the networks: forwarded to the container's (or the daemon's) DNS servers.

Offline proof: a tiny DNS server of the test's own (tests/support/dnsserver.py)
stands in for the outside world, on an address of this machine: a loopback
one (aardvark runs in the host's namespace) or the default bridge's gateway
(which containers on the default bridge reach directly).  As Docker: on a
user network the container's resolv.conf names only the network's DNS server,
which answers container names and forwards the rest; on the default bridge the
servers are written into resolv.conf as they are.
"""

from __future__ import annotations

import json
import secrets
import time

from tests.e2e.test_network import d, run  # noqa: F401 (d: the fixture)
from tests.support.daemon import docker, new_daemon
from tests.support.dnsserver import DNSServer, ask, bound_socket, frozen

OUTSIDE = {"some.outside.name": "203.0.113.7"}


def nslookup(d, *args: str, tries: int = 5) -> str:
    """``docker run --rm ARGS... busybox`` printing resolv.conf, then nslookup of the outside name."""
    script = (f"cat /etc/resolv.conf; for i in $(seq {tries}); do nslookup some.outside.name && exit 0; "
              "sleep 0.3; done")
    p = docker(d, "run", "--rm", *args, "busybox", "sh", "-c", script)
    return p.stdout + p.stderr


def test_user_network_forwards_to_the_containers_dns(d):
    ip = f"127.53.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
    run(d, "network", "create", "fwd")
    gw = json.loads(run(d, "network", "inspect", "fwd").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    run(d, "run", "-d", "--name", "inside", "--network", "fwd", "busybox", "sleep", "300")
    with DNSServer(ip, OUTSIDE) as server:
        out = nslookup(d, "--network", "fwd", "--dns", ip)
        assert "Address: 203.0.113.7" in out, out
        # as Docker's 127.0.0.11: the only server the container sees is the network's
        assert f"nameserver {gw}\n" in out and f"nameserver {ip}" not in out
        assert any(name == "some.outside.name" for _peer, name in server.seen)
        # container names are the network's own: never forwarded
        p = run(d, "run", "--rm", "--network", "fwd", "--dns", ip, "busybox", "nslookup", "inside")
        assert "Address: " in p.stdout and not any(name.startswith("inside") for _p, name in server.seen)
    # without the server the name is not found: the answer above came from it
    assert "203.0.113.7" not in nslookup(d, "--network", "fwd", "--dns", ip, tries=1)


def test_an_internal_network_forwards_no_question(d):
    """As Docker, whose resolver forwards from the container's namespace, where an --internal
    network has no way out: container names answer, outside names fail, and no question leaves."""
    ip = f"127.53.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
    run(d, "network", "create", "--internal", "closed")
    run(d, "run", "-d", "--name", "insider", "--network", "closed", "busybox", "sleep", "300")
    with DNSServer(ip, OUTSIDE) as server:
        out = nslookup(d, "--network", "closed", "--dns", ip, tries=2)
        assert "203.0.113.7" not in out, out
        p = run(d, "run", "--rm", "--network", "closed", "--dns", ip, "busybox", "nslookup", "insider")
        assert "Address: " in p.stdout, p.stdout
        assert server.seen == []


def test_default_bridge_uses_the_servers_directly(d):
    run(d, "run", "-d", "--name", "first", "busybox", "sleep", "300")  # the default bridge exists from here
    gw = json.loads(run(d, "network", "inspect", "bridge").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    with DNSServer(gw, OUTSIDE) as server:
        out = nslookup(d, "--dns", gw)
        assert f"nameserver {gw}\n" in out and "Address: 203.0.113.7" in out, out
        assert any(peer != gw and name == "some.outside.name" for peer, name in server.seen)  # from the container
    # without --dns: the host's resolv.conf, its loopback servers left out (else Docker's 8.8.8.8 fallback)
    with open("/etc/resolv.conf") as f:
        host = [line.split()[1] for line in f if line.startswith("nameserver") and len(line.split()) > 1]
    want = [ns for ns in host if not ns.startswith("127.") and ns != "::1"] or ["8.8.8.8", "8.8.4.4"]
    out = run(d, "run", "--rm", "busybox", "cat", "/etc/resolv.conf").stdout
    assert [line.split()[1] for line in out.splitlines() if line.startswith("nameserver")] == want


def test_daemon_dns_is_the_default_of_both(busybox_tar):
    gw = "10.223.53.1"
    dm = new_daemon(config={"bip": f"{gw}/24", "dns": [gw], "dns-search": ["corp.example"]})
    dm.start()
    try:
        docker(dm, "import", str(busybox_tar), "busybox:latest", check=True)
        docker(dm, "run", "-d", "busybox", "sleep", "300", check=True)  # makes the default bridge
        docker(dm, "network", "create", "dfwd", check=True)
        with DNSServer(gw, OUTSIDE):
            out = nslookup(dm)
            assert f"nameserver {gw}\n" in out and "search corp.example" in out and "203.0.113.7" in out, out
            out = nslookup(dm, "--network", "dfwd")
            assert f"nameserver {gw}\n" not in out and "Address: 203.0.113.7" in out, out
    finally:
        dm.cleanup()


def test_a_dns_server_that_is_no_address_is_refused_at_create(d):
    """dockerd takes any string; here it would end in aardvark's files, where one bad line stops DNS for all."""
    import docker as dockerpy
    import pytest

    api = dockerpy.APIClient(base_url=d.docker_host, version="1.41", timeout=60)
    with pytest.raises(dockerpy.errors.APIError, match="invalid DNS server address: bogus"):
        api.create_container("busybox", ["true"], host_config=api.create_host_config(dns=["bogus"]))


def aardvark_pid(d) -> int:
    """The PID of the test daemon's own aardvark-dns (checked against its command line)."""
    config_dir = f"{d.exec_root}/{d.prefix}-net/aardvark"
    with open(f"{config_dir}/aardvark.pid") as f:
        pid = int(f.read())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert config_dir.encode() in f.read()
    return pid


def address(d, container: str, network: str) -> str:
    return json.loads(run(d, "inspect", container).stdout)[0]["NetworkSettings"]["Networks"][network]["IPAddress"]


NX = (3, [])  # NXDOMAIN


def test_names_are_served_when_the_command_returns_even_with_a_slow_dns(d):
    """As with Docker's in-process DNS: once ``run -d`` (start, connect, ...) returns, the names resolve.

    aardvark re-reads its files after a SIGHUP, in its own time; here it is made
    slow on purpose (stopped for a second while the command runs).  Asked once
    right after the command, from the host (aardvark answers the network's names
    there too) and from a container, it must already know the change.
    """
    run(d, "network", "create", "sync")
    gw = json.loads(run(d, "network", "inspect", "sync").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    run(d, "run", "-d", "--name", "asker", "--network", "sync", "busybox", "sleep", "300")
    pid = aardvark_pid(d)
    with frozen(pid, 1.0):
        web = run(d, "run", "-d", "--name", "web", "--network", "sync", "--network-alias", "www", "busybox",
                  "sleep", "300").stdout.strip()
    ip = address(d, "web", "sync")
    assert ask(gw, "web") == ask(gw, "www") == ask(gw, web[:12]) == (0, [ip])
    out = run(d, "exec", "asker", "ping", "-c1", "-W2", "web").stdout
    assert f"({ip})" in out or ip in out
    with frozen(pid, 1.0):
        run(d, "stop", "-t", "0", "web")
    assert ask(gw, "web") == ask(gw, "www") == NX
    with frozen(pid, 1.0):
        run(d, "start", "web")
    assert ask(gw, "web") == (0, [address(d, "web", "sync")])
    with frozen(pid, 1.0):
        run(d, "restart", "-t", "0", "web")
    assert ask(gw, "web") == (0, [address(d, "web", "sync")])
    # network connect and disconnect of a running container
    run(d, "network", "create", "sync2")
    gw2 = json.loads(run(d, "network", "inspect", "sync2").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    run(d, "run", "-d", "--name", "asker2", "--network", "sync2", "busybox", "sleep", "300")
    with frozen(pid, 1.0):
        run(d, "network", "connect", "--alias", "late", "sync2", "web")
    assert ask(gw2, "late") == (0, [address(d, "web", "sync2")])
    assert ask(gw, "late") == NX  # an alias is the network's own
    with frozen(pid, 1.0):
        run(d, "network", "disconnect", "sync2", "web")
    assert ask(gw2, "late") == ask(gw2, "web") == NX
    assert aardvark_pid(d) == pid  # reloaded each time, never restarted


def test_a_start_elsewhere_does_not_reload_the_dns(d):
    """A reload makes aardvark refuse queries for a moment: a start that changes no name sends none."""
    run(d, "network", "create", "quiet")
    gw = json.loads(run(d, "network", "inspect", "quiet").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    run(d, "run", "-d", "--name", "stay", "--network", "quiet", "busybox", "sleep", "300")
    before = bound_socket(gw, 53)
    assert before is not None
    run(d, "run", "--rm", "busybox", "true")  # the default bridge: no names changed
    time.sleep(0.3)
    assert bound_socket(gw, 53) == before  # a reload would have closed it and bound a new one
    run(d, "run", "--rm", "--network", "quiet", "busybox", "true")
    assert bound_socket(gw, 53) not in (before, None)
    assert ask(gw, "stay") == (0, [address(d, "stay", "quiet")])


def test_rename_of_a_running_container_moves_its_name(d):
    """As dockerd (measured on 20.10): after ``docker rename``, the new name resolves and the old one is gone."""
    run(d, "network", "create", "ren")
    gw = json.loads(run(d, "network", "inspect", "ren").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    run(d, "run", "-d", "--name", "oldname", "--network", "ren", "--network-alias", "al", "busybox", "sleep", "300")
    ip = address(d, "oldname", "ren")
    run(d, "rename", "oldname", "newname")
    assert ask(gw, "newname") == ask(gw, "al") == (0, [ip])
    assert ask(gw, "oldname") == NX
    ep = json.loads(run(d, "inspect", "newname").stdout)[0]["NetworkSettings"]["Networks"]["ren"]
    assert "newname" in ep["DNSNames"] and "oldname" not in ep["DNSNames"]
    run(d, "restart", "-t", "0", "newname")  # and so it stays
    assert ask(gw, "newname") == (0, [address(d, "newname", "ren")]) and ask(gw, "oldname") == NX
