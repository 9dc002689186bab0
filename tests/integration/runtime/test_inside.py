"""What a process sees from inside a dockyard-runtime container."""

from __future__ import annotations

import json
import os

import pytest
from tests.support import probes

pytestmark = pytest.mark.timeout(120)

DEFAULT_CAPS_MASK = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE, KILL, NET_BIND_SERVICE


def test_pid1_is_the_user_process_and_hostname(rt, make_bundle):
    b = make_bundle(["sh", "-c", "echo pid=$$; hostname; cat /proc/1/cmdline | tr '\\0' ' '"], hostname="boxy")
    p = rt.run(b)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "pid=1"
    assert lines[1] == "boxy"
    assert lines[2].startswith("sh -c")


def test_exit_code_and_signal_exit(rt, make_bundle):
    import subprocess
    import time

    assert rt.run(make_bundle(["sh", "-c", "exit 3"])).returncode == 3
    cid = rt.new_id()
    proc = subprocess.Popen([rt.binary, "--root", str(rt.root), "run", "--bundle",
                             str(make_bundle(["sleep", "60"])), cid], stdin=subprocess.DEVNULL)
    try:
        for _ in range(400):
            done = rt.cmd("state", cid, check=False)
            if done.returncode == 0 and '"running"' in done.stdout:
                break
            time.sleep(0.025)
        rt.cmd("kill", cid, "KILL")
        assert proc.wait(timeout=30) == 137  # killed by signal 9: 128 + 9
    finally:
        proc.kill()
        proc.wait()


def test_mounts_masked_and_readonly_paths(rt, make_bundle):
    script = ("cat /proc/mounts; echo ---; echo keys=$(wc -c < /proc/keys); "
              "echo firmware=$(ls /sys/firmware | wc -l); "
              "(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo sys=RW || echo sys=RO; "
              "touch /newfile 2>/dev/null && echo root=RW || echo root=RO; ls -l /dev/ptmx /dev/null")
    p = rt.run(make_bundle(["sh", "-c", script]))
    assert p.returncode == 0, p.stderr
    mounts, _, rest = p.stdout.partition("---\n")
    by_dest = {line.split()[1]: line.split() for line in mounts.splitlines()}
    assert by_dest["/proc"][2] == "proc"
    assert by_dest["/dev"][2] == "tmpfs"
    assert by_dest["/dev/pts"][2] == "devpts" and "ptmxmode=666" in by_dest["/dev/pts"][3]
    assert by_dest["/dev/mqueue"][2] == "mqueue"
    assert by_dest["/sys"][2] == "sysfs" and by_dest["/sys"][3].startswith("ro")
    if probes.cgroup_v2():
        assert by_dest["/sys/fs/cgroup"][2] == "cgroup2"
    else:
        assert by_dest["/sys/fs/cgroup/memory"][2] == "cgroup"
    assert by_dest["/"][3].startswith("ro")
    assert "keys=0" in rest  # masked: /dev/null bound over it
    assert "firmware=0" in rest  # masked: an empty read-only tmpfs
    assert "sys=RO" in rest and "root=RO" in rest
    assert "-> pts/ptmx" in rest
    assert "1,   3" in rest or "1, 3" in rest


def test_capabilities_and_no_new_privs(rt, make_bundle):
    p = rt.run(make_bundle(["cat", "/proc/self/status"]))
    assert p.returncode == 0, p.stderr
    status = dict(line.split(":\t", 1) for line in p.stdout.splitlines() if ":\t" in line)
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert int(status[key], 16) == DEFAULT_CAPS_MASK, key
    assert int(status["CapInh"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"


def test_user_cwd_env_umask_and_groups(rt, make_bundle):
    b = make_bundle(["sh", "-c", "id; pwd; echo $FOO; umask"],
                    process__user={"uid": 1000, "gid": 1000, "additionalGids": [100], "umask": 0o027},
                    process__cwd="/tmp", process__env=["PATH=/bin:/usr/bin", "FOO=bar"])
    p = rt.run(b)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("uid=1000(app) gid=1000(app)") and "100(users)" in lines[0]
    assert lines[1:] == ["/tmp", "bar", "0027"]


def test_rlimits(rt, make_bundle):
    b = make_bundle(["sh", "-c", "ulimit -n; ulimit -Hn"],
                    process__rlimits=[{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}])
    p = rt.run(b)
    assert p.stdout.split() == ["123", "456"], p.stderr


def test_sysctl_and_oom_score_adj(rt, make_bundle):
    b = make_bundle(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj"],
                    linux__sysctl={"net.ipv4.ip_forward": "1"}, process__oomScoreAdj=123)
    p = rt.run(b)
    assert p.stdout.split() == ["1", "123"], p.stderr


def test_no_stray_fds_and_cwd_inside(rt, make_bundle, tmp_path):
    import os

    leak = os.open(str(tmp_path), os.O_RDONLY)  # an fd the runtime inherits must not reach the container
    try:
        p = rt.run(make_bundle(["sh", "-c", "ls /proc/self/fd; readlink /proc/self/cwd"]),
                   pass_fds=(leak,))
    finally:
        os.close(leak)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines[:-1] == ["0", "1", "2", "3"]  # 3 is ls's own directory fd
    assert lines[-1] == "/"


def test_seccomp_denies_a_syscall_with_eperm(rt, make_bundle):
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [probes.seccomp_arch()],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    b = make_bundle(["sh", "-c", "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?"],
                    linux__seccomp=profile)
    p = rt.run(b)
    assert p.returncode == 0, p.stderr
    assert "Seccomp:\t2" in p.stdout
    assert "Operation not permitted" in p.stdout and "rc=1" in p.stdout


def test_memory_limit_oom_kills(rt, make_bundle):
    mem = 32 * 1024 * 1024
    b = make_bundle(["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"],
                    linux__resources={"memory": {"limit": mem, "swap": mem}})
    p = rt.run(b)
    assert p.returncode == 137, (p.stdout, p.stderr)


def test_pids_limit_stops_a_fork_loop(rt, make_bundle):
    loop = "i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; echo looped"
    limited = rt.run(make_bundle(["sh", "-c", loop], linux__resources={"pids": {"limit": 10}}))
    assert "can't fork" in limited.stderr, (limited.stdout, limited.stderr)
    free = rt.run(make_bundle(["sh", "-c", loop]))
    assert "can't fork" not in free.stderr and "looped" in free.stdout


def test_user_namespace_maps_root_to_unprivileged_uid(rt, make_bundle, busybox_rootfs_template, public_tmp):
    import json
    import shutil

    b = make_bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; sleep 30"])
    # the mapped root (host uid 100000) must be able to reach the rootfs: not under pytest's 0700 tmp
    public = str(public_tmp)
    shutil.copytree(busybox_rootfs_template, public + "/rootfs", symlinks=True)

    spec = json.loads((b / "config.json").read_text())
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["mounts"] = [m for m in spec["mounts"] if m["type"] != "cgroup"]
    spec["root"] = {"path": public + "/rootfs", "readonly": True}
    (b / "config.json").write_text(json.dumps(spec))
    cid = rt.new_id()
    out = b / "out"
    with open(out, "w") as f:
        rt.cmd("create", "--bundle", str(b), cid, stdout=f, stderr=f, capture_output=False)
    pid = rt.state(cid)["pid"]
    rt.cmd("start", cid)
    in_exec = rt.cmd("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert in_exec.stdout.split() == ["0", "0", "100000", "65536"]
    import time

    for _ in range(200):
        if len(out.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    with open(f"/proc/{pid}/status") as f:
        uid_line = next(line for line in f if line.startswith("Uid:"))
    rt.cmd("delete", "--force", cid)
    lines = out.read_text().split()
    assert lines[0] == "0"
    assert lines[1:4] == ["0", "100000", "65536"]
    assert uid_line.split()[1] == "100000"


def test_bind_mount_read_only_and_custom_device(rt, make_bundle, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("from-host\n")
    b = make_bundle(["sh", "-c", "cat /data/hello.txt; touch /data/x 2>/dev/null && echo RW || echo RO; "
                                 "grep ' /data ' /proc/mounts; ls -l /dev/mydev"],
                    linux__devices=[{"path": "/dev/mydev", "type": "c", "major": 1, "minor": 5,
                                     "fileMode": 0o640, "uid": 0, "gid": 0}])
    spec = json.loads((b / "config.json").read_text())
    spec["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                           "options": ["rbind", "ro", "nosuid", "nodev", "rprivate"]})
    (b / "config.json").write_text(json.dumps(spec))
    p = rt.run(b)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "from-host" and lines[1] == "RO"
    opts = lines[2].split()[3].split(",")
    assert "ro" in opts and "nosuid" in opts and "nodev" in opts
    assert lines[3].startswith("crw-r-----") and "1,   5" in lines[3]
    assert not (data / "x").exists()


def test_no_pivot_uses_move_and_chroot(rt, make_bundle):
    cid = rt.new_id()
    b = make_bundle(["sh", "-c", "echo pid=$$; ls /bin/busybox"])
    p = rt.cmd("run", "--no-pivot", "--bundle", str(b), cid, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["pid=1", "/bin/busybox"]


def test_missing_cwd_is_created(rt, make_bundle):
    p = rt.run(make_bundle(["pwd"], copy_rootfs=True, process__cwd="/work/here"))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "/work/here"


def test_ambient_capabilities_for_a_non_root_user(rt, make_bundle):
    caps = ["CAP_NET_BIND_SERVICE"]
    b = make_bundle(["grep", "^Cap", "/proc/self/status"], process__user={"uid": 1000, "gid": 1000},
                    process__capabilities={k: caps for k in ("bounding", "effective", "permitted",
                                                             "inheritable", "ambient")})
    p = rt.run(b)
    assert p.returncode == 0, p.stderr
    status = dict(line.split(":\t", 1) for line in p.stdout.splitlines())
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[key], 16) == 1 << 10, key  # all five sets hold exactly NET_BIND_SERVICE


def test_start_container_hook_runs_inside_before_the_program(rt, make_bundle):
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "read -r state; echo \"$state\" > /tmp/hook-state"]}
    b = make_bundle(["cat", "/tmp/hook-state"], copy_rootfs=True, hooks={"startContainer": [hook]})
    p = rt.run(b)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "created"
    assert not os.path.exists("/tmp/hook-state")  # it ran in the container's root, not the host's


def test_cgroup_namespace_root_is_the_container_cgroup(rt, make_bundle):
    pids_dir = "/sys/fs/cgroup/" if probes.cgroup_v2() else "/sys/fs/cgroup/pids/"
    cid_probe = make_bundle(["sh", "-c", f"cat /proc/self/cgroup; ls {pids_dir} | grep -c pids.max"])
    p = rt.run(cid_probe)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert all(line.endswith(":/") for line in lines[:-1]), lines  # we are the root of our cgroup ns
    assert lines[-1] == "1"  # the mounted pids hierarchy is the container's own cgroup


def test_host_wide_sysctl_is_refused_and_the_host_keeps_its_value(rt, make_bundle):
    """vm.swappiness is not namespaced: writing it "inside" would set the host's (runc refuses it too)."""
    before = open("/proc/sys/vm/swappiness").read()
    b = make_bundle(["true"], linux__sysctl={"vm.swappiness": "1"})
    p = rt.run(b)
    assert p.returncode != 0
    assert "sysctl 'vm.swappiness' is not in a separate kernel namespace" in p.stderr
    assert open("/proc/sys/vm/swappiness").read() == before
