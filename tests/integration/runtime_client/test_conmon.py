"""conmon + an OCI runtime, driven through Monitor/OCIRuntime/read_logs, with real containers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from dockyard.monitor.exitwatch import ExitWatcher
from dockyard.monitor.logs import read_logs
from dockyard.monitor.conmon import ContainerStartError, start_error_exit_code

from .conftest import Env
from tests.support import probes

pytestmark = pytest.mark.timeout(120)


async def read_all(att) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    out = []
    while (chunk := await asyncio.wait_for(att.read(), 30)) is not None:
        out.append(chunk)
    return out


def joined(chunks: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(d for s, d in chunks if s == stream)


async def logs(env: Env, cid: str, **kw) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    return [(e.stream, e.data) async for e in read_logs(env.log_path(cid), **kw)]


def test_output_log_exit_code_and_cleanup(env: Env) -> None:
    async def go() -> None:
        cid, pid = await env.create({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
        assert pid > 0 and os.path.exists(f"/proc/{pid}")
        assert (await env.runtime.state(cid))["status"] == "created"
        att = await env.monitor.attach(cid)  # before start: no output may be missed
        await env.runtime.start(cid)
        chunks = await read_all(att)
        att.close()
        assert joined(chunks, 1) == b"out\n" and joined(chunks, 2) == b"err\n"
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 3
        assert env.monitor.oom_killed(cid) is False
        assert await logs(env, cid) == [(1, b"out\n"), (2, b"err\n")]
        assert await logs(env, cid, stdout=False) == [(2, b"err\n")]
        bundle = env.monitor.bundle_of(cid)
        await env.runtime.delete(cid)
        await env.monitor.cleanup(cid)
        # nothing left behind: monitor dir, exit file, conmon's files, runtime state, cgroup
        assert not os.path.exists(env.monitor.container_dir(cid))
        assert not os.path.exists(env.monitor.exit_file(cid))
        assert sorted(os.listdir(bundle)) == ["config.json", "ctr.log"]
        assert not os.path.exists(os.path.join(env.runtime.root, cid))
        assert not os.path.exists(probes.cgroup_dir("memory", f"/{cid}"))
        assert not os.path.exists(probes.cgroup_dir("pids", f"/{cid}"))
    asyncio.run(go())


def test_command_not_found_reports_runtime_error(env: Env) -> None:
    async def go() -> None:
        with pytest.raises(ContainerStartError) as info:
            await env.create({"Cmd": ["nope"]})
        assert "nope" in info.value.message
        assert start_error_exit_code(info.value.message) == 127
        cid = env.ids[-1]
        # the failed create undid itself
        assert not os.path.exists(env.monitor.container_dir(cid))
        assert not os.path.exists(os.path.join(env.runtime.root, cid))
    asyncio.run(go())


def test_stdin_eof_on_half_close(env: Env) -> None:
    async def go() -> None:
        cid, _ = await env.create({"Cmd": ["sh", "-c", "cat; echo done"], "OpenStdin": True},
                                  stdin=True, stdin_once=True)
        att = await env.monitor.attach(cid)
        await env.runtime.start(cid)
        await att.write(b"hi\n" + b"x" * 100000 + b"\n")
        att.close_stdin()  # `echo hi | docker run -i`: cat must see EOF and end
        chunks = await read_all(att)
        out = joined(chunks, 1)
        assert out.startswith(b"hi\n") and out.endswith(b"\ndone\n") and len(out) == 3 + 100001 + 5
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 0
    asyncio.run(go())


def test_exit_code_of_signal_and_init(crun_env: Env) -> None:
    """--init runs tini as pid 1; a SIGTERMed container reports 143 like Docker."""
    env = crun_env

    async def go() -> None:
        cid, _ = await env.create({"Cmd": ["sh", "-c", "echo $$; cat /proc/1/cmdline; sleep 1000"]},
                                  {"Init": True})
        att = await env.monitor.attach(cid)
        await env.runtime.start(cid)
        first = await asyncio.wait_for(att.read(), 30)
        assert first is not None
        buf = first[1]
        while b"docker-init" not in buf:
            more = await asyncio.wait_for(att.read(), 30)
            assert more is not None
            buf += more[1]
        assert not buf.startswith(b"1\n")  # the shell is not pid 1: tini is
        await env.runtime.kill(cid, "SIGTERM")
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 143
        att.close()
    asyncio.run(go())


def test_tty_and_resize(env: Env) -> None:
    async def go() -> None:
        script = ('tty; while [ "$(stty size)" != "30 100" ]; do sleep 0.05; done; '
                  'echo resized; echo to-stderr >&2')
        cid, _ = await env.create({"Cmd": ["sh", "-c", script], "Tty": True})
        att = await env.monitor.attach(cid)
        await env.runtime.start(cid)
        await env.monitor.resize(cid, 30, 100)
        chunks = await read_all(att)
        out = joined(chunks, 1)
        assert b"/dev/pts/0" in out and b"resized" in out and b"to-stderr" in out
        assert joined(chunks, 2) == b""  # a TTY has one stream
        assert b"\r\n" in out
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 0
    asyncio.run(go())


def test_oom_kill(env: Env) -> None:
    async def go() -> None:
        host = {"Memory": 8 << 20, "MemorySwap": 8 << 20}
        cid, _ = await env.create({"Cmd": ["tail", "/dev/zero"]}, host)
        await env.runtime.start(cid)
        assert await asyncio.wait_for(env.monitor.wait(cid), 60) == 137
        assert env.monitor.oom_killed(cid) is True
    asyncio.run(go())


def test_exit_watcher_live_and_replay(crun_env: Env) -> None:
    env = crun_env

    async def go() -> None:
        got: list[tuple[str, int]] = []
        arrived = asyncio.Event()

        def cb(cid: str, code: int) -> None:
            got.append((cid, code))
            arrived.set()

        w = ExitWatcher(env.monitor.exit_dir, cb)
        w.start(asyncio.get_running_loop())
        try:
            cid, _ = await env.create({"Cmd": ["sh", "-c", "exit 5"]})
            await env.runtime.start(cid)
            await asyncio.wait_for(arrived.wait(), 30)
            assert got == [(cid, 5)]
        finally:
            w.stop()
        # a new watcher (daemon restarted) replays exits it has not seen
        replayed: list[tuple[str, int]] = []
        w2 = ExitWatcher(env.monitor.exit_dir, lambda c, x: replayed.append((c, x)))
        w2.start(asyncio.get_running_loop())
        w2.stop()
        assert replayed == [(cid, 5)]
    asyncio.run(go())


def test_follow_logs_until_exit(crun_env: Env) -> None:
    env = crun_env

    async def go() -> None:
        script = "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done; printf tail >&2"
        cid, _ = await env.create({"Cmd": ["sh", "-c", script]})
        stop = asyncio.Event()
        w = ExitWatcher(env.monitor.exit_dir, lambda c, x: stop.set() if c == cid else None)
        w.start(asyncio.get_running_loop())
        try:
            await env.runtime.start(cid)
            entries = [(e.stream, e.data) async for e in
                       read_logs(env.log_path(cid), follow=True, stop_event=stop)]
        finally:
            w.stop()
        assert entries == [(1, f"line{i}\n".encode()) for i in range(1, 6)] + [(2, b"tail")]
        assert await logs(env, cid, tail=2) == [(1, b"line5\n"), (2, b"tail")]
    asyncio.run(go())


DAEMON = textwrap.dedent("""
    import asyncio, json, sys
    from dockyard.monitor.conmon import Monitor
    from dockyard.monitor.oci import OCIRuntime
    cid, bundle, rt_path, rt_root, exec_root, log = sys.argv[1:7]
    async def main():
        m = Monitor("/usr/bin/conmon", exec_root)
        rt = OCIRuntime(rt_path, rt_root)
        pid = await m.create(cid, cid, bundle, rt, log)
        await rt.start(cid)
        print(pid, flush=True)
        await asyncio.sleep(1000)
    asyncio.run(main())
""")


def test_container_outlives_the_daemon(env: Env) -> None:
    """kill -9 the process that started conmon: the container keeps running and logging;
    an exit while the "daemon" is down is still read afterwards (re-adoption)."""
    cid = env.new_id()
    script = "echo before; read line < /dev/stdin || true; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after; exit 7"
    bundle = env.bundle(cid, {"Cmd": ["sh", "-c", script]})
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON, cid, bundle, env.runtime.path, env.runtime.root,
         env.monitor.exec_root, env.log_path(cid)], stdout=subprocess.PIPE)
    try:
        assert daemon.stdout is not None
        pid = int(daemon.stdout.readline())
    finally:
        daemon.kill()
        daemon.wait()
    assert os.path.exists(f"/proc/{pid}")
    assert env.monitor.alive(cid)
    conmon = env.monitor.conmon_pid(cid)
    assert conmon is not None and conmon != daemon.pid
    assert os.getsid(conmon) != os.getsid(0)  # its own session: no signal of ours reaches it

    async def go() -> None:
        assert (await env.runtime.state(cid))["status"] == "running"
        assert env.monitor.exit_code(cid) is None
        # the container finishes while no daemon watches
        open(os.path.join(str(env.rootfs), "tmp", "go"), "w").close()
        for _ in range(600):
            if env.monitor.exit_code(cid) is not None:
                break
            await asyncio.sleep(0.05)
        assert env.monitor.exit_code(cid) == 7
        assert [d for _, d in await logs(env, cid)] == [b"before\n", b"after\n"]
        assert not env.monitor.alive(cid)
    asyncio.run(go())


def test_conmon_memory_per_idle_container(crun_env: Env) -> None:
    """conmon's cost per idle container (reported in the output with -s)."""
    env = crun_env

    async def go() -> int:
        cid, _ = await env.create({"Cmd": ["sleep", "1000"]})
        await env.runtime.start(cid)
        await asyncio.sleep(0.2)
        pid = env.monitor.conmon_pid(cid)
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
        print(f"\nconmon idle: VmRSS {rss} kB, Pss {pss} kB")
        await env.runtime.kill(cid, "SIGKILL")
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 137
        return pss
    assert asyncio.run(go()) < 2048


def test_conmon_in_its_own_cgroup(crun_env: Env) -> None:
    """With conmon_cgroup, conmon leaves the daemon's (service's) cgroup before starting anything."""
    import secrets
    env = crun_env
    name = f"dytest-conmon-{secrets.token_hex(4)}"
    env.monitor.conmon_cgroup = "/" + name
    dirs = [os.path.join(b, name) for b in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd")]

    async def go() -> None:
        cid, _ = await env.create({"Cmd": ["sleep", "1000"]})
        await env.runtime.start(cid)
        pid = env.monitor.conmon_pid(cid)
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
        assert f"0::/{name}" in lines and f"name=systemd:/{name}" in ":".join(lines)
        await env.runtime.kill(cid, "SIGKILL")
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 137
    try:
        asyncio.run(go())
    finally:
        for _ in range(100):  # conmon may still be exiting
            for d in dirs:
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError:
                    break
            if not any(os.path.exists(d) for d in dirs):
                break
            import time
            time.sleep(0.05)
    assert not any(os.path.exists(d) for d in dirs)


@pytest.mark.parametrize("cmd,code", [(["/etc/passwd"], 126), (["/etc"], 126), (["/no/such"], 127)])
def test_start_errors_map_to_docker_exit_codes(env: Env, cmd: list[str], code: int) -> None:
    async def go() -> str:
        with pytest.raises(ContainerStartError) as info:
            cid, _ = await env.create({"Cmd": cmd})
            await env.runtime.start(cid)  # a runtime may only find out at start
        return info.value.message
    message = asyncio.run(go())
    assert start_error_exit_code(message) == code, message


def test_stdin_stays_open_without_stdin_once(crun_env: Env) -> None:
    """`docker run -di`: a client leaving does not close the container's stdin; the next one writes on."""
    env = crun_env

    async def go() -> None:
        cid, _ = await env.create({"Cmd": ["head", "-n", "2"], "OpenStdin": True},
                                  stdin=True, stdin_once=False)
        first = await env.monitor.attach(cid)
        await env.runtime.start(cid)
        await first.write(b"a\n")
        first.close_stdin()
        first.close()
        second = await env.monitor.attach(cid)
        await second.write(b"b\n")
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 0
        second.close()
        assert [d for _, d in await logs(env, cid)] == [b"a\n", b"b\n"]
    asyncio.run(go())


def _process(args: list[str], env: Env) -> dict:  # type: ignore[type-arg]
    return {"args": args, "cwd": "/", "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}


def test_exec_sessions(env: Env) -> None:
    """docker exec: output per stream, exit code, stdin EOF, TTY, runtime errors, no leftovers."""
    async def go() -> None:
        cid, _ = await env.create({"Cmd": ["sleep", "1000"]})
        await env.runtime.start(cid)
        s = await env.monitor.exec(cid, "dyexec-1", env.runtime,
                                   _process(["sh", "-c", "echo hi; echo err >&2; exit 4"], env))
        assert s.pid > 0 and s.attachment is not None
        chunks = await read_all(s.attachment)
        assert joined(chunks, 1) == b"hi\n" and joined(chunks, 2) == b"err\n"
        assert await asyncio.wait_for(s.wait(), 30) == 4
        await s.cleanup()
        assert not os.path.exists(s.dir)

        s = await env.monitor.exec(cid, "dyexec-2", env.runtime, _process(["cat"], env), stdin=True)
        assert s.attachment is not None
        await s.attachment.write(b"piped\n")
        s.attachment.close_stdin()
        assert joined(await read_all(s.attachment), 1) == b"piped\n"
        assert await asyncio.wait_for(s.wait(), 30) == 0
        await s.cleanup()

        s = await env.monitor.exec(cid, "dyexec-3", env.runtime, _process(["tty"], env), tty=True)
        assert s.attachment is not None
        assert b"/dev/pts/" in joined(await read_all(s.attachment), 1)
        assert await asyncio.wait_for(s.wait(), 30) == 0
        await s.cleanup()

        with pytest.raises(ContainerStartError) as info:
            await env.monitor.exec(cid, "dyexec-4", env.runtime, _process(["nope"], env))
        assert "nope" in info.value.message
        assert not os.path.exists(os.path.join(env.monitor.exec_root, "exec", "dyexec-4"))
        # the container itself is untouched
        assert (await env.runtime.state(cid))["status"] == "running"
    asyncio.run(go())
