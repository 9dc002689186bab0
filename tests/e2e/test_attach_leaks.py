"""1,000 attach/detach cycles leave no fd or memory growth in the daemon (or the monitor).

Measured from outside: /proc/<pid>/fd and VmRSS of the daemon and of the
container's conmon.  Half the cycles detach with the keys, half drop the
connection mid-stream like a killed client.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time

import pytest

from tests.support.daemon import docker
from tests.support.procs import PeakRss

CYCLES = 1000


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _conmon_of(cid: str) -> int:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"conmon" and cid.encode() in argv and b"--exec" not in argv:
            return int(entry)
    raise AssertionError(f"no conmon for {cid}")


def _attach(path: str, cid: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    s.sendall(f"POST /v1.50/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
              "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "daemon closed the connection before answering"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    return s


def _cycle(path: str, cid: str, i: int) -> None:
    s = _attach(path, cid)
    try:
        if i % 2:
            s.sendall(b"\x10\x11")  # detach keys: the daemon ends the attach
            while s.recv(4096):
                pass
        # else: drop the connection mid-stream
    finally:
        s.close()


def _settle(pid: int, target: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    n = _fds(pid)
    while n > target and time.monotonic() < deadline:
        time.sleep(0.1)
        n = _fds(pid)
    return n


def test_attach_detach_cycles_do_not_leak(d):
    name = f"dytest-leak-{secrets.token_hex(3)}"
    cid = docker(d, "run", "-d", "-it", "--name", name, "busybox", "sh", check=True).stdout.strip()
    try:
        pid = d.proc.pid
        conmon = _conmon_of(cid)
        for i in range(100):  # warm-up: thread pools, caches
            _cycle(d.socket, cid, i)
        time.sleep(0.5)
        fds0, rss0 = _fds(pid), _rss_kb(pid)
        cfds0 = _fds(conmon)
        start = time.monotonic()
        for i in range(CYCLES):
            _cycle(d.socket, cid, i)
        elapsed = time.monotonic() - start
        fds1 = _settle(pid, fds0)
        cfds1 = _settle(conmon, cfds0)
        rss1 = _rss_kb(pid)
        print(f"{CYCLES} cycles in {elapsed:.1f}s; daemon fds {fds0}->{fds1}, rss {rss0}->{rss1} kB; "
              f"conmon fds {cfds0}->{cfds1}")
        assert fds1 <= fds0 + 2, f"daemon fds grew {fds0} -> {fds1}"
        assert cfds1 <= cfds0 + 2, f"conmon fds grew {cfds0} -> {cfds1}"
        assert rss1 - rss0 < 16 * 1024, f"daemon RSS grew {rss0} -> {rss1} kB"
        # the container carried on through all of it and still answers on a fresh attach
        s = _attach(d.socket, cid)
        try:
            s.sendall(b"echo alive-$((20+3))\n")
            buf = b""
            while b"alive-23" not in buf:
                chunk = s.recv(4096)
                assert chunk
                buf += chunk
        finally:
            s.close()
    finally:
        docker(d, "rm", "-f", name)


def _request(path: str, method: str, url: str, body: bytes = b"", upgrade: bool = False) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    head = f"{method} {url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    head += "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else "Connection: close\r\n"
    s.sendall(head.encode() + b"\r\n" + body)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _exec_servers(daemon_pid: int) -> list[int]:
    out = []
    for child in _children(daemon_pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b"exec-server" in f.read().split(b"\0"):
                    out.append(child)
        except FileNotFoundError:
            pass
    return out


@pytest.mark.parametrize("runtime", ["dockyard", "crun"])
def test_exec_cycles_do_not_leak(d, runtime):
    """Execs leave nothing open in the daemon: through the native runtime's exec server (pipes,
    reply sockets, forked children) and through conmon (its session dir and attach socket)."""
    import json

    name = f"dytest-execleak-{secrets.token_hex(3)}"
    cid = docker(d, "run", "-d", "--runtime", runtime, "--name", name, "busybox", "sleep", "1000",
                 check=True).stdout.strip()
    body = json.dumps({"Cmd": ["echo", "x"], "AttachStdout": True, "AttachStderr": True}).encode()

    def one() -> None:
        raw = _request(d.socket, "POST", f"/v1.50/containers/{cid}/exec", body)
        eid = json.loads(raw.partition(b"\r\n\r\n")[2])["Id"]
        out = _request(d.socket, "POST", f"/v1.50/exec/{eid}/start", b"{}", upgrade=True)
        assert out.endswith(b"\x01\x00\x00\x00\x00\x00\x00\x02x\n"), out[-40:]

    try:
        pid = d.proc.pid
        for _ in range(10):
            one()
        time.sleep(0.3)
        fds0 = _fds(pid)
        for _ in range(100):
            one()
        fds1 = _settle(pid, fds0)
        assert fds1 <= fds0 + 2, f"daemon fds grew {fds0} -> {fds1}"
        if runtime == "crun":
            leftovers = os.listdir(os.path.join(d.exec_root, "monitor", "exec"))
            assert leftovers == [], leftovers
        else:
            servers = _exec_servers(pid)
            assert len(servers) == 1, servers  # one server for all the execs
            assert _children(servers[0]) == []  # every forked exec child is gone
    finally:
        docker(d, "rm", "-f", name)


def test_slow_container_holds_back_a_fast_client(d, tmp_path):
    """Client input is not buffered without bound in the daemon while the container is not reading."""
    src = tmp_path / "zeros"
    with open(src, "wb") as f:
        f.truncate(192 << 20)
    peak = PeakRss(d.proc.pid)
    with open(src, "rb") as f:
        p = subprocess.run(["docker", "run", "--rm", "-i", "busybox", "sh", "-c", "sleep 2; wc -c"], stdin=f,
                           env=d.env(), capture_output=True, timeout=120)
    assert (p.returncode, p.stdout.strip()) == (0, str(192 << 20).encode()), p.stderr
    grown = peak.grown_kb()
    assert grown < 64 * 1024, f"daemon peak RSS grew by {grown} kB while the container slept"


def test_exec_sessions_of_a_crashed_daemon_are_cleaned_at_start(busybox_tar):
    """conmon's exec sessions (other runtimes than the native one) survive a crash; their dirs go
    at the next start once they ended."""
    from tests.support.daemon import new_daemon

    d = new_daemon()
    try:
        d.start()
        docker(d, "import", str(busybox_tar), "busybox:latest", check=True)
        docker(d, "run", "-d", "--runtime", "crun", "--name", "crashy", "busybox", "sleep", "100", check=True)
        docker(d, "exec", "-d", "crashy", "sleep", "0.5", check=True)
        sessions = os.path.join(d.exec_root, "monitor", "exec")
        assert len(os.listdir(sessions)) == 1
        d.crash()
        time.sleep(1)  # the exec ends while no daemon is there to collect it
        d.start()
        assert os.listdir(sessions) == []
        assert docker(d, "exec", "crashy", "echo", "ok", check=True).stdout == "ok\n"
    finally:
        d.remove_all_containers()
        d.cleanup()


def test_exec_server_goes_with_a_crashed_daemon_and_its_execs_carry_on(busybox_tar):
    """kill -9 of the daemon: the native runtime's exec server exits (its control socket closed),
    an exec it started keeps running to its end; the next daemon starts a new server."""
    from tests.support.daemon import new_daemon

    d = new_daemon()
    try:
        d.start()
        docker(d, "import", str(busybox_tar), "busybox:latest", check=True)
        docker(d, "run", "-d", "--name", "crashy", "busybox", "sleep", "100", check=True)
        docker(d, "exec", "-d", "crashy", "sh", "-c", "sleep 1; touch /survived", check=True)
        [server] = _exec_servers(d.proc.pid)
        d.crash()
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{server}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{server}"), "the exec server outlived its daemon"
        d.start()
        time.sleep(1.5)
        assert docker(d, "exec", "crashy", "ls", "/survived", check=True).stdout == "/survived\n"
        assert len(_exec_servers(d.proc.pid)) == 1
    finally:
        d.remove_all_containers()
        d.cleanup()
