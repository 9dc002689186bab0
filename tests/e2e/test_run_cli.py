"""`docker run` and the container lifecycle, driven by the real docker CLI."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def run(d, *args, **kw):
    return docker(d, "run", *args, **kw)


def test_version_and_info(d):
    out = docker(d, "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}", check=True).stdout
    assert out.split() == ["1.50", "linux"]
    info = json.loads(docker(d, "info", "--format", "{{json .}}", check=True).stdout)
    assert info["Driver"] == "overlay2"
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0
    assert info["CgroupVersion"] in ("1", "2")
    assert "dockyard" in info["Runtimes"]
    assert info["Images"] >= 1


def test_run_prints_output_and_exit_code(d):
    p = run(d, "--rm", "busybox", "echo", "hello world")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello world\n"
    p = run(d, "--rm", "busybox", "sh", "-c", "exit 3")
    assert p.returncode == 3


def test_stdout_and_stderr_kept_apart(d):
    p = run(d, "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert p.stdout == "out\n"
    assert p.stderr == "err\n"


def test_env_workdir_user_hostname(d, tmp_path):
    envfile = tmp_path / "env"
    envfile.write_text("FROM_FILE=yes\n")
    p = run(d, "--rm", "-e", "FOO=bar", "--env-file", str(envfile), "-w", "/tmp", "-u", "app",
            "--hostname", "boat", "busybox", "sh", "-c", "echo $FOO $FROM_FILE; pwd; id -u; id -g; hostname")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["bar", "yes", "/tmp", "1000", "1000", "boat"]
    p = run(d, "--rm", "-u", "123:456", "busybox", "sh", "-c", "id -u; id -g")
    assert p.stdout.split() == ["123", "456"]


def test_entrypoint_and_pid1(d):
    p = run(d, "--rm", "--entrypoint", "sh", "busybox", "-c", "echo $$")
    assert p.stdout.strip() == "1"


def test_unknown_image(d):
    p = run(d, "--rm", "nosuchimage:v1", "true")
    assert p.returncode == 125
    assert "Unable to find image 'nosuchimage:v1' locally" in p.stderr


def test_missing_executable(d):
    p = run(d, "--rm", "busybox", "/nope")
    assert p.returncode == 127, p.stderr
    assert "/nope" in p.stderr


def test_detached_logs_wait_inspect(d):
    cid = run(d, "-d", "busybox", "sh", "-c", "echo one; echo two >&2; sleep 0.3; exit 7").stdout.strip()
    assert len(cid) == 64
    assert docker(d, "wait", cid).stdout.strip() == "7"
    logs = docker(d, "logs", cid)
    assert logs.stdout == "one\n" and logs.stderr == "two\n"
    state = json.loads(docker(d, "inspect", cid).stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 7 and not state["Running"]
    assert state["FinishedAt"] > state["StartedAt"]
    assert docker(d, "logs", "--tail", "1", cid).stderr == "two\n"
    ts = docker(d, "logs", "-t", cid).stdout
    assert ts.split(" ", 1)[1] == "one\n" and ts[:4].isdigit()
    docker(d, "rm", cid, check=True)


def test_logs_follow(d):
    cid = run(d, "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done").stdout.strip()
    p = docker(d, "logs", "-f", cid, timeout=30)
    assert p.stdout.split() == ["1", "2", "3"]
    docker(d, "rm", "-f", cid, check=True)


def test_name_conflict_and_rename(d):
    docker(d, "create", "--name", "dup1", "busybox", "true", check=True)
    p = docker(d, "create", "--name", "dup1", "busybox", "true")
    assert p.returncode != 0
    assert 'The container name "/dup1" is already in use' in p.stderr
    docker(d, "rename", "dup1", "dup2", check=True)
    assert json.loads(docker(d, "inspect", "dup2").stdout)[0]["Name"] == "/dup2"
    docker(d, "rm", "dup2", check=True)


def test_stop_kill_restart_rm(d):
    cid = run(d, "-d", "busybox", "sleep", "1000").stdout.strip()
    p = docker(d, "rm", cid)
    assert p.returncode != 0 and "stop the container before removing or force remove" in p.stderr
    t0 = time.monotonic()
    docker(d, "stop", "-t", "1", cid, check=True)  # sleep ignores nothing: TERM ends it
    assert time.monotonic() - t0 < 10
    st = json.loads(docker(d, "inspect", cid).stdout)[0]["State"]
    assert st["Status"] == "exited"
    docker(d, "start", cid, check=True)
    assert json.loads(docker(d, "inspect", cid).stdout)[0]["State"]["Running"]
    docker(d, "kill", "-s", "KILL", cid, check=True)
    assert docker(d, "wait", cid).stdout.strip() == "137"
    docker(d, "restart", cid, check=True)
    assert json.loads(docker(d, "inspect", cid).stdout)[0]["State"]["Running"]
    docker(d, "rm", "-f", cid, check=True)
    assert docker(d, "inspect", cid).returncode != 0


def test_stop_timeout_escalates_to_kill(d):
    cid = run(d, "-d", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done").stdout.strip()
    t0 = time.monotonic()
    docker(d, "stop", "-t", "1", cid, check=True)
    assert 0.9 < time.monotonic() - t0 < 10
    assert json.loads(docker(d, "inspect", cid).stdout)[0]["State"]["ExitCode"] == 137
    docker(d, "rm", cid, check=True)


def test_ps_filters_and_format(d):
    a = run(d, "-d", "--label", "team=blue", "--name", "psa", "busybox", "sleep", "100").stdout.strip()
    b = docker(d, "create", "--label", "team=red", "--name", "psb", "busybox", "true").stdout.strip()
    try:
        running = docker(d, "ps", "-q", "--no-trunc").stdout.split()
        assert a in running and b not in running
        everything = docker(d, "ps", "-aq", "--no-trunc").stdout.split()
        assert a in everything and b in everything
        assert docker(d, "ps", "-aq", "--no-trunc", "--filter", "label=team=red").stdout.split() == [b]
        assert docker(d, "ps", "-aq", "--no-trunc", "--filter", "name=psa").stdout.split() == [a]
        assert docker(d, "ps", "-aq", "--no-trunc", "--filter", "status=created",
                      "--filter", "label=team").stdout.split() == [b]
        assert docker(d, "ps", "-lq", "--no-trunc").stdout.split() == [b]
        assert docker(d, "ps", "-a", "--format", "{{.Names}} {{.Status}}", "--filter", "id=" + a).stdout \
            .startswith("psa Up")
        assert a in docker(d, "ps", "-aq", "--no-trunc", "--filter", "ancestor=busybox").stdout
    finally:
        docker(d, "rm", "-f", a, b)


def test_limits_reach_the_container(d):
    p = run(d, "--rm", "-m", "64m", "--pids-limit", "50", "--cpus", "0.5", "--cpu-shares", "512",
            "busybox", "sh", "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; "
            "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; true")
    assert p.returncode == 0, p.stderr
    assert str(64 * 1024 * 1024) in p.stdout.split()
    assert "50" in p.stdout.split()


def test_oom_killed(d):
    p = run(d, "--name", "oomer", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c",
            "x=a; while true; do x=$x$x; done")
    assert p.returncode == 137
    st = json.loads(docker(d, "inspect", "oomer").stdout)[0]["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    docker(d, "rm", "oomer", check=True)


def test_invalid_values(d):
    p = run(d, "--rm", "-m", "12x", "busybox", "true")
    assert p.returncode == 125 and "invalid" in p.stderr.lower()
    p = run(d, "--rm", "-m", "1m", "busybox", "true")
    assert p.returncode == 125 and "Minimum memory limit allowed is 6MB" in p.stderr


def test_read_only_tmpfs_bind_ulimit_init(d, tmp_path):
    (tmp_path / "f").write_text("from host")
    p = run(d, "--rm", "--read-only", "--tmpfs", "/scratch", "-v", f"{tmp_path}:/data:ro",
            "--ulimit", "nofile=512:512", "--init", "busybox", "sh", "-c",
            "touch /x 2>/dev/null && echo rootwrite; touch /scratch/ok && echo tmpfsok; cat /data/f; echo;"
            " touch /data/g 2>/dev/null || echo bindro; ulimit -n; cat /proc/1/cmdline | tr '\\0' ' '")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "rootwrite" not in lines
    assert "tmpfsok" in lines and "from host" in lines and "bindro" in lines and "512" in lines
    assert "init" in lines[-1] or "tini" in lines[-1]


def test_parallel_runs(d):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: run(d, "--rm", "busybox", "echo", f"n{i}"), range(20)))
    assert [r.stdout.strip() for r in results] == [f"n{i}" for i in range(20)]
    assert all(r.returncode == 0 for r in results)
    leftover = docker(d, "ps", "-aq", "--filter", "status=exited").stdout.split()
    for r in leftover:
        assert json.loads(docker(d, "inspect", r).stdout)[0]["HostConfig"]["AutoRemove"] is False


def test_prune(d):
    cid = docker(d, "create", "busybox", "true").stdout.strip()
    big = run(d, "busybox", "sh", "-c", "head -c 3000000 /dev/zero > /big").returncode
    assert big == 0
    out = docker(d, "container", "prune", "-f", check=True).stdout
    assert cid in out
    assert docker(d, "inspect", cid).returncode != 0
    # the writable layers removed are counted, as dockerd does ("Total reclaimed space: 3MB")
    reclaimed = out.strip().splitlines()[-1]
    assert reclaimed.startswith("Total reclaimed space:") and reclaimed != "Total reclaimed space: 0B"


def test_stop_signal_and_stop_timeout(d):
    cid = run(d, "-d", "--stop-signal", "USR1", "--stop-timeout", "1", "busybox", "sh", "-c",
              "trap 'echo got-usr1; exit 9' USR1; while true; do sleep 0.1; done").stdout.strip()
    time.sleep(0.3)
    docker(d, "stop", cid, check=True)
    assert docker(d, "wait", cid).stdout.strip() == "9"
    assert "got-usr1" in docker(d, "logs", cid).stdout
    cfg = json.loads(docker(d, "inspect", cid).stdout)[0]["Config"]
    assert cfg["StopSignal"] == "USR1" and cfg["StopTimeout"] == 1
    docker(d, "rm", cid, check=True)


def test_logs_since_until(d):
    cid = run(d, "-d", "busybox", "sh", "-c", "echo early; sleep 1.2; echo late").stdout.strip()
    docker(d, "wait", cid, check=True)
    stamped = docker(d, "logs", "-t", cid).stdout.splitlines()
    early_ts, late_ts = (line.split(" ", 1)[0] for line in stamped)
    # both bounds are inclusive, to the nanosecond, as dockerd's json-file reader
    assert docker(d, "logs", "--since", late_ts, cid).stdout == "late\n"
    assert docker(d, "logs", "--until", early_ts, cid).stdout == "early\n"
    docker(d, "rm", cid, check=True)


def test_ps_last_n(d):
    ids = [docker(d, "create", "--label", "lastn=1", "busybox", "true").stdout.strip() for _ in range(3)]
    try:
        shown = docker(d, "ps", "-a", "-n", "2", "-q", "--no-trunc", "--filter", "label=lastn").stdout.split()
        assert shown == [ids[2], ids[1]]
    finally:
        docker(d, "rm", *ids, check=True)


def test_cryptic_exec_errors_name_the_real_cause(d, tmp_path):
    """Docker's text stays (clients match on it); the native runtime adds why."""
    root = tmp_path / "img"
    (root / "bin").mkdir(parents=True)
    (root / "app.sh").write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    (root / "app.sh").chmod(0o755)
    elf = bytearray(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\xb7\x00" + bytes(2000))  # aarch64
    (root / "armbin").write_bytes(bytes(elf))
    (root / "armbin").chmod(0o755)
    with open("/bin/ls", "rb") as f:  # a dynamically linked host binary, without its ld-linux
        (root / "bin" / "dynls").write_bytes(f.read())
    (root / "bin" / "dynls").chmod(0o755)
    tar = tmp_path / "img.tar"
    import subprocess
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    docker(d, "import", str(tar), "dytest-execdiag", check=True)
    try:
        p = run(d, "--rm", "dytest-execdiag", "/app.sh")
        assert p.returncode != 0
        assert "exec /app.sh: no such file or directory" in p.stderr
        assert "Windows (CRLF) line endings" in p.stderr
        p = run(d, "--rm", "dytest-execdiag", "/armbin")
        assert "exec /armbin: exec format error" in p.stderr
        assert "ELF binary for aarch64" in p.stderr
        p = run(d, "--rm", "dytest-execdiag", "/bin/dynls")
        assert "exec /bin/dynls: no such file or directory" in p.stderr
        assert "its ELF interpreter /lib" in p.stderr and "is not in the image" in p.stderr
    finally:
        docker(d, "rmi", "dytest-execdiag")


def test_join_the_namespaces_of_another_container(d):
    """--network/--pid/--ipc container:<name> share the peer's namespaces (how pods work)."""
    peer = run(d, "-d", "--name", "dytest-nspeer", "busybox", "sleep", "1000", check=True).stdout.strip()
    try:
        want = run(d, "--rm", "busybox", "true")  # the image is there
        assert want.returncode == 0
        mine = docker(d, "exec", peer, "sh", "-c",
                      "for n in net pid ipc; do readlink /proc/self/ns/$n; done", check=True).stdout.split()
        p = run(d, "--rm", "--network", "container:dytest-nspeer", "--pid", f"container:{peer}",
                "--ipc", "container:dytest-nspeer", "busybox", "sh", "-c",
                "for n in net pid ipc; do readlink /proc/self/ns/$n; done; ps -o args")
        assert p.returncode == 0, p.stderr
        lines = p.stdout.split("\n")
        assert lines[:3] == mine
        assert "sleep 1000" in p.stdout  # the peer's processes are visible in the shared pid ns
        # the network's files and hostname are the peer's (moby's initializeNetworking)
        p = run(d, "--rm", "--network", "container:dytest-nspeer", "busybox", "sh", "-c", "hostname; cat /etc/hostname")
        assert p.stdout.split() == [peer[:12], peer[:12]]
        docker(d, "stop", "-t", "0", peer, check=True)
        p = run(d, "--rm", "--network", "container:dytest-nspeer", "busybox", "true")
        assert p.returncode != 0 and "not running" in p.stderr
    finally:
        docker(d, "rm", "-f", peer)
