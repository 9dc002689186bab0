"""Healthchecks with the real docker CLI and docker-py: State.Health, ps STATUS, events, timeouts."""

from __future__ import annotations

import json
import os
import time

import docker as dockerpy
import pytest

from tests.support.daemon import docker, wait_for


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def health(d, ref):
    return json.loads(docker(d, "inspect", "--format", "{{json .State.Health}}", ref, check=True).stdout)




def test_failing_check_turns_unhealthy_with_log_and_event(d):
    t0 = time.time()
    cid = docker(d, "run", "-d", "--health-cmd", "echo hi; exit 1", "--health-interval", "100ms",
                 "--health-retries", "2", "busybox", "sleep", "1000", check=True).stdout.strip()
    h = wait_for(lambda: (h := health(d, cid))["Status"] == "unhealthy" and h)
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 1 and h["Log"][-1]["Output"] == "hi\n"
    wait_for(lambda: len(health(d, cid)["Log"]) == 5)
    time.sleep(0.3)
    assert len(health(d, cid)["Log"]) == 5  # only the last five are kept
    ps = docker(d, "ps", "--filter", f"id={cid}", "--format", "{{.Status}}", check=True).stdout.strip()
    assert ps.endswith("(unhealthy)"), ps
    listed = docker(d, "ps", "-q", "--no-trunc", "--filter", "health=unhealthy", check=True).stdout.split()
    assert cid in listed
    out = docker(d, "events", "--since", f"{t0:.3f}", "--until", f"{time.time():.3f}", "--filter",
                 f"container={cid}", "--filter", "event=health_status", "--format", "{{.Action}}",
                 check=True).stdout.split("\n")
    assert out[0] == "health_status: unhealthy"
    docker(d, "stop", "-t", "0", cid, check=True)
    assert health(d, cid)["Status"] == "unhealthy"  # kept after the stop, as dockerd
    docker(d, "rm", cid, check=True)


def test_passing_check_is_healthy_in_ps_and_docker_py(d):
    client = dockerpy.DockerClient(base_url=d.docker_host)
    try:
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True,
                                  healthcheck={"test": ["CMD", "true"], "interval": 100_000_000})
        c.reload()
        assert c.attrs["State"]["Health"]["Status"] in ("starting", "healthy")
        wait_for(lambda: c.reload() or c.attrs["State"]["Health"]["Status"] == "healthy")
        assert c.attrs["State"]["Health"]["FailingStreak"] == 0
        ps = docker(d, "ps", "--filter", f"id={c.id}", "--format", "{{.Status}}", check=True).stdout.strip()
        assert ps.endswith("(healthy)"), ps
        assert c.id in [x.id for x in client.containers.list(filters={"health": "healthy"})]
        c.remove(force=True)
    finally:
        client.close()


def test_check_outliving_its_timeout_is_killed(d):
    cid = docker(d, "run", "-d", "--health-cmd", "sleep 7", "--health-interval", "100ms",
                 "--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "1000",
                 check=True).stdout.strip()
    h = wait_for(lambda: (h := health(d, cid))["Status"] == "unhealthy" and h)
    assert h["Log"][0]["ExitCode"] == -1
    assert h["Log"][0]["Output"] == "Health check exceeded timeout (300ms)"
    time.sleep(0.5)
    procs = docker(d, "exec", cid, "ps", "-o", "args", check=True).stdout
    assert procs.count("sleep 7") <= 1, procs  # at most the probe in flight right now
    docker(d, "rm", "-f", cid, check=True)


def test_start_period_does_not_count_failures(d):
    cid = docker(d, "run", "-d", "--health-cmd", "exit 1", "--health-interval", "30s",
                 "--health-start-period", "20s", "--health-start-interval", "100ms", "--health-retries", "1",
                 "busybox", "sleep", "1000", check=True).stdout.strip()
    h = wait_for(lambda: (h := health(d, cid))["Log"] and len(h["Log"]) >= 3 and h)
    assert h["Status"] == "starting" and h["FailingStreak"] == 0
    ps = docker(d, "ps", "--filter", f"id={cid}", "--format", "{{.Status}}", check=True).stdout.strip()
    assert ps.endswith("(health: starting)"), ps
    docker(d, "rm", "-f", cid, check=True)


def test_image_healthcheck_and_no_healthcheck(d, busybox_tar):
    docker(d, "import", "--change", 'HEALTHCHECK --interval=100ms CMD ["true"]', str(busybox_tar),
           "bbhealth:1", check=True)
    cid = docker(d, "run", "-d", "bbhealth:1", "sleep", "1000", check=True).stdout.strip()
    wait_for(lambda: health(d, cid)["Status"] == "healthy")
    off = docker(d, "run", "-d", "--no-healthcheck", "bbhealth:1", "sleep", "1000", check=True).stdout.strip()
    info = json.loads(docker(d, "inspect", off, check=True).stdout)[0]
    assert "Health" not in info["State"]
    assert info["Config"]["Healthcheck"]["Test"] == ["NONE"]
    docker(d, "rm", "-f", cid, off, check=True)
    docker(d, "rmi", "bbhealth:1", check=True)


def test_bad_healthcheck_durations_are_refused(d):
    status, body = d.request("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000}})
    assert status == 400 and body["message"] == "Interval in Healthcheck cannot be less than 1ms"
    status, body = d.request("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}})
    assert status == 400 and body["message"] == "Retries in Healthcheck cannot be negative"


@pytest.mark.skipif(not os.path.exists("/usr/bin/crun"), reason="crun is not installed")
def test_healthcheck_with_crun(d):
    """With another OCI runtime the probes run through its exec (under conmon)."""
    cid = docker(d, "run", "-d", "--runtime", "crun", "--health-cmd", "echo ok", "--health-interval", "200ms",
                 "busybox", "sleep", "1000", check=True).stdout.strip()
    h = wait_for(lambda: (h := health(d, cid))["Status"] == "healthy" and h)
    assert h["Log"][-1]["Output"] == "ok\n" and h["Log"][-1]["ExitCode"] == 0
    docker(d, "rm", "-f", cid, check=True)
