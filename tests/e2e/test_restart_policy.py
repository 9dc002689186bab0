"""Restart policies with the real docker CLI and docker-py: back-off, counts, stop, daemon restarts."""

from __future__ import annotations

import json
import os
import signal
import time

import docker as dockerpy
import pytest

from tests.support.daemon import busybox_daemon, docker, wait_for


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


@pytest.fixture(scope="module")
def own(busybox_tar):
    """A daemon of this module's own, for kill -9 and restarts of the daemon."""
    with busybox_daemon(busybox_tar) as dm:
        yield dm


def inspect(d, ref):
    return json.loads(docker(d, "inspect", ref, check=True).stdout)[0]




def events(d, cid, since):
    out = docker(d, "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}", "--filter",
                 f"container={cid}", "--format", "{{json .}}", check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_on_failure_with_max_retries_backs_off_and_counts(d):
    t0 = time.time()
    cid = docker(d, "run", "-d", "--restart", "on-failure:3", "busybox", "sh", "-c", "exit 3",
                 check=True).stdout.strip()
    wait_for(lambda: inspect(d, cid)["RestartCount"] == 3 and inspect(d, cid)["State"]["Status"] == "exited")
    info = inspect(d, cid)
    assert info["State"]["ExitCode"] == 3 and not info["State"]["Restarting"]
    assert info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    evs = events(d, cid, t0)
    actions = [e["Action"] for e in evs if e["Action"] in ("start", "die")]
    assert actions == ["start", "die"] * 4
    assert all(e["Actor"]["Attributes"]["exitCode"] == "3" for e in evs if e["Action"] == "die")
    # the waits between a die and the next start: 100, 200, 400 ms (each start itself takes a little)
    dies = [e["timeNano"] / 1e9 for e in evs if e["Action"] == "die"]
    starts = [e["timeNano"] / 1e9 for e in evs if e["Action"] == "start"][1:]
    gaps = [s - dd for dd, s in zip(dies, starts)]
    for gap, want in zip(gaps, (0.1, 0.2, 0.4)):
        assert want <= gap < want + 1.0, gaps
    # dockyard's own record of each restart: how late it began after its due time
    late = [float(e["Actor"]["Attributes"]["dockyard.start.restartLateMs"]) for e in evs if e["Action"] == "start"
            and "dockyard.start.restartLateMs" in e["Actor"]["Attributes"]]
    assert len(late) == 3 and all(0 <= v < 250 for v in late), late
    docker(d, "rm", cid, check=True)


def test_on_failure_leaves_a_clean_exit_alone(d):
    cid = docker(d, "run", "-d", "--restart", "on-failure", "busybox", "true", check=True).stdout.strip()
    assert docker(d, "wait", cid).stdout.strip() == "0"
    time.sleep(0.3)
    info = inspect(d, cid)
    assert info["State"]["Status"] == "exited" and info["RestartCount"] == 0
    docker(d, "rm", cid, check=True)


def test_always_restarts_a_killed_process_and_stop_ends_the_loop(d):
    cid = docker(d, "run", "-d", "--restart", "always", "busybox", "sleep", "1000", check=True).stdout.strip()
    pid = inspect(d, cid)["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)  # from outside: not a manual stop
    info = wait_for(lambda: (i := inspect(d, cid))["RestartCount"] == 1 and i["State"]["Running"]
                    and i["State"]["Pid"] not in (0, pid) and i)
    assert info["State"]["Status"] == "running"
    assert docker(d, "stop", "-t", "1", cid).returncode == 0
    time.sleep(0.4)
    info = inspect(d, cid)
    assert info["State"]["Status"] == "exited" and info["RestartCount"] == 1
    # docker start begins a new loop: the count starts again
    docker(d, "start", cid, check=True)
    assert inspect(d, cid)["RestartCount"] == 0
    docker(d, "kill", cid, check=True)  # a kill by the user is a manual stop too (dockerd)
    time.sleep(0.4)
    assert inspect(d, cid)["State"]["Status"] == "exited"
    docker(d, "rm", cid, check=True)


def test_restarting_state_shows_in_ps_and_stop_cancels_it(d):
    cid = docker(d, "run", "-d", "--restart", "always", "busybox", "sh", "-c", "exit 2",
                 check=True).stdout.strip()
    # after a few fast failures the delay is long enough to look at the restarting state
    info = wait_for(lambda: (i := inspect(d, cid))["RestartCount"] >= 4 and i["State"]["Restarting"] and i)
    assert info["State"]["Running"] is True and info["State"]["Pid"] == 0
    assert info["State"]["Status"] == "restarting"
    ps = docker(d, "ps", "--filter", f"id={cid}", "--format", "{{.Status}}", check=True).stdout
    assert ps.startswith("Restarting (2)")
    rm = docker(d, "rm", cid)
    assert rm.returncode != 0 and "container is restarting" in rm.stderr
    docker(d, "stop", cid, check=True)
    info = inspect(d, cid)
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 2
    count = info["RestartCount"]
    time.sleep(2)
    assert inspect(d, cid)["RestartCount"] == count
    docker(d, "rm", cid, check=True)


def test_restart_with_rm_is_refused(d):
    p = docker(d, "run", "--rm", "--restart", "always", "busybox", "true")
    assert p.returncode != 0 and "--restart and --rm" in p.stderr
    client = dockerpy.DockerClient(base_url=d.docker_host)
    try:
        with pytest.raises(dockerpy.errors.APIError) as exc:
            client.containers.create("busybox", "true", auto_remove=True, restart_policy={"Name": "always"})
        assert exc.value.status_code == 400
        assert "can't create 'AutoRemove' container with restart policy" in str(exc.value)
    finally:
        client.close()


def test_docker_py_restart_policy(d):
    client = dockerpy.DockerClient(base_url=d.docker_host)
    try:
        c = client.containers.run("busybox", ["sh", "-c", "exit 1"], detach=True,
                                  restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})
        wait_for(lambda: c.reload() or (c.attrs["RestartCount"] == 1 and c.status == "exited"))
        c.remove()
    finally:
        client.close()


def test_daemon_killed_while_a_restart_is_pending(own):
    cid = docker(own, "run", "-d", "--restart", "always", "busybox", "sh", "-c", "exit 5",
                 check=True).stdout.strip()
    wait_for(lambda: (i := inspect(own, cid))["RestartCount"] >= 4 and i["State"]["Restarting"])
    own.crash()
    t0 = time.time()
    own.start()
    # dockerd starts it at once and begins a new loop (RestartCount from 0)
    wait_for(lambda: [e for e in events(own, cid, t0) if e["Action"] == "start"])
    info = wait_for(lambda: (i := inspect(own, cid))["RestartCount"] >= 1 and i)
    assert info["RestartCount"] < 4
    docker(own, "stop", cid, check=True)
    docker(own, "rm", cid, check=True)


def test_container_killed_while_the_daemon_is_down(own):
    cid = docker(own, "run", "-d", "--restart", "always", "busybox", "sleep", "1000", check=True).stdout.strip()
    pid = inspect(own, cid)["State"]["Pid"]
    own.crash()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    own.start()
    info = wait_for(lambda: (i := inspect(own, cid))["State"]["Status"] == "running" and i)
    assert info["RestartCount"] == 0 and info["State"]["Pid"] != pid
    docker(own, "rm", "-f", cid, check=True)


def test_daemon_start_brings_back_always_but_not_a_stopped_unless_stopped(own):
    always = docker(own, "run", "-d", "--restart", "always", "busybox", "sleep", "1000", check=True).stdout.strip()
    unless = docker(own, "run", "-d", "--restart", "unless-stopped", "busybox", "sleep", "1000",
                    check=True).stdout.strip()
    unless_up = docker(own, "run", "-d", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 0.5",
                       check=True).stdout.strip()
    never = docker(own, "run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
    docker(own, "stop", "-t", "0", always, unless, never, check=True)
    own.stop()
    own.start()
    wait_for(lambda: inspect(own, always)["State"]["Status"] == "running")
    try:
        wait_for(lambda: inspect(own, unless_up)["RestartCount"] >= 1)
    except AssertionError:
        raise AssertionError(f"{inspect(own, unless_up)['State']}\n{own.log()}") from None
    assert inspect(own, unless)["State"]["Status"] == "exited"
    assert inspect(own, never)["State"]["Status"] == "exited"
    docker(own, "rm", "-f", always, unless, unless_up, never, check=True)


def test_stop_while_a_restart_is_starting_ends_the_loop(d):
    """A stop that lands while a restart's start is under way waits for it and stops what it started.

    It used to end the loop on the record only, and the start under way ran the container again
    after the stop had returned (`docker rm` then: "container is running")."""
    import random

    rng = random.Random(7)
    for _ in range(20):
        cid = docker(d, "run", "-d", "--restart", "always", "busybox", "sh", "-c", "exit 5",
                     check=True).stdout.strip()
        time.sleep(rng.uniform(0.05, 0.5))  # somewhere in the first back-offs (100, 200, 400 ms)
        docker(d, "stop", "-t", "1", cid, check=True)
        state = inspect(d, cid)["State"]
        assert not state["Running"] and not state["Restarting"], state
        docker(d, "rm", cid, check=True)
