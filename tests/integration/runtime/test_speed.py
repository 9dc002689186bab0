"""The runtime's speed-ups change nothing a container or the host can see."""

from __future__ import annotations

import os
import subprocess
import uuid

from dockyard.runtime.native import cgroups


def test_warm_attach_moves_no_process_and_the_real_attach_still_works():
    """The probe re-attaches the runtime to the cgroup it is in; the container's attach is unchanged."""
    cg = cgroups.new_manager(None, "dytest-" + uuid.uuid4().hex[:10])
    cg.create()
    child = subprocess.Popen(["sleep", "30"])
    try:
        with open("/proc/self/cgroup") as f:
            before = f.read()
        probe = cg._own_procs_file()
        assert probe and os.path.isfile(probe)
        with open(probe) as f:
            assert str(os.getpid()) in f.read().split()  # the probe targets the cgroup we are in
        cg.warm_attach()
        cg.apply(child.pid)
        with open("/proc/self/cgroup") as f:
            assert f.read() == before
        pids = cg.pids()
        assert child.pid in pids and os.getpid() not in pids
    finally:
        child.kill()
        child.wait()
        cg.destroy()
    assert not cg.exists()


def test_the_v2_probe_targets_the_cgroup_we_are_in():
    """On the hybrid layout's unified hierarchy: the v2 manager finds this process's own cgroup."""
    from dockyard.runtime.native.cgroups.v2 import V2Manager

    unified = "/sys/fs/cgroup/unified"
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        unified = "/sys/fs/cgroup"
    probe = V2Manager("/dytest-unused", root=unified)._own_procs_file()
    assert probe is not None and probe.startswith(unified + "/")
    with open(probe) as f:
        assert str(os.getpid()) in f.read().split()


def test_destroy_removes_sub_cgroups_too():
    """The one-rmdir fast path falls back to the bottom-up walk when sub-cgroups exist (EBUSY)."""
    cg = cgroups.new_manager(None, "dytest-" + uuid.uuid4().hex[:10])
    cg.create()
    try:
        first = next(iter(cg.paths().values()))
        os.makedirs(os.path.join(first, "child", "grandchild"))
        cg.destroy()
        assert not cg.exists()
    finally:
        for d in cg.paths().values():
            for sub in ("child/grandchild", "child", ""):
                try:
                    os.rmdir(os.path.join(d, sub) if sub else d)
                except OSError:
                    pass


def test_destroy_of_a_gone_cgroup_is_quiet():
    cg = cgroups.new_manager(None, "dytest-" + uuid.uuid4().hex[:10])
    cg.destroy()
    assert not cg.exists()


def test_init_is_pid_1_in_its_cgroup_before_start_and_runtime_hooks_stay_in_the_hosts_pid_ns(
        rt, make_bundle, tmp_path):
    """The runtime forks the init into a new pid ns itself and the init moves itself into its cgroup.

    The hooks the runtime runs (prestart, createRuntime) must still see the host's pid
    namespace: the runtime returns to its own right after the fork.
    """
    log = tmp_path / "ns.log"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\nreadlink /proc/self/ns/pid >> {log}\n")
    script.chmod(0o755)
    hooks = {kind: [{"path": str(script)}] for kind in ("prestart", "createRuntime")}
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"], hooks=hooks)), cid)
    pid = rt.state(cid)["pid"]
    host_ns = os.readlink("/proc/self/ns/pid")
    assert log.read_text().split() == [host_ns, host_ns]
    assert os.readlink(f"/proc/{pid}/ns/pid") != host_ns
    with open(f"/proc/{pid}/status") as f:
        nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
    assert nspid == [str(pid), "1"]
    _assert_in_its_cgroup(pid, cid)
    rt.cmd("delete", "--force", cid)


def _assert_in_its_cgroup(pid: int, cid: str) -> None:
    with open(f"/proc/{pid}/cgroup") as f:
        where = {c: path for line in f for c in line.split(":")[1].split(",")
                 for path in [line.rstrip("\n").split(":", 2)[2]]}
    controllers = cgroups.new_manager(None, cid).paths()
    assert controllers and all(where.get(c) == f"/dockyard/{cid}" for c in controllers), where


def test_a_user_namespaced_init_is_born_in_its_cgroup(rt, make_bundle, public_tmp, busybox_rootfs_template):
    """With a user namespace stage1 moves itself into the cgroup before entering it; the init inherits."""
    import json
    import shutil

    b = make_bundle(["sleep", "30"])
    shutil.copytree(busybox_rootfs_template, public_tmp / "rootfs", symlinks=True)
    spec = json.loads((b / "config.json").read_text())
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["mounts"] = [m for m in spec["mounts"] if m["type"] != "cgroup"]
    spec["root"] = {"path": str(public_tmp / "rootfs"), "readonly": True}
    (b / "config.json").write_text(json.dumps(spec))
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    pid = rt.state(cid)["pid"]
    _assert_in_its_cgroup(pid, cid)
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    rt.cmd("delete", "--force", cid)


def test_namespaces_joined_by_path_without_a_user_namespace(rt, make_bundle, tmp_path):
    """The runtime forks the init into a pid namespace given by path; the init joins the net ns."""
    import json
    import time

    holder = subprocess.Popen(["unshare", "--pid", "--net", "--fork", "--kill-child", "sleep", "60"])
    try:
        children = f"/proc/{holder.pid}/task/{holder.pid}/children"
        deadline = time.monotonic() + 20
        while not open(children).read().split():
            assert time.monotonic() < deadline, "unshare did not fork"
            time.sleep(0.02)
        inner = int(open(children).read().split()[0])
        log = tmp_path / "ns.log"
        script = tmp_path / "hook.sh"
        script.write_text(f"#!/bin/sh\nreadlink /proc/self/ns/pid >> {log}\n")
        script.chmod(0o755)
        b = make_bundle(["sleep", "30"], hooks={"createRuntime": [{"path": str(script)}]})
        spec = json.loads((b / "config.json").read_text())
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] not in ("pid", "network")]
        spec["linux"]["namespaces"] += [{"type": "pid", "path": f"/proc/{inner}/ns/pid"},
                                        {"type": "network", "path": f"/proc/{inner}/ns/net"}]
        (b / "config.json").write_text(json.dumps(spec))
        cid = rt.new_id()
        rt.cmd("create", "--bundle", str(b), cid)
        pid = rt.state(cid)["pid"]
        for ns in ("pid", "net"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{inner}/ns/{ns}")
        with open(f"/proc/{pid}/status") as f:
            nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
        assert nspid[0] == str(pid) and len(nspid) == 2 and nspid[1] != "1"  # a member, not PID 1
        assert log.read_text().split() == [os.readlink("/proc/self/ns/pid")]  # the hook stayed on the host
        _assert_in_its_cgroup(pid, cid)
        rt.cmd("delete", "--force", cid)
    finally:
        holder.kill()
        holder.wait()
