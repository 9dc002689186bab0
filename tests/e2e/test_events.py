"""docker events: every container state change in dockerd's shape, with --since/--until and filters."""

from __future__ import annotations

import json
import time
import urllib.parse

import docker as dockerpy
import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def events(d, since, *filters):
    args = ["events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}", "--format", "{{json .}}"]
    for f in filters:
        args += ["--filter", f]
    return [json.loads(line) for line in docker(d, *args, check=True).stdout.splitlines()]


def test_lifecycle_events_in_dockerds_shape(d):
    t0 = time.time()
    cid = docker(d, "run", "-d", "--name", "evweb", "--label", "tier=front", "busybox", "sleep", "1000",
                 check=True).stdout.strip()
    docker(d, "exec", cid, "true", check=True)
    docker(d, "pause", cid, check=True)
    docker(d, "unpause", cid, check=True)
    docker(d, "update", "--pids-limit", "30", cid, check=True)
    docker(d, "rename", "evweb", "evweb2", check=True)
    docker(d, "kill", "-s", "KILL", cid, check=True)
    docker(d, "wait", cid, check=True)
    docker(d, "start", cid, check=True)
    docker(d, "restart", "-t", "0", cid, check=True)
    docker(d, "stop", "-t", "0", cid, check=True)
    docker(d, "rm", cid, check=True)
    evs = events(d, t0, f"container={cid[:12]}")
    actions = [e["Action"] for e in evs]
    expected = ["create", "start", "exec_create: true ", "exec_start: true ", "exec_die", "pause", "unpause",
                "update", "rename", "kill", "die", "start", "kill", "kill", "die", "stop", "start", "restart",
                "kill", "kill", "die", "stop", "destroy"]
    assert [a for a in actions if a != "attach"] == expected, " ".join(actions)
    by = {e["Action"]: e for e in evs}
    kills = [e["Actor"]["Attributes"]["signal"] for e in evs if e["Action"] == "kill"]
    assert kills == ["9", "15", "9", "15", "9"]  # docker kill, then each stop: TERM, and KILL at its timeout
    die = [e for e in evs if e["Action"] == "die"][0]
    assert die["Actor"]["Attributes"]["exitCode"] == "137" and "execDuration" in die["Actor"]["Attributes"]
    assert by["rename"]["Actor"]["Attributes"]["oldName"] == "/evweb"
    assert by["exec_die"]["Actor"]["Attributes"]["exitCode"] == "0"
    create = by["create"]
    assert create["status"] == "create" and create["id"] == cid and create["from"] == "busybox"
    assert create["Type"] == "container" and create["scope"] == "local" and create["timeNano"] > t0 * 1e9
    assert create["Actor"]["Attributes"] == {"image": "busybox", "name": "evweb", "tier": "front"}
    # filters: event, label, image, type; and --until bounding the replay
    assert [e["Action"] for e in events(d, t0, f"container={cid}", "event=die")] == ["die"] * 3
    assert len(events(d, t0, "label=tier=front", "event=create")) == 1
    assert events(d, t0, "label=tier=back") == []
    assert len(events(d, t0, "image=busybox", f"container={cid}", "event=destroy")) == 1
    assert events(d, t0, "type=image", f"container={cid}") == []


def test_until_alone_and_bad_filter(d):
    t0 = time.time()
    cid = docker(d, "create", "busybox", "true", check=True).stdout.strip()
    docker(d, "rm", cid, check=True)
    client = dockerpy.APIClient(base_url=d.docker_host)
    try:
        evs = list(client.events(until=time.time() + 0.5, decode=True, filters={"container": cid}))
        assert [e["Action"] for e in evs] == ["create", "destroy"]
        status, body = d.request("GET", "/events?filters=" + urllib.parse.quote(json.dumps({"bogus": {"x": True}})))
        assert status == 400 and body["message"] == "invalid filter 'bogus'"
    finally:
        client.close()
    assert time.time() - t0 < 10


def test_oom_event_and_state(d):
    t0 = time.time()
    p = docker(d, "run", "-d", "-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
               "head -c 64m /dev/zero | tail")
    cid = p.stdout.strip()
    docker(d, "wait", cid, check=True)
    info = json.loads(docker(d, "inspect", cid, check=True).stdout)[0]
    assert info["State"]["OOMKilled"] is True, info["State"]
    assert [e["Action"] for e in events(d, t0, f"container={cid}", "event=oom")] == ["oom"]
    docker(d, "rm", cid, check=True)
