"""The daemon as a process: start-up, flags, SIGTERM, and surviving its own crash."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.support.daemon import docker, new_daemon


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_starts_fast_and_stops_on_sigterm():
    d = new_daemon()
    try:
        d.start()
        # start-up cost as the daemon's own CPU time (imports, state, listeners): unlike wall
        # time it does not grow when other tests load the machine
        assert _cpu_seconds(d.proc.pid) < 1.5
        status, body = d.request("GET", "/v1.24/version")
        assert status == 200 and body["ApiVersion"] == "1.50"
        assert oct(os.stat(d.socket).st_mode & 0o777) == "0o660"
        d.stop(signal.SIGTERM)
        assert d.proc.returncode == 0
        assert not os.path.exists(d.socket)
    finally:
        d.cleanup()


def test_api_versions_and_errors():
    d = new_daemon()
    try:
        d.start()
        assert d.request("GET", "/v1.99/version")[0] == 400
        status, body = d.request("GET", "/v1.12/version")
        assert status == 400 and "too old" in body["message"]
        status, body = d.request("GET", "/containers/nope/json")
        assert status == 404 and body["message"] == "No such container: nope"
        status, body = d.request("GET", "/no/such/route")
        assert status == 404
    finally:
        d.cleanup()


def test_bad_daemon_json_is_refused(tmp_path):
    d = new_daemon(config={"no-such-key": 1})
    try:
        with pytest.raises(RuntimeError) as exc:
            d.start()
        assert "no-such-key" in str(exc.value)
    finally:
        d.cleanup()


def test_containers_survive_daemon_crash(fresh):
    d = fresh
    runner = docker(d, "run", "-d", "busybox", "sh", "-c",
                    "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done").stdout.strip()
    quitter = docker(d, "run", "-d", "busybox", "sh", "-c", "sleep 1; echo bye; exit 42").stdout.strip()
    pid_before = json.loads(docker(d, "inspect", runner).stdout)[0]["State"]["Pid"]
    d.crash()
    time.sleep(2)  # the quitter exits while the daemon is down; the runner keeps logging
    assert os.path.exists(f"/proc/{pid_before}")
    d.start()
    state = json.loads(docker(d, "inspect", runner).stdout)[0]["State"]
    assert state["Running"] and state["Pid"] == pid_before
    q = json.loads(docker(d, "inspect", quitter).stdout)[0]["State"]
    assert q["Status"] == "exited" and q["ExitCode"] == 42
    assert docker(d, "logs", quitter).stdout == "bye\n"
    lines = docker(d, "logs", runner).stdout.split()
    assert len(lines) >= 30 and lines[:3] == ["line0", "line1", "line2"]
    # the numbering has no hole: nothing written while the daemon was down was lost
    assert lines == [f"line{i}" for i in range(len(lines))]
    docker(d, "stop", "-t", "1", runner, check=True)
    assert json.loads(docker(d, "inspect", runner).stdout)[0]["State"]["Status"] == "exited"
    docker(d, "rm", runner, quitter, check=True)
    assert d.leftovers() == []


def test_failed_start_leaves_nothing(fresh):
    d = fresh
    p = docker(d, "run", "--name", "broken", "busybox", "/does/not/exist")
    assert p.returncode == 127
    st = json.loads(docker(d, "inspect", "broken").stdout)[0]["State"]
    # as dockerd: a container that never started stays "created", with the exit code and error
    assert st["Status"] == "created" and st["ExitCode"] == 127 and "/does/not/exist" in st["Error"]
    assert d.leftovers() == []
    docker(d, "rm", "broken", check=True)


def test_kill_during_creates_leaves_consistent_state(fresh):
    """kill -9 while containers are being created: after a restart every record is whole."""
    import concurrent.futures

    d = fresh
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(docker, d, "create", "busybox", "true") for _ in range(16)]
        # crash once the first record exists, while the other creates are still on their way
        deadline = time.monotonic() + 30
        while not d.request("GET", "/containers/json?all=1")[1]:
            assert time.monotonic() < deadline, "no create finished"
            time.sleep(0.01)
        d.crash()
        for f in futures:
            f.result()
    d.start()
    ids = docker(d, "ps", "-aq", "--no-trunc").stdout.split()
    for cid in ids:
        info = json.loads(docker(d, "inspect", cid).stdout)[0]
        assert info["Id"] == cid and info["State"]["Status"] == "created"
    # every record can start and be removed, and no directory is left without its record
    assert ids, "the record made before the crash is gone"
    assert docker(d, "start", "-a", ids[0]).returncode == 0
    docker(d, "rm", "-f", *ids, check=True)
    assert os.listdir(os.path.join(d.data_root, "containers")) == []
