"""The OCI lifecycle through dockyard-runtime's runc-compatible commands."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from .conftest import cgroup_exists
from tests.support import probes

pytestmark = pytest.mark.timeout(120)


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_create_blocks_until_start_then_delete_cleans_up(rt, make_bundle, tmp_path):
    marker = tmp_path / "out"
    b = make_bundle(["sh", "-c", "echo started; sleep 60"])
    cid = rt.new_id()
    pid_file = tmp_path / "pid"
    with open(marker, "w") as out:
        rt.cmd("create", "--bundle", str(b), "--pid-file", str(pid_file), cid, stdout=out, stderr=out,
               capture_output=False)
    pid = int(pid_file.read_text())
    state = rt.state(cid)
    assert state["status"] == "created" and state["pid"] == pid and state["id"] == cid
    assert state["bundle"] == str(b)
    time.sleep(0.2)
    assert marker.read_text() == ""  # the user program has not run yet
    assert cgroup_exists(cid)
    rt.cmd("start", cid)
    _wait_for(lambda: "started" in marker.read_text())
    assert rt.state(cid)["status"] == "running"
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    assert rt.cmd("start", cid, check=False).returncode != 0  # not "created" any more
    busy = rt.cmd("delete", cid, check=False)
    assert busy.returncode != 0 and "not stopped" in busy.stderr
    listed = rt.cmd("list", "--format", "json").stdout
    assert any(s["id"] == cid for s in json.loads(listed))
    assert rt.cmd("ps", "--format", "json", cid).stdout.strip() == f"[{pid}]"
    rt.cmd("kill", cid, "KILL")  # PID 1 ignores SIGTERM without a handler
    _wait_for(lambda: rt.state(cid)["status"] == "stopped")
    rt.cmd("delete", cid)
    assert not (rt.root / cid).exists()
    assert not cgroup_exists(cid)
    gone = rt.cmd("state", cid, check=False)
    assert gone.returncode != 0 and "does not exist" in gone.stderr


def test_delete_force_kills_a_running_container(rt, make_bundle):
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"])), cid)
    rt.cmd("start", cid)
    pid = rt.state(cid)["pid"]
    rt.cmd("delete", "--force", cid)
    assert not os.path.exists(f"/proc/{pid}/cmdline") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not cgroup_exists(cid)


def test_pause_and_resume(rt, make_bundle):
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"])), cid)
    rt.cmd("start", cid)
    rt.cmd("pause", cid)
    assert rt.state(cid)["status"] == "paused"
    pid = rt.state(cid)["pid"]
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().split()[2] in ("D", "S")  # frozen tasks sleep in the freezer
    rt.cmd("resume", cid)
    assert rt.state(cid)["status"] == "running"
    rt.cmd("delete", "--force", cid)


def test_update_resources(rt, make_bundle, tmp_path):
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"])), cid)
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"pids": {"limit": 42}}))
    rt.cmd("update", "--resources", str(res), cid)
    with open(probes.cgroup_dir("pids", f"/dockyard/{cid}") + "/pids.max") as f:
        assert f.read().strip() == "42"
    rt.cmd("delete", "--force", cid)


def test_exec_into_running_container(rt, make_bundle, tmp_path):
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"], hostname="exechost")), cid)
    rt.cmd("start", cid)
    p = rt.cmd("exec", cid, "sh", "-c", "hostname; echo $$; tr -d '\\0' < /proc/1/cmdline; echo; ls /proc/self/fd")
    lines = p.stdout.split()
    assert lines[0] == "exechost"
    assert lines[1] != "1"
    assert lines[2] == "sleep60"
    assert lines[3:] == ["0", "1", "2", "3"]
    assert rt.cmd("exec", cid, "sh", "-c", "exit 5", check=False).returncode == 5
    proc = {"args": ["id", "-u"], "cwd": "/", "user": {"uid": 1000, "gid": 1000},
            "env": ["PATH=/bin:/usr/bin"]}
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps(proc))
    assert rt.cmd("exec", "--process", str(pf), cid).stdout.strip() == "1000"
    pid_file = tmp_path / "exec.pid"
    rt.cmd("exec", "--detach", "--pid-file", str(pid_file), cid, "sleep", "30")
    epid = int(pid_file.read_text())
    assert epid in json.loads(rt.cmd("ps", "--format", "json", cid).stdout)
    missing = rt.cmd("exec", cid, "nonexistent-cmd", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
    rt.cmd("delete", "--force", cid)


def test_hooks_run_in_order_with_state(rt, make_bundle, tmp_path):
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\nread -r state\necho \"$1 $state\" >> {log}\n")
    script.chmod(0o755)
    hooks = {name: [{"path": str(script), "args": ["hook.sh", name]}]
             for name in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"], hooks=hooks)), cid)
    rt.cmd("start", cid)
    rt.cmd("delete", "--force", cid)
    entries = [line.split(" ", 1) for line in log.read_text().splitlines()]
    assert [e[0] for e in entries] == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    state = json.loads(entries[0][1])
    assert state["id"] == cid and state["pid"] > 0


def test_failing_hook_fails_create_and_leaves_nothing(rt, make_bundle):
    hooks = {"createRuntime": [{"path": "/bin/false"}]}
    cid = rt.new_id()
    p = rt.cmd("create", "--bundle", str(make_bundle(["true"], hooks=hooks)), cid, check=False)
    assert p.returncode != 0 and "createRuntime hook" in p.stderr
    assert not (rt.root / cid).exists() and not cgroup_exists(cid)


def test_spec_and_features(rt, tmp_path):
    rt.cmd("spec", "--bundle", str(tmp_path))
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    again = rt.cmd("spec", "--bundle", str(tmp_path), check=False)
    assert again.returncode != 0 and "exists" in again.stderr
    features = json.loads(rt.cmd("features").stdout)
    assert "CAP_SYS_ADMIN" in features["linux"]["capabilities"]
    assert "user" in features["linux"]["namespaces"]


def test_run_detached_and_kill_all(rt, make_bundle):
    cid = rt.new_id()
    rt.cmd("run", "--detach", "--bundle", str(make_bundle(["sh", "-c", "sleep 60 & sleep 60"])), cid)
    assert rt.state(cid)["status"] == "running"
    pids = json.loads(rt.cmd("ps", "--format", "json", cid).stdout)
    assert len(pids) == 2
    rt.cmd("kill", "--all", cid, "KILL")
    _wait_for(lambda: rt.state(cid)["status"] == "stopped")
    rt.cmd("delete", cid)


def test_namespace_joined_by_path(rt, make_bundle):
    holder = subprocess.Popen(["unshare", "--uts", "sh", "-c", "hostname joined-ns; exec sleep 60"])
    try:
        ns = f"/proc/{holder.pid}/ns/uts"
        _wait_for(lambda: os.readlink(ns) != os.readlink("/proc/self/ns/uts")
                  and open(f"/proc/{holder.pid}/comm").read().strip() == "sleep")
        b = make_bundle(["hostname"])
        spec = json.loads((b / "config.json").read_text())
        spec.pop("hostname", None)
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "uts"]
        spec["linux"]["namespaces"].append({"type": "uts", "path": f"/proc/{holder.pid}/ns/uts"})
        (b / "config.json").write_text(json.dumps(spec))
        p = rt.run(b)
        assert p.stdout.strip() == "joined-ns", p.stderr
    finally:
        holder.kill()
        holder.wait()


def test_preserve_fds_passes_exactly_the_listed_fds(rt, make_bundle):
    r, w = os.pipe()
    extra_r, extra_w = os.pipe()

    def child_fds() -> None:  # in the runtime's process only: fd 3 and 4 of pytest stay untouched
        os.dup2(w, 3)
        os.dup2(extra_w, 4)  # beyond --preserve-fds 1: must not arrive

    try:
        b = make_bundle(["sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd | tr '\\n' ' '"])
        p = rt.cmd("run", "--preserve-fds", "1", "--bundle", str(b), rt.new_id(), pass_fds=(3, 4),
                   preexec_fn=child_fds)
    finally:
        os.close(w)
        os.close(extra_w)
    assert os.read(r, 100) == b"via-fd3\n"
    os.close(r)
    os.close(extra_r)
    assert p.stdout.split() == ["0", "1", "2", "3", "4"]  # 4 is ls's own directory fd


def test_run_forwards_signals_to_the_container(rt, make_bundle):
    cid = rt.new_id()
    b = make_bundle(["sh", "-c", "trap 'echo got-term; exit 42' TERM; echo trapped; "
                                 "while true; do sleep 0.1; done"])
    proc = subprocess.Popen([rt.binary, "--root", str(rt.root), "run", "--bundle", str(b), cid],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "trapped\n"  # the trap is in place
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 42 and "got-term" in out
    finally:
        proc.kill()
        proc.wait()
