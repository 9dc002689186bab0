"""Links on user networks (container-scoped aliases), --link-local-ip and --mac-address, by CLI and docker-py.

Compared with Debian's dockerd 20.10: on a user network ``--link target:alias``
is stored in the endpoint's Links (HostConfig.Links stays null), the alias
resolves in the linking container only, and the target may start after it.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.test_network import d, run  # noqa: F401 (d: the fixture)


def lookup(d, container: str, name: str, tries: int = 25) -> str:
    """nslookup ``name`` in ``container``, retried while aardvark re-reads its files (SIGHUP)."""
    script = f"for i in $(seq {tries}); do nslookup {name} && exit 0; sleep 0.2; done; exit 1"
    p = run(d, "exec", container, "sh", "-c", script, check=False)
    return p.stdout if p.returncode == 0 else ""


def ip_of(d, container: str, network: str) -> str:
    return json.loads(run(d, "inspect", container).stdout)[0]["NetworkSettings"]["Networks"][network]["IPAddress"]


def test_cli_link_on_user_network_is_container_scoped_and_target_may_come_later(d):
    run(d, "network", "create", "lnet")
    run(d, "run", "-d", "--name", "linker", "--network", "lnet", "--link", "upstream:bar", "busybox",
        "sleep", "300")
    info = json.loads(run(d, "inspect", "linker").stdout)[0]
    assert info["HostConfig"]["Links"] is None
    assert info["NetworkSettings"]["Networks"]["lnet"]["Links"] == ["upstream:bar"]
    assert "bar" not in lookup(d, "linker", "bar", tries=2)  # no target yet: NXDOMAIN
    run(d, "run", "-d", "--name", "upstream", "--network", "lnet", "busybox", "sleep", "300")
    run(d, "run", "-d", "--name", "bystander", "--network", "lnet", "busybox", "sleep", "300")
    up = ip_of(d, "upstream", "lnet")
    assert f"Address: {up}" in lookup(d, "linker", "bar")
    assert "1 packets received" in run(d, "exec", "linker", "ping", "-c1", "-W3", "bar").stdout
    assert lookup(d, "linker", "upstream")  # the target's own name still resolves
    assert lookup(d, "bystander", "bar", tries=2) == ""  # the alias is the linking container's only
    # network connect --link, on a running container
    run(d, "run", "-d", "--name", "third", "busybox", "sleep", "300")
    run(d, "network", "connect", "--link", "upstream:baz", "lnet", "third")
    assert json.loads(run(d, "inspect", "third").stdout)[0]["NetworkSettings"]["Networks"]["lnet"]["Links"] == \
        ["upstream:baz"]
    assert f"Address: {up}" in lookup(d, "third", "baz")
    assert lookup(d, "linker", "baz", tries=2) == ""
    # the target goes: the alias goes with it; it comes back: so does the alias
    run(d, "stop", "-t", "0", "upstream")
    assert lookup(d, "linker", "bar", tries=2) == ""
    run(d, "start", "upstream")
    assert f"Address: {ip_of(d, 'upstream', 'lnet')}" in lookup(d, "linker", "bar")


def test_link_on_the_default_bridge_through_network_connect_is_refused(d):
    run(d, "network", "create", "lnet2")
    run(d, "run", "-d", "--name", "c1", "--network", "lnet2", "busybox", "sleep", "300")
    p = run(d, "network", "connect", "--link", "c1:x", "bridge", "c1", check=False)
    assert p.returncode != 0 and "links on the default bridge" in p.stderr


def test_dockerpy_create_and_connect_with_links(d):
    """What docker-py's test_create_with_links and test_connect_with_links do."""
    import docker as dockerpy

    api = dockerpy.APIClient(base_url=d.docker_host, version="1.41", timeout=60)
    api.create_network("pylinks")
    host_config = api.create_host_config(network_mode="pylinks")
    first = api.create_container("busybox", ["sleep", "300"], host_config=host_config,
                                 networking_config=api.create_networking_config({
                                     "pylinks": api.create_endpoint_config(links=[("pyupstream", "bar")])}))
    api.start(first)
    second = api.create_container("busybox", ["sleep", "300"], host_config=host_config)
    api.start(second)
    api.disconnect_container_from_network(second, "pylinks")
    api.connect_container_to_network(second, "pylinks", links=[("pyupstream", "foo")])
    for cid, link in ((first, "pyupstream:bar"), (second, "pyupstream:foo")):
        assert api.inspect_container(cid)["NetworkSettings"]["Networks"]["pylinks"]["Links"] == [link]
    target = api.create_container("busybox", ["sleep", "300"], name="pyupstream", host_config=host_config)
    api.start(target)
    want = api.inspect_container(target)["NetworkSettings"]["Networks"]["pylinks"]["IPAddress"]
    assert f"Address: {want}" in lookup(d, first["Id"], "bar")
    assert f"Address: {want}" in lookup(d, second["Id"], "foo")


def test_cli_link_local_ips_on_the_interface(d):
    run(d, "network", "create", "llnet")
    run(d, "run", "-d", "--name", "ll", "--link-local-ip", "169.254.8.8", "busybox", "sleep", "300")
    info = json.loads(run(d, "inspect", "ll").stdout)[0]
    assert info["NetworkSettings"]["Networks"]["bridge"]["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]}
    assert "inet 169.254.8.8/16" in run(d, "exec", "ll", "ip", "-o", "addr", "show", "eth0").stdout
    run(d, "network", "connect", "--link-local-ip", "169.254.7.7", "--link-local-ip", "fe80::77", "llnet", "ll")
    out = run(d, "exec", "ll", "ip", "-o", "addr", "show", "eth1").stdout
    assert "inet 169.254.7.7/16" in out and "inet6 fe80::77/64" in out
    # a neighbour on the bridge reaches the link-local address
    p = run(d, "run", "--rm", "--link-local-ip", "169.254.8.9", "busybox", "ping", "-c1", "-W3", "169.254.8.8",
            check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    p = run(d, "run", "--rm", "--link-local-ip", "10.1.2.3", "busybox", "true", check=False)
    assert p.returncode == 125 and "invalid link local IP address: 10.1.2.3" in p.stderr


def test_dockerpy_create_with_linklocal_ips(d):
    """What docker-py's test_create_with_linklocal_ips does."""
    import docker as dockerpy

    api = dockerpy.APIClient(base_url=d.docker_host, version="1.41", timeout=60)
    c = api.create_container("busybox", ["sleep", "300"],
                             networking_config=api.create_networking_config({
                                 "bridge": api.create_endpoint_config(link_local_ips=["169.254.8.8"])}),
                             host_config=api.create_host_config(network_mode="bridge"))
    api.start(c)
    net = api.inspect_container(c)["NetworkSettings"]["Networks"]["bridge"]
    assert net["IPAMConfig"]["LinkLocalIPs"] == ["169.254.8.8"]
    with pytest.raises(dockerpy.errors.APIError, match="invalid link local IP address"):
        api.create_container("busybox", ["true"], networking_config=api.create_networking_config({
            "bridge": api.create_endpoint_config(link_local_ips=["192.0.2.1"])}))


def test_compose_links_on_the_project_network(d, tmp_path):
    """docker-compose 1.29's `links:` on the project's own network: the alias resolves in the linking service."""
    import os

    from tests.e2e.test_network import COMPOSE

    if not os.path.exists(COMPOSE):
        pytest.fail(f"docker-compose 1.29 is not installed at {COMPOSE}: run scripts/compose-venv.sh")
    spec = {"version": "3.7", "services": {
        "api": {"image": "busybox", "command": ["sleep", "300"]},
        "client": {"image": "busybox", "command": ["sleep", "300"], "links": ["api:backend"]}}}
    (tmp_path / "docker-compose.yml").write_text(json.dumps(spec))
    env = dict(d.env(), COMPOSE_PROJECT_NAME="dylinks")
    try:
        p = subprocess.run([COMPOSE, "up", "-d"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        api = ip_of(d, "dylinks_api_1", "dylinks_default")
        assert f"Address: {api}" in lookup(d, "dylinks_client_1", "backend")
        assert lookup(d, "dylinks_api_1", "client", tries=2) != ""  # service names as usual
    finally:
        p = subprocess.run([COMPOSE, "down"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


def test_legacy_link_errors_as_dockerd(d):
    """dockerd 20.10's answers: links with host/container modes, a missing target, a stopped one."""
    run(d, "run", "-d", "--name", "tgt", "busybox", "sleep", "300")
    for mode, text in (("host", "host type networking can't be used with links"),
                       ("container:tgt", "container type network can't be used with links")):
        p = run(d, "run", "--rm", "--network", mode, "--link", "tgt:y", "busybox", "true", check=False)
        assert p.returncode == 125 and f"conflicting options: {text}" in p.stderr, p.stderr
    for mode in ("bridge", "none"):
        p = run(d, "run", "--rm", "--network", mode, "--link", "nope:y", "busybox", "true", check=False)
        assert "could not get container for nope: No such container: nope" in p.stderr, p.stderr
    run(d, "create", "--name", "idle", "busybox", "true")
    assert run(d, "run", "--rm", "--network", "none", "--link", "idle:y", "busybox", "true").returncode == 0
    run(d, "create", "--name", "needs-idle", "--link", "idle:y", "busybox", "true")
    p = run(d, "start", "needs-idle", check=False)
    assert "Cannot link to a non running container: /idle AS /needs-idle/y" in p.stderr, p.stderr


def test_cli_mac_address_is_the_interfaces(d):
    """--mac-address (issue 15 saw it accepted and ignored): the container's interface carries it."""
    out = run(d, "run", "--rm", "--mac-address", "02:42:de:ad:be:ef", "busybox", "ip", "-o", "link", "show",
              "eth0").stdout
    assert "link/ether 02:42:de:ad:be:ef" in out
    run(d, "network", "create", "macnet")
    cid = run(d, "run", "-d", "--network", "name=macnet,mac-address=02:42:de:ad:be:e0", "busybox",
              "sleep", "300").stdout.strip()
    assert "link/ether 02:42:de:ad:be:e0" in run(d, "exec", cid, "ip", "-o", "link", "show", "eth0").stdout
    assert json.loads(run(d, "inspect", cid).stdout)[0]["NetworkSettings"]["Networks"]["macnet"]["MacAddress"] == \
        "02:42:de:ad:be:e0"


def test_link_alias_outlives_the_daemon_and_its_restart(busybox_tar):
    """aardvark and its files outlive dockyardd; a start renders the same files again."""
    from tests.support.daemon import docker, new_daemon

    dm = new_daemon()
    dm.start()
    try:
        docker(dm, "import", str(busybox_tar), "busybox:latest", check=True)
        docker(dm, "network", "create", "keep", check=True)
        docker(dm, "run", "-d", "--name", "lk", "--network", "keep", "--link", "tg:al", "busybox", "sleep", "300",
               check=True)
        docker(dm, "run", "-d", "--name", "tg", "--network", "keep", "busybox", "sleep", "300", check=True)
        want = f"Address: {ip_of(dm, 'tg', 'keep')}"
        assert want in lookup(dm, "lk", "al")
        dm.stop()
        pid = subprocess.run(["pgrep", "-f", f"{dm.prefix}-net/aardvark"], capture_output=True, text=True).stdout
        assert pid.strip(), "aardvark went with the daemon"
        dm.start()
        assert want in lookup(dm, "lk", "al")
        assert lookup(dm, "tg", "lk")  # the network's own names too
    finally:
        dm.cleanup()


def test_legacy_link_hosts_line_follows_the_targets_new_address(d):
    """Docker: restarting a link's source updates /etc/hosts of the running containers linked to it."""
    run(d, "run", "-d", "--name", "src", "busybox", "sleep", "300")
    old = ip_of(d, "src", "bridge")
    run(d, "run", "-d", "--name", "app", "--link", "src:source", "busybox", "sleep", "300")
    assert f"{old}\tsource" in run(d, "exec", "app", "cat", "/etc/hosts").stdout
    run(d, "stop", "-t", "0", "src")
    run(d, "run", "-d", "--name", "squatter", "busybox", "sleep", "300")  # takes the freed address
    run(d, "start", "src")
    new = ip_of(d, "src", "bridge")
    assert new != old
    hosts = run(d, "exec", "app", "cat", "/etc/hosts").stdout
    assert f"{new}\tsource" in hosts and f"{old}\tsource" not in hosts
