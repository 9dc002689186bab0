"""docker stats with the real CLI and docker-py, from this host's real cgroup files."""

from __future__ import annotations

import json
import subprocess
import time

import docker as dockerpy
import pytest

from tests.support.daemon import UnixHTTPConnection, docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


@pytest.fixture
def busy(d):
    cid = docker(d, "run", "-d", "-m", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
                 "sleep 1000 & while :; do :; done", check=True).stdout.strip()
    yield cid
    docker(d, "rm", "-f", cid)


def test_cli_no_stream_shows_real_figures(d, busy):
    out = docker(d, "stats", "--no-stream", "--format", "{{json .}}", busy, check=True).stdout
    row = json.loads(out)
    assert float(row["CPUPerc"].rstrip("%")) > 5.0, row
    usage, limit = row["MemUsage"].split(" / ")
    assert limit == "64MiB" and not usage.startswith("0B"), row
    assert row["PIDs"] in ("2", "3"), row
    assert " / " in row["NetIO"]
    assert " / " in row["BlockIO"]


def test_api_one_shot_and_second_reading(d, busy):
    status, one = d.request("GET", f"/containers/{busy}/stats?stream=0&one-shot=1")
    assert status == 200
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0 and one["preread"].startswith("0001-")
    assert one["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert one["cpu_stats"]["system_cpu_usage"] > 0 and one["cpu_stats"]["online_cpus"] >= 1
    assert one["memory_stats"]["limit"] == 64 * 1024 * 1024 and one["memory_stats"]["usage"] > 0
    assert one["memory_stats"]["stats"], one["memory_stats"]
    assert one["pids_stats"]["current"] >= 2 and one["pids_stats"]["limit"] == 50
    assert set(one["blkio_stats"]) >= {"io_service_bytes_recursive", "io_serviced_recursive"}
    assert one["name"].startswith("/") and one["id"] == busy
    nets = json.loads(docker(d, "inspect", "-f", "{{json .NetworkSettings.Networks}}", busy, check=True).stdout)
    if any(n.get("IPAddress") for n in nets.values()):  # an interface in its namespace: figures per interface
        assert set(one["networks"]["eth0"]) == {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes",
                                                "tx_packets", "tx_errors", "tx_dropped"}
    else:
        assert "networks" not in one
    t0 = time.monotonic()
    status, two = d.request("GET", f"/containers/{busy}/stats?stream=0")
    assert time.monotonic() - t0 >= 0.9
    assert two["precpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert two["cpu_stats"]["cpu_usage"]["total_usage"] > two["precpu_stats"]["cpu_usage"]["total_usage"]
    status, body = d.request("GET", f"/containers/{busy}/stats?stream=1&one-shot=1")
    assert status == 400


def test_api_stream_sends_a_sample_a_second(d, busy):
    conn = UnixHTTPConnection(d.socket, timeout=10)
    try:
        conn.request("GET", f"/containers/{busy}/stats")
        resp = conn.getresponse()
        t0 = time.monotonic()
        samples = [json.loads(resp.readline()) for _ in range(3)]
        assert 1.5 < time.monotonic() - t0 < 4
        assert samples[2]["preread"] == samples[1]["read"]
        assert samples[2]["precpu_stats"] == samples[1]["cpu_stats"]
    finally:
        conn.close()


def test_docker_py_and_stopped_container(d):
    client = dockerpy.DockerClient(base_url=d.docker_host)
    try:
        c = client.containers.create("busybox", ["true"])
        s = c.stats(stream=False)
        assert s["id"] == c.id and s["memory_stats"] == {} and s["pids_stats"] == {}
        c.remove()
    finally:
        client.close()


def test_cli_streaming_refreshes(d, busy):
    proc = subprocess.Popen(["docker", "stats", "--format", "{{.Container}} {{.CPUPerc}} {{.PIDs}}", busy[:12]],
                            env=d.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = proc.communicate(timeout=4)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    rows = [line for line in out.replace("\x1b[2J", "\n").replace("\x1b[H", "\n").splitlines()
            if line.startswith(busy[:12])]
    assert len(rows) >= 2, out
    assert float(rows[-1].split()[1].rstrip("%")) > 5.0
