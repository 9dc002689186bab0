"""The same user flows through docker-py (pip `docker`)."""

from __future__ import annotations

import docker
import pytest


@pytest.fixture
def client(dockyard_daemon, busybox_image):
    c = docker.DockerClient(base_url=dockyard_daemon.docker_host, timeout=60)
    yield c
    c.close()


def test_ping_version_info(client):
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.50"
    assert client.info()["OSType"] == "linux"


def test_containers_run_returns_output(client):
    out = client.containers.run("busybox", ["sh", "-c", "echo hi; echo err >&2"], remove=True)
    assert out == b"hi\n"


def test_nonzero_exit_raises_container_error(client):
    with pytest.raises(docker.errors.ContainerError) as exc:
        client.containers.run("busybox", ["sh", "-c", "exit 5"], remove=True)
    assert exc.value.exit_status == 5


def test_missing_image_is_image_not_found(client):
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("busybox-missing:nope", ["true"])


def test_detached_lifecycle(client):
    c = client.containers.run("busybox", ["sleep", "100"], detach=True, labels={"k": "v"}, name="pylife")
    try:
        c.reload()
        assert c.status == "running" and c.name == "pylife" and c.labels["k"] == "v"
        assert [x.id for x in client.containers.list(filters={"label": "k=v"})] == [c.id]
        top = c.top()
        assert any("sleep" in " ".join(p) for p in top["Processes"])
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
        assert c.wait()["StatusCode"] in (137, 143)
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("pylife")


def test_logs_and_wait(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; exit 2"], detach=True)
    try:
        assert c.wait()["StatusCode"] == 2
        assert c.logs(stdout=True, stderr=False) == b"a\n"
        assert c.logs(stdout=False, stderr=True) == b"b\n"
        assert list(c.logs(stream=True)) != []
    finally:
        c.remove()


def test_conflict_on_remove_running(client):
    c = client.containers.run("busybox", ["sleep", "100"], detach=True)
    try:
        with pytest.raises(docker.errors.APIError) as exc:
            c.remove()
        assert exc.value.status_code == 409
    finally:
        c.remove(force=True)


def test_events_stream_sees_lifecycle(client):
    import time

    since = time.time() - 1
    c = client.containers.run("busybox", ["true"], detach=True)
    c.wait()
    c.remove()
    until = time.time() + 1
    actions = [e["Action"] for e in client.events(since=since, until=until, decode=True,
                                                  filters={"container": c.id})]
    for want in ("create", "start", "die", "destroy"):
        assert want in actions


def test_load_error_is_image_load_error(client):
    """dockerd answers 200 with the error in the progress stream: docker-py raises ImageLoadError."""
    with pytest.raises(docker.errors.ImageLoadError):
        client.images.load(b"abc")


def test_kill_returns_after_the_container_stopped(client):
    """SIGKILL (the default) returns once the container is no longer running, as dockerd's Kill."""
    for _ in range(3):
        c = client.containers.run("busybox", ["sleep", "9999"], detach=True)
        try:
            c.kill()
            state = client.api.inspect_container(c.id)["State"]
            assert state["Running"] is False and state["ExitCode"] == 137
        finally:
            c.remove(force=True)


def test_swarm_endpoints_say_this_node_is_not_in_a_swarm(client):
    """No Swarm here: the answers of a dockerd whose node never joined one (503)."""
    assert client.api.leave_swarm(force=True) is True  # docker-py's teardowns call this
    with pytest.raises(docker.errors.APIError) as exc:
        client.api.inspect_swarm()
    assert exc.value.status_code == 503 and "not a swarm manager" in str(exc.value)
    with pytest.raises(docker.errors.APIError) as exc:
        client.api.services()
    assert exc.value.status_code == 503


def test_quick_restart_of_a_bridged_container(client):
    """restart -t 1 right after a stop: the old veth may still be going away with its namespace
    (docker-py's test_restart_with_low_timeout)."""
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True, network_mode="bridge")
    try:
        for _ in range(5):
            client.api.restart(c.id, timeout=1)
            assert client.api.inspect_container(c.id)["State"]["Running"] is True
    finally:
        c.remove(force=True)


def test_links_give_environment_and_can_be_removed(client):
    """--link on the default bridge: <ALIAS>_NAME/_ENV_/_PORT_ variables (docker-py's test_create_with_links),
    and ``DELETE /containers/<name>/<alias>?link=1`` drops the link (test_remove_link)."""
    api = client.api
    target = client.containers.run("busybox", ["sleep", "1000"], detach=True, environment={"FOO": "1"},
                                   ports={"8080/tcp": None}, network_mode="bridge")
    try:
        name = api.inspect_container(target.id)["Name"][1:]
        ip = api.inspect_container(target.id)["NetworkSettings"]["IPAddress"]
        c = client.containers.create("busybox", ["env"], links={name: "mylink1"}, network_mode="bridge")
        try:
            c.start()
            assert c.wait(timeout=30)["StatusCode"] == 0
            env = c.logs().decode().split()
            assert f"MYLINK1_NAME=/{c.name}/mylink1" in env
            assert "MYLINK1_ENV_FOO=1" in env
            assert f"MYLINK1_PORT_8080_TCP=tcp://{ip}:8080" in env and f"MYLINK1_PORT=tcp://{ip}:8080" in env
            api.remove_container(f"{c.name}/mylink1", link=True)
            assert api.inspect_container(c.id)["HostConfig"]["Links"] is None
            with pytest.raises(docker.errors.NotFound):
                api.remove_container(f"{c.name}/mylink1", link=True)
        finally:
            c.remove(force=True)
    finally:
        target.remove(force=True)


def test_network_names_and_endpoint_driver_options_as_dockerd(client):
    """dockerd takes a network name with a space (docker-py's test_create_remove_network_with_space_in_name)
    and keeps endpoint DriverOpts in inspect (test_create_with_driveropt)."""
    api = client.api
    net = api.create_network("dytest space 01")
    try:
        assert api.inspect_network(net["Id"])["Name"] == "dytest space 01"
    finally:
        api.remove_network(net["Id"])
    c = api.create_container("busybox", ["sleep", "100"], host_config=api.create_host_config(network_mode="bridge"),
                             networking_config=api.create_networking_config(
                                 {"bridge": api.create_endpoint_config(driver_opt={"com.example.setting": "on"})}))
    try:
        api.start(c)
        ep = api.inspect_container(c)["NetworkSettings"]["Networks"]["bridge"]
        assert ep["DriverOpts"] == {"com.example.setting": "on"}
    finally:
        api.remove_container(c, force=True)
    with pytest.raises(docker.errors.APIError):
        api.create_network("dytest/slash")


def test_network_aux_addresses_are_kept_and_never_given_out(client):
    """--aux-address (docker-py's test_create_network_with_ipam_config): shown in IPAM, reserved."""
    from docker.types import IPAMConfig, IPAMPool

    api = client.api
    pool = IPAMPool(subnet="10.199.77.0/29", gateway="10.199.77.1", aux_addresses={"a": "10.199.77.2", "b": "10.199.77.3"})
    net = api.create_network("dytest-aux", ipam=IPAMConfig(pool_configs=[pool]))
    try:
        ipam = api.inspect_network(net["Id"])["IPAM"]
        assert ipam["Options"] is None  # as sent by docker-py, as dockerd echoes it
        cfg = ipam["Config"]
        assert cfg == [{"Subnet": "10.199.77.0/29", "Gateway": "10.199.77.1",
                        "AuxiliaryAddresses": {"a": "10.199.77.2", "b": "10.199.77.3"}}]
        c = client.containers.run("busybox", ["sleep", "100"], detach=True, network="dytest-aux")
        try:
            ip = api.inspect_container(c.id)["NetworkSettings"]["Networks"]["dytest-aux"]["IPAddress"]
            assert ip == "10.199.77.4"
        finally:
            c.remove(force=True)
    finally:
        api.remove_network(net["Id"])
    bad = IPAMPool(subnet="10.199.78.0/29", aux_addresses={"a": "10.1.1.1"})
    with pytest.raises(docker.errors.APIError, match="no matching subnet for aux-address 10.1.1.1"):
        api.create_network("dytest-aux2", ipam=IPAMConfig(pool_configs=[bad]))


def test_foreground_runs_of_short_containers_never_hang(client, tmp_path):
    """docker-py's run() = start, then logs(follow), then wait. A container that exits while the
    logs request starts must still end the stream (it once waited forever, about 1 run in 30)."""
    for i in range(15):
        out = client.containers.run("busybox", ["sh", "-c", f"echo run-{i} > /v/f; cat /v/f"],
                                    volumes=[f"{tmp_path}:/v"], remove=True)
        assert out == f"run-{i}\n".encode()
