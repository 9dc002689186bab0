"""Container networking with the real docker CLI: bridge networks, DNS, published ports, cleanup.

Traffic stays on this machine: loopback, and the bridges and namespaces these
tests make.  Every kernel object asserted on carries the test daemon's prefix.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from dockyard.network.linux import link_stem
from tests.support.daemon import docker, new_daemon

HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def fetch(host: str, port: int, timeout: float = 5) -> str:
    """GET / from the host side, as a client would (raw HTTP/1.0: no proxy, no library)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                return data.decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def nc_get(target: str, port: int = 80) -> str:
    return f"for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} {port} && break; sleep 0.3; done"


def links_of(prefix: str) -> list[str]:
    stem = link_stem(prefix)
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [n for n in names if n.startswith((stem + "b", stem + "v"))]


def links_settle(prefix: str, want: list[str], timeout: float = 3) -> list[str]:
    """links_of once the kernel has finished destroying the namespaces of stopped containers."""
    deadline = time.monotonic() + timeout
    while (got := links_of(prefix)) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def nft_table(prefix: str) -> str:
    proc = subprocess.run(["nft", "list", "table", "ip", prefix], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    yield dockyard_daemon
    dockyard_daemon.remove_all_containers()
    for nid in docker(dockyard_daemon, "network", "ls", "-q", "--filter", "type=custom").stdout.split():
        docker(dockyard_daemon, "network", "rm", nid)


def run(d, *args, check=True):
    return docker(d, *args, check=check)


def test_predefined_networks_listed(d):
    out = run(d, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout.split("\n")
    assert {"bridge bridge local", "host host local", "none null local"} <= set(out)


def test_create_inspect_rm_and_errors(d):
    out = run(d, "network", "create", "--subnet", "10.213.0.0/16", "--gateway", "10.213.0.254",
              "--ip-range", "10.213.5.0/24", "--label", "team=net", "--attachable",
              "-o", "com.docker.network.driver.mtu=1400", "n1").stdout.strip()
    assert len(out) == 64
    info = json.loads(run(d, "network", "inspect", "n1").stdout)[0]
    assert info["Name"] == "n1" and info["Id"] == out and info["Driver"] == "bridge" and info["Scope"] == "local"
    assert info["IPAM"]["Config"] == [{"Subnet": "10.213.0.0/16", "Gateway": "10.213.0.254",
                                       "IPRange": "10.213.5.0/24"}]
    assert info["Labels"] == {"team": "net"} and info["Attachable"] is True and info["Internal"] is False
    assert info["Options"] == {"com.docker.network.driver.mtu": "1400"}
    assert info["Containers"] == {}
    # errors, with Docker's texts
    p = run(d, "network", "create", "--subnet", "10.213.128.0/24", "n2", check=False)
    assert p.returncode != 0 and "Pool overlaps with other one on this address space" in p.stderr
    p = run(d, "network", "create", "--subnet", "10.214.0.0/24", "--gateway", "10.215.0.1", "n2", check=False)
    assert p.returncode != 0 and "no matching subnet for gateway 10.215.0.1" in p.stderr
    p = run(d, "network", "create", "n1", check=False)
    assert p.returncode != 0 and "network with name n1 already exists" in p.stderr
    p = run(d, "network", "inspect", "acc", check=False)
    assert p.returncode != 0 and "network acc not found" in p.stderr
    p = run(d, "network", "rm", "bridge", check=False)
    assert p.returncode != 0 and "bridge is a pre-defined network and cannot be removed" in p.stderr
    # a container on it: rm refused while it runs
    cid = run(d, "run", "-d", "--network", "n1", "--ip", "10.213.5.77", "busybox", "sleep", "30").stdout.strip()
    c = json.loads(run(d, "inspect", cid).stdout)[0]
    ep = c["NetworkSettings"]["Networks"]["n1"]
    assert ep["IPAddress"] == "10.213.5.77" and ep["Gateway"] == "10.213.0.254" and ep["IPPrefixLen"] == 16
    assert ep["NetworkID"] == out and len(ep["EndpointID"]) == 64 and ep["MacAddress"] == "02:42:0a:d5:05:4d"
    info = json.loads(run(d, "network", "inspect", "n1").stdout)[0]
    assert info["Containers"][cid]["IPv4Address"] == "10.213.5.77/16"
    mtu = run(d, "exec", cid, "cat", "/sys/class/net/eth0/mtu").stdout.strip()
    assert mtu == "1400"
    p = run(d, "network", "rm", "n1", check=False)
    assert p.returncode != 0 and "has active endpoints" in p.stderr
    run(d, "rm", "-f", cid)
    run(d, "network", "rm", "n1")
    assert "n1" not in run(d, "network", "ls").stdout


def test_static_ip_needs_user_subnet(d):
    run(d, "network", "create", "auto1")
    p = run(d, "run", "--rm", "--network", "auto1", "--ip", "172.30.9.9", "busybox", "true", check=False)
    assert p.returncode == 125
    assert "user specified IP address is supported only when connecting to networks with user configured " \
           "subnets" in p.stderr


def test_unknown_network(d):
    p = run(d, "run", "--network", "acc", "busybox", "true", check=False)
    assert p.returncode == 125 and "network acc not found" in p.stderr


def test_user_network_name_alias_short_id_and_http(d):
    run(d, "network", "create", "--subnet", "10.211.0.0/24", "app")
    web = run(d, "run", "-d", "--name", "web", "--network", "app", "--network-alias", "www", "busybox",
              "sh", "-c", HTTPD).stdout.strip()
    script = (f"ping -c1 -W3 web && ping -c1 -W3 www && ping -c1 -W3 {web[:12]} && "
              f"{nc_get('www')} && cat /etc/resolv.conf")
    out = run(d, "run", "--rm", "--network", "app", "busybox", "sh", "-c", script).stdout
    assert "10.211.0.2" in out and f"hello-from-{web[:12]}" in out
    assert "nameserver 10.211.0.1" in out
    # nc straight to a listener in the other container, and back
    run(d, "run", "-d", "--name", "listener", "--network", "app", "busybox", "sh", "-c",
        "echo pong | nc -l -p 7000")
    out = run(d, "run", "--rm", "--network", "app", "busybox", "sh", "-c",
              "for i in 1 2 3 4 5; do nc -w 2 listener 7000 && break; sleep 0.3; done").stdout
    assert "pong" in out
    c = json.loads(run(d, "inspect", "web").stdout)[0]
    ep = c["NetworkSettings"]["Networks"]["app"]
    assert ep["Aliases"] == ["www"] and ep["DNSNames"] == ["web", web[:12], "www"]


def test_published_port_from_host_and_containers(d):
    port, port2 = free_port(), free_port()
    cid = run(d, "run", "-d", "-p", f"{port}:80", "-p", f"127.0.0.1:{port2}:80", "-p", "80", "busybox",
              "sh", "-c", HTTPD).stdout.strip()
    assert f"hello-from-{cid[:12]}" in fetch("127.0.0.1", port)
    assert f"hello-from-{cid[:12]}" in fetch("127.0.0.1", port2)
    lines = run(d, "port", cid).stdout.splitlines()
    assert f"80/tcp -> 0.0.0.0:{port}" in lines and f"80/tcp -> 127.0.0.1:{port2}" in lines
    rnd = [ln for ln in lines if not ln.endswith((f":{port}", f":{port2}"))]
    random_port = int(rnd[0].rsplit(":", 1)[1])
    assert f"hello-from-{cid[:12]}" in fetch("127.0.0.1", random_port)
    ports = run(d, "ps", "--filter", f"id={cid}", "--format", "{{.Ports}}").stdout
    assert f"0.0.0.0:{port}->80/tcp" in ports
    c = json.loads(run(d, "inspect", cid).stdout)[0]
    assert {"HostIp": "0.0.0.0", "HostPort": str(port)} in c["NetworkSettings"]["Ports"]["80/tcp"]
    assert c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == str(port)
    gw = c["NetworkSettings"]["Gateway"]
    assert c["NetworkSettings"]["IPAddress"] and gw
    # another container reaches the published port through the host (its gateway)
    out = run(d, "run", "--rm", "busybox", "sh", "-c", nc_get(gw, port)).stdout
    assert f"hello-from-{cid[:12]}" in out
    # and from a user network too
    run(d, "network", "create", "other")
    ogw = json.loads(run(d, "network", "inspect", "other").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    out = run(d, "run", "--rm", "--network", "other", "busybox", "sh", "-c", nc_get(ogw, port)).stdout
    assert f"hello-from-{cid[:12]}" in out
    run(d, "rm", "-f", cid)
    with pytest.raises(OSError):
        fetch("127.0.0.1", port, timeout=0.5)
    assert str(port) not in nft_table(d.prefix)


def test_publish_all_uses_expose(d):
    cid = run(d, "run", "-d", "-P", "--expose", "80", "--expose", "8125/udp", "busybox", "sh", "-c",
              HTTPD).stdout.strip()
    lines = run(d, "port", cid).stdout.splitlines()
    tcp = [ln for ln in lines if ln.startswith("80/tcp -> 0.0.0.0:")]
    assert tcp and any(ln.startswith("8125/udp -> 0.0.0.0:") for ln in lines)
    assert f"hello-from-{cid[:12]}" in fetch("127.0.0.1", int(tcp[0].rsplit(":", 1)[1]))


def test_host_port_zero_is_a_free_port(d):
    """-p 0:80 is -p 80, as dockerd's allocator has it (it was "Bind for 0.0.0.0:0 failed")."""
    cid = run(d, "run", "-d", "-p", "0:80", "-p", "127.0.0.1:0:80", "-p", "0:8125/udp", "busybox", "sh", "-c",
              HTTPD).stdout.strip()
    lines = run(d, "port", cid).stdout.splitlines()
    any_ip = [ln for ln in lines if ln.startswith("80/tcp -> 0.0.0.0:")]
    local = [ln for ln in lines if ln.startswith("80/tcp -> 127.0.0.1:")]
    udp = [ln for ln in lines if ln.startswith("8125/udp -> 0.0.0.0:")]
    assert any_ip and local and udp, lines
    assert all(int(ln.rsplit(":", 1)[1]) > 0 for ln in any_ip + local + udp), lines
    assert f"hello-from-{cid[:12]}" in fetch("127.0.0.1", int(local[0].rsplit(":", 1)[1]))
    c = json.loads(run(d, "inspect", cid).stdout)[0]
    assert c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == "0"  # kept as asked, as dockerd
    run(d, "rm", "-f", cid)


def test_port_already_allocated(d):
    port = free_port()
    holder = socket.socket()
    holder.bind(("0.0.0.0", port))
    holder.listen()
    try:
        p = run(d, "run", "-d", "--name", "busy", "-p", f"{port}:80", "busybox", "sleep", "30", check=False)
    finally:
        holder.close()
    assert p.returncode == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in p.stderr
    state = json.loads(run(d, "inspect", "busy").stdout)[0]["State"]
    assert state["Running"] is False
    # and between two containers of this daemon
    run(d, "run", "-d", "-p", f"{port}:80", "busybox", "sleep", "30")
    p = run(d, "run", "-d", "-p", f"{port}:80", "busybox", "sleep", "30", check=False)
    assert p.returncode == 125 and "port is already allocated" in p.stderr


def test_publish_with_none_or_host_discarded_with_a_warning(d):
    """dockerd accepts both (cri-dockerd makes CNI pod sandboxes with none and the pod's ports)."""
    for mode in ("none", "host"):
        p = run(d, "run", "--rm", "--network", mode, "-p", "8080:80", "busybox", "true", check=False)
        assert p.returncode == 0, p.stderr
        assert f"Published ports are discarded when using {mode} network mode" in p.stderr


def test_internal_network_blocks_outbound(d):
    port = free_port()
    run(d, "network", "create", "outside")
    run(d, "network", "create", "--internal", "sealed")
    target = run(d, "run", "-d", "--network", "outside", "-p", f"{port}:80", "busybox", "sh", "-c",
                 HTTPD).stdout.strip()
    info = json.loads(run(d, "network", "inspect", "outside").stdout)[0]
    gw = info["IPAM"]["Config"][0]["Gateway"]
    run(d, "network", "create", "open")
    out = run(d, "run", "--rm", "--network", "open", "busybox", "sh", "-c", nc_get(gw, port)).stdout
    assert f"hello-from-{target[:12]}" in out
    p = run(d, "run", "--rm", "--network", "sealed", "busybox", "sh", "-c",
            f"ip route; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {gw} {port}", check=False)
    assert "hello-from" not in p.stdout and "default" not in p.stdout
    assert "Internal" in info and json.loads(run(d, "network", "inspect", "sealed").stdout)[0]["Internal"]


def test_connect_disconnect_running(d):
    run(d, "network", "create", "--subnet", "10.212.0.0/24", "side")
    run(d, "run", "-d", "--name", "peer", "--network", "side", "busybox", "sleep", "60")
    cid = run(d, "run", "-d", "--name", "mover", "busybox", "sleep", "60").stdout.strip()
    p = run(d, "exec", "mover", "ping", "-c1", "-W1", "10.212.0.2", check=False)
    assert p.returncode != 0
    run(d, "network", "connect", "--ip", "10.212.0.50", "--alias", "mv", "side", "mover")
    c = json.loads(run(d, "inspect", cid).stdout)[0]
    assert set(c["NetworkSettings"]["Networks"]) == {"bridge", "side"}
    assert c["NetworkSettings"]["Networks"]["side"]["IPAddress"] == "10.212.0.50"
    assert "10.212.0.50" in run(d, "exec", "mover", "ip", "-o", "addr").stdout
    run(d, "exec", "mover", "ping", "-c1", "-W2", "10.212.0.2")
    out = run(d, "exec", "peer", "ping", "-c1", "-W2", "mv").stdout
    assert "10.212.0.50" in out
    info = json.loads(run(d, "network", "inspect", "side").stdout)[0]
    assert cid in info["Containers"]
    run(d, "network", "disconnect", "side", "mover")
    c = json.loads(run(d, "inspect", cid).stdout)[0]
    assert set(c["NetworkSettings"]["Networks"]) == {"bridge"}
    assert "10.212.0.50" not in run(d, "exec", "mover", "ip", "-o", "addr").stdout
    p = run(d, "exec", "peer", "ping", "-c1", "-W1", "mv", check=False)
    assert p.returncode != 0
    # a stopped container: connect is recorded and takes effect at start
    run(d, "stop", "-t", "0", "mover")
    run(d, "network", "connect", "side", "mover")
    run(d, "start", "mover")
    assert "10.212.0." in run(d, "exec", "mover", "ip", "-o", "addr").stdout


def test_default_bridge_etc_files_and_link(d):
    db = run(d, "run", "-d", "--name", "db", "busybox", "sleep", "60").stdout.strip()
    db_ip = json.loads(run(d, "inspect", db).stdout)[0]["NetworkSettings"]["IPAddress"]
    out = run(d, "run", "--rm", "--link", "db:database", "--hostname", "box", "--domainname", "example.org",
              "--add-host", "foo:10.9.8.7", "--add-host", "gw:host-gateway", "--dns", "10.1.1.1",
              "--dns-search", "corp.example", "--dns-option", "ndots:2", "busybox", "sh", "-c",
              "cat /etc/hosts /etc/resolv.conf /etc/hostname; ping -c1 -W2 database").stdout
    gw = json.loads(run(d, "network", "inspect", "bridge").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    assert f"{db_ip}\tdatabase {db[:12]} db" in out
    assert "10.9.8.7\tfoo" in out and f"{gw}\tgw" in out
    assert "\tbox.example.org box" in out
    assert "nameserver 10.1.1.1" in out and "search corp.example" in out and "options ndots:2" in out
    assert "box\n" in out and "1 packets received" in out


def test_nothing_left_after_rm(d):
    run(d, "network", "create", "tmpnet")
    run(d, "run", "-d", "--name", "ca", "--network", "tmpnet", "-p", "80", "busybox", "sleep", "60")
    run(d, "run", "-d", "--name", "cb", "busybox", "sleep", "60")
    assert len(links_of(d.prefix)) == 4  # two bridges, two veths
    assert "dnat to" in nft_table(d.prefix)
    run(d, "rm", "-f", "ca", "cb")
    run(d, "network", "rm", "tmpnet")
    # the default bridge stays while the daemon runs (as docker0 does); nothing else
    default = [link_stem(d.prefix) + "b0"]
    assert links_settle(d.prefix, default) == default
    assert "dnat to" not in nft_table(d.prefix) and "tmpnet" not in nft_table(d.prefix)
    p = run(d, "run", "-d", "--name", "bad", "-p", "80", "busybox", "no-such-program", check=False)
    assert p.returncode != 0
    assert links_settle(d.prefix, default) == default and "dnat to" not in nft_table(d.prefix)
    assert not os.listdir(os.path.join(d.exec_root, f"{d.prefix}-net", "netns"))


def test_network_events(d):
    since = str(int(time.time()) - 1)
    run(d, "network", "create", "evnet")
    run(d, "run", "--rm", "--network", "evnet", "busybox", "true")
    run(d, "network", "rm", "evnet")
    until = str(int(time.time()) + 1)
    lines = run(d, "events", "--since", since, "--until", until, "--filter", "type=network",
                "--format", "{{json .}}").stdout.splitlines()
    out = [e["Action"] for e in map(json.loads, lines) if e["Actor"]["Attributes"].get("name") == "evnet"]
    assert out[:4] == ["create", "connect", "disconnect", "destroy"]


def test_ports_survive_daemon_kill(busybox_tar):
    dm = new_daemon()
    dm.start()
    try:
        docker(dm, "import", str(busybox_tar), "busybox:latest", check=True)
        port = free_port()
        cid = docker(dm, "run", "-d", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD, check=True).stdout.strip()
        assert "hello-from" in fetch("127.0.0.1", port)
        dm.crash()
        assert "hello-from" in fetch("127.0.0.1", port)
        dm.start()
        assert "hello-from" in fetch("127.0.0.1", port)
        c = json.loads(docker(dm, "inspect", cid, check=True).stdout)[0]
        assert c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == str(port)
        docker(dm, "rm", "-f", cid, check=True)
        assert "dnat to" not in nft_table(dm.prefix)
        dm.stop()
        assert links_settle(dm.prefix, []) == [] and nft_table(dm.prefix) == ""
    finally:
        dm.cleanup()
    assert links_settle(dm.prefix, []) == [] and nft_table(dm.prefix) == ""


COMPOSE = os.environ.get("DOCKYARD_COMPOSE", "/opt/dockyard/compose-venv/bin/docker-compose")


def test_dockerpy_networks(d):
    import docker as dockerpy

    client = dockerpy.DockerClient(base_url=d.docker_host, timeout=60)
    net = client.networks.create("pynet", driver="bridge", labels={"a": "b"},
                                 ipam=dockerpy.types.IPAMConfig(pool_configs=[
                                     dockerpy.types.IPAMPool(subnet="10.216.0.0/24", gateway="10.216.0.1")]))
    assert net.attrs["IPAM"]["Config"] == [{"Subnet": "10.216.0.0/24", "Gateway": "10.216.0.1"}]
    assert [n.name for n in client.networks.list(names=["pynet"])] == ["pynet"]
    assert [n.name for n in client.networks.list(filters={"label": "a=b"})] == ["pynet"]
    web = client.containers.run("busybox", ["sh", "-c", HTTPD], name="pyweb", network="pynet", detach=True)
    out = client.containers.run("busybox", ["sh", "-c", nc_get("pyweb")], network="pynet", remove=True)
    assert f"hello-from-{web.id[:12]}".encode() in out
    other = client.containers.run("busybox", ["sleep", "60"], detach=True)
    net.connect(other, aliases=["extra"], ipv4_address="10.216.0.99")
    other.reload()
    assert other.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"] == "10.216.0.99"
    net.reload()
    assert {c.name for c in net.containers} == {"pyweb", other.name}
    assert b"hello-from" in other.exec_run(["sh", "-c", nc_get("pyweb")]).output
    net.disconnect(other)
    with pytest.raises(dockerpy.errors.NotFound, match="network nope not found"):
        client.networks.get("nope")
    with pytest.raises(dockerpy.errors.APIError, match="has active endpoints"):
        net.remove()
    web.remove(force=True)
    other.remove(force=True)
    net.remove()
    assert client.networks.prune() == {"NetworksDeleted": None}


def test_compose_service_discovery(d, tmp_path):
    if not os.path.exists(COMPOSE):
        pytest.fail(f"docker-compose 1.29 is not installed at {COMPOSE}: run scripts/compose-venv.sh")
    port = free_port()
    fetch_loop = "while true; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 api 80 > /tmp/got; sleep 1; done"
    spec = {"version": "3.7", "services": {
        "api": {"image": "busybox",
                "command": ["sh", "-c", "mkdir /www && echo hello-from-api > /www/index.html && httpd -f -p 80 -h /www"]},
        "front": {"image": "busybox", "command": ["sh", "-c", fetch_loop], "ports": [f"{port}:80"],
                  "depends_on": ["api"]}}}
    (tmp_path / "docker-compose.yml").write_text(json.dumps(spec))
    env = d.env()
    env["COMPOSE_PROJECT_NAME"] = "dyproj"
    try:
        p = subprocess.run([COMPOSE, "up", "-d"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        deadline = time.monotonic() + 20
        got = ""
        while time.monotonic() < deadline and "hello-from" not in got:
            got = docker(d, "exec", "dyproj_front_1", "cat", "/tmp/got").stdout
            time.sleep(0.5)
        assert "hello-from" in got
        info = json.loads(run(d, "network", "inspect", "dyproj_default").stdout)[0]
        assert info["Labels"]["com.docker.compose.project"] == "dyproj" and len(info["Containers"]) == 2
    finally:
        p = subprocess.run([COMPOSE, "down"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "dyproj_default" not in run(d, "network", "ls").stdout


def test_container_mode_shares_the_bridge_netns(d):
    run(d, "run", "-d", "--name", "owner", "busybox", "sh", "-c", HTTPD)
    ip = json.loads(run(d, "inspect", "owner").stdout)[0]["NetworkSettings"]["IPAddress"]
    out = run(d, "run", "--rm", "--network", "container:owner", "busybox", "sh", "-c",
              f"ip -o addr; {nc_get('127.0.0.1')}").stdout
    assert ip in out and "hello-from" in out


def test_restart_keeps_running_networks_and_removes_strays(busybox_tar):
    dm = new_daemon()
    dm.start()
    stem = link_stem(dm.prefix)
    try:
        docker(dm, "import", str(busybox_tar), "busybox:latest", check=True)
        docker(dm, "network", "create", "keep", check=True)
        docker(dm, "run", "-d", "--name", "svc", "--network", "keep", "busybox", "sh", "-c", HTTPD, check=True)
        dm.crash()
        # what a crash might leave: a veth of no container, a netns file of none
        subprocess.run(["ip", "link", "add", stem + "vdead00", "type", "veth", "peer", "name", stem + "vdead01"],
                       check=True)
        stray = os.path.join(dm.exec_root, f"{dm.prefix}-net", "netns", f"{dm.prefix}-stray")
        open(stray, "w").close()
        dm.start()
        names = links_of(dm.prefix)
        assert stem + "vdead00" not in names and stem + "vdead01" not in names
        assert not os.path.exists(stray)
        assert len(names) == 2  # the network's bridge and the running container's veth
        out = docker(dm, "run", "--rm", "--network", "keep", "busybox", "sh", "-c", nc_get("svc"), check=True).stdout
        assert "hello-from" in out
    finally:
        dm.cleanup()
    assert links_settle(dm.prefix, []) == [] and nft_table(dm.prefix) == ""


def test_udp_range_and_host_address(d):
    base = free_port()
    for p in (base + 1, base + 2):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", p))
            except OSError:
                pytest.skip("no two free consecutive ports after the random one")
    cid = run(d, "run", "-d", "-p", f"{base + 1}-{base + 2}:80-81", "-p", f"{base}:9999/udp", "busybox", "sh",
              "-c", HTTPD).stdout.strip()
    lines = run(d, "port", cid).stdout.splitlines()
    assert f"80/tcp -> 0.0.0.0:{base + 1}" in lines and f"81/tcp -> 0.0.0.0:{base + 2}" in lines
    assert f"9999/udp -> 0.0.0.0:{base}" in lines
    settings = json.loads(run(d, "inspect", cid).stdout)[0]["NetworkSettings"]
    # the host's own address on the bridge, not only loopback
    assert "hello-from" in fetch(settings["Gateway"], base + 1)
    # Debian's busybox nc has no UDP: a listener of ours inside the container's network namespace
    server = subprocess.Popen(
        ["nsenter", f"--net={settings['SandboxKey']}", sys.executable, "-c",
         "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9999)); "
         "s.settimeout(10); print(s.recvfrom(100)[0].decode(), flush=True)"],
        stdout=subprocess.PIPE, text=True)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(50):
                s.sendto(b"datagram", ("127.0.0.1", base))
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        assert server.wait(10) == 0 and server.stdout.read().strip() == "datagram"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_ls_filters_and_prune(d):
    run(d, "network", "create", "--label", "keep=yes", "kept")
    run(d, "network", "create", "--label", "keep=no", "dropme")
    run(d, "network", "create", "--internal", "used")
    run(d, "run", "-d", "--network", "used", "busybox", "sleep", "60")

    def names(*filters: str) -> set[str]:
        args = [a for f in filters for a in ("--filter", f)]
        return set(run(d, "network", "ls", *args, "--format", "{{.Name}}").stdout.split())

    assert names("type=custom") == {"kept", "dropme", "used"}
    assert names("type=builtin") == {"bridge", "host", "none"}
    assert names("driver=null") == {"none"}
    assert names("label=keep=yes") == {"kept"}
    assert names("dangling=true") == {"kept", "dropme"}
    assert names("name=drop") == {"dropme"}
    p = run(d, "network", "ls", "--filter", "bogus=1", check=False)
    assert p.returncode != 0 and "invalid filter 'bogus'" in p.stderr
    out = run(d, "network", "prune", "-f", "--filter", "label=keep=no").stdout
    assert "dropme" in out and "kept" not in out
    out = run(d, "network", "prune", "-f").stdout
    assert "kept" in out and "used" not in out
    assert names("type=custom") == {"used"}


def test_dns_records_go_with_the_container(d):
    run(d, "network", "create", "recs")
    nid = json.loads(run(d, "network", "inspect", "recs").stdout)[0]["Id"]
    run(d, "run", "-d", "--name", "rec1", "--network", "recs", "--network-alias", "rec-alias", "busybox", "sleep", "60")
    path = os.path.join(d.exec_root, f"{d.prefix}-net", "aardvark", nid[:12])
    with open(path) as f:
        assert "rec1" in f.read()
    run(d, "stop", "-t", "0", "rec1")
    assert not os.path.exists(path)
    run(d, "start", "rec1")
    out = run(d, "run", "--rm", "--network", "recs", "busybox", "ping", "-c1", "-W2", "rec-alias").stdout
    assert "1 packets received" in out


def test_several_networks_at_create_through_the_api(d):
    run(d, "network", "create", "--subnet", "10.217.0.0/24", "first")
    run(d, "network", "create", "--subnet", "10.218.0.0/24", "second")
    status, body = d.request("POST", "/containers/create?name=multi", {
        "Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": "first"},
        "NetworkingConfig": {"EndpointsConfig": {"first": {"Aliases": ["m1"]},
                                                 "second": {"IPAMConfig": {"IPv4Address": "10.218.0.40"}}}}})
    assert status == 201, body
    assert d.request("POST", "/containers/multi/start")[0] == 204
    c = json.loads(run(d, "inspect", "multi").stdout)[0]
    nets = c["NetworkSettings"]["Networks"]
    assert nets["first"]["IPAddress"].startswith("10.217.0.") and nets["second"]["IPAddress"] == "10.218.0.40"
    addrs = run(d, "exec", "multi", "ip", "-o", "addr").stdout
    assert "eth0" in addrs and "eth1" in addrs and "10.218.0.40" in addrs
    assert "default via 10.217.0.1" in run(d, "exec", "multi", "ip", "route").stdout


def test_daemon_json_bip_and_pools(busybox_tar):
    dm = new_daemon(config={"bip": "10.219.3.1/24", "mtu": 1450,
                            "default-address-pools": [{"base": "10.220.0.0/16", "size": 24}]})
    dm.start()
    try:
        docker(dm, "import", str(busybox_tar), "busybox:latest", check=True)
        info = json.loads(docker(dm, "network", "inspect", "bridge", check=True).stdout)[0]
        assert info["IPAM"]["Config"] == [{"Subnet": "10.219.3.0/24", "Gateway": "10.219.3.1"}]
        assert info["Options"]["com.docker.network.driver.mtu"] == "1450"
        docker(dm, "network", "create", "pooled", check=True)
        sub = json.loads(docker(dm, "network", "inspect", "pooled", check=True).stdout)[0]["IPAM"]["Config"][0]
        assert sub["Subnet"].startswith("10.220.") and sub["Subnet"].endswith("/24")
        out = docker(dm, "run", "--rm", "busybox", "sh", "-c", "ip -o addr; cat /sys/class/net/eth0/mtu",
                     check=True).stdout
        assert "10.219.3.2/24" in out and "1450" in out
    finally:
        dm.cleanup()


def test_hairpin_and_port_free_after_stop(d):
    port = free_port()
    cid = run(d, "run", "-d", "--name", "self", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD).stdout.strip()
    gw = json.loads(run(d, "inspect", cid).stdout)[0]["NetworkSettings"]["Gateway"]
    # the container reaches its own published port through the host
    out = run(d, "exec", "self", "sh", "-c", nc_get(gw, port)).stdout
    assert f"hello-from-{cid[:12]}" in out
    run(d, "stop", "-t", "0", "self")
    # when stop returns, the port is free for the next container (as dockerd)
    other = run(d, "run", "-d", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD).stdout.strip()
    assert f"hello-from-{other[:12]}" in fetch("127.0.0.1", port)
    p = run(d, "start", "self", check=False)
    assert p.returncode != 0 and f"Bind for 0.0.0.0:{port} failed: port is already allocated" in p.stderr
