"""docker update with the real CLI and docker-py: live limits in the cgroup, persisted, Docker's errors."""

from __future__ import annotations

import json
import os
import time

import docker as dockerpy
import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def hc(d, ref):
    return json.loads(docker(d, "inspect", ref, check=True).stdout)[0]["HostConfig"]


def cgroup_file(d, cid, controller, name):
    """A file of the container's own cgroup, read from inside (v1 mounts its cgroup at /sys/fs/cgroup/…)."""
    path = f"/sys/fs/cgroup/{controller}/{name}"
    p = docker(d, "exec", cid, "cat", path)
    if p.returncode != 0:
        p = docker(d, "exec", cid, "cat", f"/sys/fs/cgroup/{name}")
    return p.stdout.strip()


def test_update_running_container_live_and_persisted(d):
    cid = docker(d, "run", "-d", "-m", "64m", "busybox", "sleep", "1000", check=True).stdout.strip()
    p = docker(d, "update", "-m", "96m", "--memory-swap", "200m", "--memory-reservation", "32m",
               "--cpus", "0.5", "--cpu-shares", "512", "--pids-limit", "40", "--cpuset-cpus", "0",
               "--cpuset-mems", "0", "--restart", "on-failure:2", cid)
    assert p.returncode == 0, p.stderr
    h = hc(d, cid)
    assert (h["Memory"], h["MemorySwap"], h["MemoryReservation"]) == (96 << 20, 200 << 20, 32 << 20)
    assert (h["NanoCpus"], h["CpuShares"], h["PidsLimit"], h["CpusetCpus"]) == (500_000_000, 512, 40, "0")
    assert h["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    mem = cgroup_file(d, cid, "memory", "memory.limit_in_bytes") or cgroup_file(d, cid, "", "memory.max")
    assert mem == str(96 << 20)
    assert cgroup_file(d, cid, "pids", "pids.max") == "40"
    quota = cgroup_file(d, cid, "cpu", "cpu.cfs_quota_us") or cgroup_file(d, cid, "", "cpu.max").split()[0]
    assert quota == "50000"
    status, body = d.request("GET", f"/containers/{cid}/stats?stream=0&one-shot=1")
    assert body["memory_stats"]["limit"] == 96 << 20 and body["pids_stats"]["limit"] == 40
    docker(d, "rm", "-f", cid, check=True)


def test_update_stopped_container_applies_at_start(d):
    cid = docker(d, "create", "busybox", "sleep", "1000", check=True).stdout.strip()
    weight = any(os.path.exists(f) for f in ("/sys/fs/cgroup/blkio/blkio.weight", "/sys/fs/cgroup/blkio/blkio.bfq.weight",
                                               "/sys/fs/cgroup/io.weight", "/sys/fs/cgroup/io.bfq.weight"))
    p = docker(d, "update", "--pids-limit", "33", "--blkio-weight", "300", cid)
    if weight:
        assert p.returncode == 0 and hc(d, cid)["BlkioWeight"] == 300, p.stderr
    else:  # this kernel has no weight file: refused by name, nothing changed
        assert "BlkioWeight: Your kernel does not support Block I/O weight" in p.stderr
        assert hc(d, cid)["PidsLimit"] is None
        docker(d, "update", "--pids-limit", "33", cid, check=True)
    assert hc(d, cid)["PidsLimit"] == 33
    docker(d, "start", cid, check=True)
    assert cgroup_file(d, cid, "pids", "pids.max") == "33"
    docker(d, "rm", "-f", cid, check=True)


def test_update_errors_change_nothing(d):
    cid = docker(d, "run", "-d", "-m", "64m", "--memory-swap", "128m", "busybox", "sh", "-c",
                 "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; sleep 1000",
                 check=True).stdout.strip()
    p = docker(d, "update", "-m", "256m", cid)
    assert p.returncode != 0
    assert "Memory limit should be smaller than already set memoryswap limit" in p.stderr
    p = docker(d, "update", "-m", "100m", "--memory-swap", "50m", cid)
    assert "Minimum memoryswap limit should be larger than memory limit" in p.stderr
    p = docker(d, "update", "--memory-swap", "32m", cid)
    assert "Minimum memoryswap limit should be larger than memory limit" in p.stderr
    # below what the container uses (40 MB in /dev/shm, no swap to push it to): the kernel refuses
    time.sleep(0.5)
    p = docker(d, "update", "-m", "10m", "--memory-swap", "20m", cid)
    assert p.returncode != 0 and f"Cannot update container {cid}" in p.stderr, p.stderr
    h = hc(d, cid)
    assert (h["Memory"], h["MemorySwap"]) == (64 << 20, 128 << 20)
    p = docker(d, "update", "--cpus", "0.5", "--cpu-period", "50000", cid)
    assert p.returncode != 0
    docker(d, "rm", "-f", cid, check=True)
    rm = docker(d, "create", "--rm", "busybox", "true", check=True).stdout.strip()
    p = docker(d, "update", "--restart", "always", rm)
    assert "Restart policy cannot be updated because AutoRemove is enabled for the container" in p.stderr
    docker(d, "rm", rm, check=True)


def test_docker_py_update_and_event(d):
    client = dockerpy.DockerClient(base_url=d.docker_host)
    try:
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True)
        assert c.update(mem_limit="80m", memswap_limit="160m") == {"Warnings": None}  # dockerd: null
        c.reload()
        assert c.attrs["HostConfig"]["Memory"] == 80 << 20
        evs = list(client.events(since=0, until=int(time.time()) + 1, decode=True,
                                 filters={"container": c.id, "event": "update"}))
        assert len(evs) == 1 and evs[0]["Actor"]["Attributes"]["name"] == c.name
        c.remove(force=True)
    finally:
        client.close()


@pytest.mark.skipif(not os.path.exists("/usr/bin/crun"), reason="crun is not installed")
def test_update_and_stats_with_crun(d):
    """docker update goes through the OCI runtime's update command, so crun applies it too."""
    cid = docker(d, "run", "-d", "--runtime", "crun", "-m", "64m", "busybox", "sleep", "1000",
                 check=True).stdout.strip()
    docker(d, "update", "-m", "80m", "--memory-swap", "160m", "--pids-limit", "25", cid, check=True)
    assert cgroup_file(d, cid, "pids", "pids.max") == "25"
    status, body = d.request("GET", f"/containers/{cid}/stats?stream=0&one-shot=1")
    assert body["memory_stats"]["limit"] == 80 << 20 and body["pids_stats"] == {"current": 1, "limit": 25}
    docker(d, "rm", "-f", cid, check=True)
