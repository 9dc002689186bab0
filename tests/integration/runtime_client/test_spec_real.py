"""build_spec's output run for real: docker-run flags observed from inside the container."""

from __future__ import annotations

import asyncio
import os
import pathlib

import pytest

from dockyard.monitor.logs import read_logs

from .conftest import Env

pytestmark = pytest.mark.timeout(120)

SCRIPT = r"""
id -u; id -g; id -G; hostname; pwd; echo "FOO=$FOO HOME=$HOME"
ulimit -n; ulimit -Hn
touch /rootfile 2>/dev/null && echo root-writable || echo root-readonly
touch /run/x && echo run-writable
grep -c . /data/hello.txt; touch /data/new 2>/dev/null && echo data-writable || echo data-readonly
grep ' /run ' /proc/mounts | grep -q size=4096k && echo run-size-ok
grep CapBnd /proc/self/status
grep CapEff /proc/self/status
cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null
cat /sys/fs/cgroup/pids/pids.max 2>/dev/null
cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null | head -1
cat /sys/fs/cgroup/cpu,cpuacct/cpu.shares /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null | head -1
"""


def test_flags_seen_inside(env: Env, tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("one\ntwo\n")
    (env.rootfs / "work").mkdir()
    config = {"Cmd": ["sh", "-c", SCRIPT], "Env": ["FOO=bar"], "WorkingDir": "/work", "User": "app"}
    host = {
        "ReadonlyRootfs": True, "Tmpfs": {"/run": "rw,size=4m"},
        "Binds": [f"{data}:/data:ro"],
        "Ulimits": [{"Name": "nofile", "Soft": 512, "Hard": 1024}],
        "Memory": 64 << 20, "MemorySwap": 64 << 20, "PidsLimit": 50, "NanoCpus": 500_000_000,
        "CpuShares": 512, "CapDrop": ["ALL"], "CapAdd": ["CHOWN"],
    }

    async def go() -> list[str]:
        cid = env.new_id()
        bundle = env.bundle(cid, config, host, user="app")
        await env.monitor.create(cid, cid, bundle, env.runtime, env.log_path(cid))
        await env.runtime.start(cid)
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 0, [
            e.data async for e in read_logs(env.log_path(cid))]
        return [e.data.decode().rstrip("\n") async for e in read_logs(env.log_path(cid))]

    lines = asyncio.run(go())
    assert lines[0:3] == ["1000", "1000", "1000 100"]  # + "users" from /etc/group
    assert lines[3] == env.ids[-1][:12]  # hostname
    assert lines[4:6] == ["/work", "FOO=bar HOME=/home/app"]
    assert lines[6:8] == ["512", "1024"]
    assert lines[8:10] == ["root-readonly", "run-writable"]
    assert lines[10:12] == ["2", "data-readonly"]
    assert lines[12] == "run-size-ok"
    assert lines[13].split() == ["CapBnd:", "0000000000000001"]  # only CAP_CHOWN
    assert lines[14].split() == ["CapEff:", "0000000000000000"]  # non-root: bounding set only
    assert lines[15:17] == [str(64 << 20), "50"]
    assert lines[17:19] == ["50000", "512"]


def test_user_and_group_by_name_and_id(env: Env) -> None:
    async def run(user: str) -> str:
        cid = env.new_id()
        bundle = env.bundle(cid, {"Cmd": ["sh", "-c", 'echo "$(id -u):$(id -g):$(id -G)"']}, {}, user=user)
        await env.monitor.create(cid, cid, bundle, env.runtime, env.log_path(cid))
        await env.runtime.start(cid)
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 0
        return "".join([e.data.decode() async for e in read_logs(env.log_path(cid))]).strip()

    async def go() -> None:
        assert await run("4242:4343") == "4242:4343:4343"
        assert await run("app:daemon") == "1000:1:1"
        assert await run("") == "0:0:0"
    asyncio.run(go())
    assert os.path.exists(env.rootfs / "etc" / "group")


def test_default_seccomp_profile_and_no_new_privileges(env: Env) -> None:
    from dockyard.spec.default_seccomp import default_profile
    from dockyard.spec.bundle import SpecInput, build_spec, resolve_user
    import json

    async def go() -> list[str]:
        cid = env.new_id()
        b = env.tmp / f"bundle-{cid}"
        b.mkdir()
        spec = build_spec(SpecInput(
            cid, {"Cmd": ["sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"]},
            {"SecurityOpt": ["no-new-privileges"]}, {}, str(env.rootfs),
            user=resolve_user(str(env.rootfs), ""), cgroups_path=f"/{cid}",
            seccomp_profile=default_profile))
        (b / "config.json").write_text(json.dumps(spec))
        await env.monitor.create(cid, cid, str(b), env.runtime, env.log_path(cid))
        await env.runtime.start(cid)
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 0
        return [" ".join(e.data.decode().split()) async for e in read_logs(env.log_path(cid))]

    assert asyncio.run(go()) == ["NoNewPrivs: 1", "Seccomp: 2"]


def test_log_size_max(crun_env: Env) -> None:
    """--log-opt max-size: conmon starts the file afresh; the newest lines survive."""
    env = crun_env

    async def go() -> tuple[int, list[bytes]]:
        cid = env.new_id()
        script = "i=0; while [ $i -lt 100 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
        b = env.bundle(cid, {"Cmd": ["sh", "-c", script]})
        await env.monitor.create(cid, cid, b, env.runtime, env.log_path(cid), log_size_max=1024)
        await env.runtime.start(cid)
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 0
        return (os.path.getsize(env.log_path(cid)),
                [e.data async for e in read_logs(env.log_path(cid))])

    size, lines = asyncio.run(go())
    assert size <= 1024
    assert lines and lines[-1].startswith(b"line-99-") and not any(l.startswith(b"line-0-") for l in lines)
