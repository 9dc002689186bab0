"""Volumes through docker-py, and a named volume's data across a daemon kill -9."""

from __future__ import annotations

import json
import os
import secrets

import docker
import pytest

from tests.support.daemon import docker as docker_cli
from tests.support.daemon import new_daemon


@pytest.fixture
def client(dockyard_daemon, busybox_image):
    c = docker.DockerClient(base_url=dockyard_daemon.docker_host, timeout=60)
    yield c
    c.close()


def test_volume_api_shapes(client):
    name = f"py{secrets.token_hex(3)}"
    v = client.volumes.create(name, driver="local", labels={"app": "db"},
                              driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert v.name == name and v.attrs["Labels"] == {"app": "db"}
    assert v.attrs["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert [x.name for x in client.volumes.list(filters={"label": "app=db"})] == [name]
    assert client.volumes.get(name).attrs["Mountpoint"].endswith(f"/volumes/{name}/_data")
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("nosuchvol")
    with pytest.raises(docker.errors.APIError) as exc:
        client.volumes.create("bad/name")
    assert exc.value.status_code == 400
    with pytest.raises(docker.errors.APIError) as exc:
        client.volumes.list(filters={"bogus": "1"})
    assert exc.value.status_code == 400 and "invalid filter 'bogus'" in str(exc.value)
    c = client.containers.create("busybox", ["true"], volumes={name: {"bind": "/data", "mode": "rw"}})
    with pytest.raises(docker.errors.APIError) as exc:
        v.remove()
    assert exc.value.status_code == 409
    c.remove()
    result = client.volumes.prune(filters={"label": "app=db", "all": "true"})
    assert result["VolumesDeleted"] == [name] and result["SpaceReclaimed"] == 0


def test_mounts_through_docker_py(client, tmp_path):
    from docker.types import Mount

    name = f"pym{secrets.token_hex(3)}"
    out = client.containers.run("busybox", ["sh", "-c", "echo hi > /v/f; cat /v/f; ls /b"], remove=True,
                                mounts=[Mount("/v", name, type="volume"),
                                        Mount("/b", str(tmp_path), type="bind", read_only=True)])
    assert out.split() == [b"hi"]
    assert client.containers.run("busybox", ["cat", "/w/f"], remove=True,
                                 volumes=[f"{name}:/w:ro"]) == b"hi\n"
    client.volumes.get(name).remove()


def test_value_survives_daemon_kill_9(busybox_tar):
    """One container writes through a named volume, the daemon is killed, another reads it back."""
    d = new_daemon()
    d.start()
    try:
        docker_cli(d, "import", str(busybox_tar), "busybox:latest", check=True)
        docker_cli(d, "volume", "create", "--label", "keep=yes", "persist", check=True)
        docker_cli(d, "run", "--name", "writer", "-v", "persist:/data", "busybox",
                   "sh", "-c", "echo written-before-crash > /data/value", check=True)
        cid = docker_cli(d, "create", "-v", "/anon", "busybox", "true", check=True).stdout.strip()
        d.crash()
        d.start()
        client = docker.DockerClient(base_url=d.docker_host, timeout=60)
        try:
            v = client.volumes.get("persist")
            assert v.attrs["Labels"] == {"keep": "yes"}
            out = client.containers.run("busybox", ["cat", "/data/value"], remove=True,
                                        volumes={"persist": {"bind": "/data", "mode": "ro"}})
            assert out == b"written-before-crash\n"
            anon = client.containers.get(cid).attrs["Mounts"][0]["Name"]
            with pytest.raises(docker.errors.APIError):
                client.volumes.get("persist").remove()  # still used by "writer"
            client.containers.get("writer").remove()
            client.volumes.get("persist").remove()
            client.containers.get(cid).remove(v=True)
            assert [x.name for x in client.volumes.list()] == []
            assert anon
        finally:
            client.close()
    finally:
        d.cleanup()


def test_archive_diff_export_through_docker_py(client):
    import io
    import tarfile

    c = client.containers.run("busybox", ["sleep", "100"], detach=True)
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            ti = tarfile.TarInfo("hello.txt")
            ti.size = 6
            tf.addfile(ti, io.BytesIO(b"hello\n"))
        assert c.put_archive("/tmp", buf.getvalue()) is True
        stream, st = c.get_archive("/tmp/hello.txt")
        data = b"".join(stream)
        assert st["name"] == "hello.txt" and st["size"] == 6 and st["mode"] == 0o644
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            assert tf.extractfile("hello.txt").read() == b"hello\n"
        with pytest.raises(docker.errors.NotFound):
            c.get_archive("/nope")
        assert {"Path": "/tmp/hello.txt", "Kind": 1} in c.diff()
        exported = b"".join(c.export())
        with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
            assert "tmp/hello.txt" in tf.getnames()
    finally:
        c.remove(force=True)


def test_option_volume_stays_mounted_for_its_other_user_across_a_crash(busybox_tar):
    """A tmpfs volume used by two containers; one exits while the daemon is down (kill -9)."""
    import os
    import signal
    import time

    from dockyard.volume.local import is_mountpoint

    d = new_daemon()
    d.start()
    try:
        docker_cli(d, "import", str(busybox_tar), "busybox:latest", check=True)
        docker_cli(d, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "shm1", check=True)
        # b first: the start-up goes through the records in order, so b's exit comes before a's turn
        b = docker_cli(d, "run", "-d", "-v", "shm1:/s", "busybox", "sleep", "1000", check=True).stdout.strip()
        a = docker_cli(d, "run", "-d", "-v", "shm1:/s", "busybox", "sh", "-c", "echo kept > /s/f; sleep 1000",
                       check=True).stdout.strip()
        data = os.path.join(d.data_root, "volumes", "shm1", "_data")
        assert is_mountpoint(data)
        pid_b = int(docker_cli(d, "inspect", "-f", "{{.State.Pid}}", b, check=True).stdout)
        d.crash()
        os.kill(pid_b, signal.SIGKILL)  # b (started by this test) exits while the daemon is down
        time.sleep(0.5)
        d.start()
        deadline = time.monotonic() + 10
        while docker_cli(d, "inspect", "-f", "{{.State.Running}}", b).stdout.strip() != "false":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert is_mountpoint(data)  # a still runs with it
        assert docker_cli(d, "exec", a, "cat", "/s/f", check=True).stdout == "kept\n"
        docker_cli(d, "rm", "-f", a, b, check=True)
        assert not is_mountpoint(data)
        docker_cli(d, "volume", "rm", "shm1", check=True)
    finally:
        d.cleanup()


def test_copy_mounts_left_by_a_crash_are_detached_at_start(busybox_tar, tmp_path):
    """What a docker cp on a stopped container mounts (its volumes on the merged dir) does not
    outlive a daemon killed in the middle of it: the start-up's reconcile detaches the stopped
    container's overlay, and the binds below it with it."""
    import subprocess

    d = new_daemon()
    d.start()
    try:
        docker_cli(d, "import", str(busybox_tar), "busybox:latest", check=True)
        cid = docker_cli(d, "create", "-v", "cpvol:/data", "busybox", "true", check=True).stdout.strip()
        merged = json.loads(docker_cli(d, "inspect", cid, check=True).stdout)[0]["GraphDriver"]["Data"]["MergedDir"]
        d.crash()
        # the state a crash during the copy leaves: the overlay and a volume bound below it
        layer = os.path.dirname(merged)
        lower = open(os.path.join(layer, "lower")).read().strip().split(":")
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={':'.join(os.path.join(d.data_root, 'overlay2', x) for x in lower)},"
                        f"upperdir={layer}/diff,workdir={layer}/work", merged], check=True)
        os.makedirs(os.path.join(merged, "data"), exist_ok=True)
        subprocess.run(["mount", "--bind", os.path.join(d.data_root, "volumes", "cpvol", "_data"),
                        os.path.join(merged, "data")], check=True)
        d.start()
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        assert os.path.join(merged, "data") not in points
        docker_cli(d, "rm", "-v", cid, check=True)
        docker_cli(d, "volume", "rm", "cpvol", check=True)
    finally:
        d.cleanup()
