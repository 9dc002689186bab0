"""Start timing (dockyard only), docker top with ps options, wait conditions, ps --size, -u groups."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def test_start_timing_in_inspect_and_start_event(d):
    t0 = time.time()
    cid = docker(d, "run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
    info = json.loads(docker(d, "inspect", cid, check=True).stdout)[0]
    timing = info["DockyardStart"]
    phases = ("RootfsMs", "NetworkMs", "BundleMs", "RuntimeCreateMs", "AttachMs", "RuntimeStartMs")
    assert all(timing[p] >= 0 for p in phases)
    assert timing["RuntimeCreateMs"] > 0 and timing["TotalMs"] >= sum(timing[p] for p in phases) - 0.01
    out = docker(d, "events", "--since", f"{t0:.3f}", "--until", f"{time.time():.3f}", "--filter",
                 f"container={cid}", "--filter", "event=start", "--format", "{{json .Actor.Attributes}}",
                 check=True).stdout
    attrs = json.loads(out.splitlines()[0])
    assert float(attrs["dockyard.start.runtimeCreateMs"]) == timing["RuntimeCreateMs"]
    docker(d, "rm", "-f", cid, check=True)


def test_top_with_ps_options(d):
    cid = docker(d, "run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
    out = docker(d, "top", cid, "-o", "pid,comm,args", check=True).stdout.splitlines()
    assert out[0].split() == ["PID", "COMMAND", "COMMAND"]
    assert "sleep 1000" in out[1]
    out = docker(d, "top", cid, "aux", check=True).stdout.splitlines()
    assert out[0].split()[:2] == ["USER", "PID"] and "sleep 1000" in out[1]
    docker(d, "rm", "-f", cid, check=True)


def test_wait_next_exit_and_removed(d):
    cid = docker(d, "run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
    result: dict[str, str] = {}

    def waiter(cond: str) -> None:
        p = subprocess.run(["curl", "-s", "--unix-socket", d.socket, "-X", "POST",
                            f"http://x/containers/{cid}/wait?condition={cond}"], capture_output=True, text=True)
        result[cond] = p.stdout

    threads = [threading.Thread(target=waiter, args=(c,)) for c in ("next-exit", "removed")]
    for t in threads:
        t.start()
    time.sleep(0.5)
    assert not result
    docker(d, "kill", cid, check=True)
    threads[0].join(10)
    assert json.loads(result["next-exit"])["StatusCode"] == 137
    assert "removed" not in result
    docker(d, "rm", cid, check=True)
    threads[1].join(10)
    assert json.loads(result["removed"])["StatusCode"] == 137


def test_ps_size(d):
    cid = docker(d, "run", "-d", "busybox", "sh", "-c", "head -c 300000 /dev/zero > /big; sleep 1000",
                 check=True).stdout.strip()
    time.sleep(0.5)
    out = docker(d, "ps", "--size", "--filter", f"id={cid}", "--format", "{{.Size}}", check=True).stdout.strip()
    assert out.startswith("300kB (virtual ") or out.startswith("301kB (virtual "), out
    docker(d, "rm", "-f", cid, check=True)


def test_user_gets_supplementary_groups_from_etc_group(d):
    out = docker(d, "run", "--rm", "-u", "nobody", "busybox", "id", check=True).stdout.strip()
    # as dockerd: the primary group leads the supplementary list (this image names 65534 nogroup)
    assert out == "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)", out
    out = docker(d, "run", "--rm", "-u", "123:456", "--group-add", "10", "busybox", "id", check=True).stdout
    assert out.strip() == "uid=123 gid=456 groups=10,456", out
