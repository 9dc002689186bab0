"""One client must not take the daemon's memory, disk or other clients' service (issue 18)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from tests.support.daemon import busybox_daemon, docker, new_daemon

MiB = 1024 * 1024


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _raw(d, head: bytes, body_chunks=(), timeout: float = 30) -> tuple[int, bytes]:
    """Send a request by hand; (status, body) of the answer (the body may be cut short)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(d.socket)
    try:
        s.sendall(head)
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered and closed before taking the rest: what we want
        data = b""
        while b"\r\n\r\n" not in data:
            part = s.recv(65536)
            if not part:
                break
            data += part
        head_raw, _, rest = data.partition(b"\r\n\r\n")
        status = int(head_raw.split()[1]) if head_raw else 0
        try:
            while len(rest) < 4096:
                part = s.recv(65536)
                if not part:
                    break
                rest += part
        except (socket.timeout, ConnectionResetError):
            pass
        return status, rest
    finally:
        s.close()


def test_oversized_json_bodies_are_413_and_the_daemon_stays_small(dockyard_daemon, busybox_image):
    d = dockyard_daemon
    pid = d.proc.pid
    # a declared 200 MB create body: refused before it is read
    status, body = _raw(d, b"POST /v1.47/containers/create HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n",
                        [b'{"Image":"busybox","Labels":{"a":"' + b"x" * MiB])
    assert status == 413, body
    assert b"request body too large" in body
    # a chunked one, no length given: stopped at the bound, not read to its end
    chunk = b"x" * MiB
    frames = [b'%x\r\n{"Image":"busybox","Labels":{"a":"\r\n' % len(b'{"Image":"busybox","Labels":{"a":"')]
    frames += [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 64
    status, body = _raw(d, b"POST /v1.47/containers/create HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", frames)
    assert status == 413, body
    assert _rss(pid) < 200 * MiB, _rss(pid)
    # a config within the bound still works
    status, body = d.request("POST", "/containers/create", {"Image": busybox_image, "Cmd": ["true"],
                                                            "Labels": {"a": "x" * (2 * MiB)}})
    assert status == 201, body
    assert d.request("DELETE", f"/containers/{body['Id']}")[0] == 204


def test_database_gives_space_back_after_large_deletes(busybox_tar):
    with busybox_daemon(busybox_tar) as d:
        db = os.path.join(d.data_root, "dockyard.db")

        def size() -> int:
            return sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))

        ids = []
        for i in range(4):
            status, body = d.request("POST", "/containers/create", {
                "Image": "busybox", "Cmd": ["true"], "Labels": {f"l{j}": "y" * MiB for j in range(6)}})
            assert status == 201, body
            ids.append(body["Id"])
        assert size() > 20 * MiB
        for cid in ids:
            assert d.request("DELETE", f"/containers/{cid}")[0] == 204
        assert size() < 6 * MiB, size()


def test_header_less_connections_time_out(busybox_tar, monkeypatch):
    monkeypatch.setenv("DOCKYARD_HTTP_HEADER_TIMEOUT", "1")
    d = new_daemon()
    try:
        d.start()
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.settimeout(10)
        idle.connect(d.socket)
        t0 = time.monotonic()
        assert idle.recv(1) == b""  # closed by the daemon
        assert 0.5 < time.monotonic() - t0 < 5
        idle.close()
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.settimeout(10)
        slow.connect(d.socket)
        slow.sendall(b"GET /_ping HTTP/1.1\r\n")  # headers started, never finished
        assert slow.recv(1) == b""
        slow.close()
        assert d.request("GET", "/_ping")[0] == 200
    finally:
        d.cleanup()


def test_reachable_at_the_fd_limit_and_no_log_flood(busybox_tar):
    d = new_daemon()
    conns = []
    try:
        d.start()
        subprocess.run(["prlimit", f"--pid={d.proc.pid}", "--nofile=300:300"], check=True)
        log_before = os.path.getsize(d.log_path)
        deadline = time.monotonic() + 15
        while len(conns) < 400 and time.monotonic() < deadline:  # more than the daemon has fds
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(0.2)
            try:
                s.connect(d.socket)  # each sends nothing and stays
            except OSError:  # the accept queue is full: the daemon is not taking new clients
                s.close()
                continue
            conns.append(s)
        time.sleep(1.5)
        t0 = time.monotonic()
        p = docker(d, "version", "--format", "{{.Server.APIVersion}}", timeout=20)
        assert p.returncode == 0, p.stderr
        assert time.monotonic() - t0 < 5
        status, _ = d.request("POST", "/containers/create", {"Image": "nosuch", "Cmd": ["true"]}, timeout=10)
        assert status == 404  # the daemon still has fds for its own work
        time.sleep(2)
        grown = os.path.getsize(d.log_path) - log_before
        assert grown < 64 * 1024, d.log()[-3000:]
        lines = [ln for ln in d.log().splitlines() if "Traceback" in ln]
        assert len(lines) <= 2, d.log()[-3000:]
    finally:
        for s in conns:
            s.close()
        d.cleanup()


@pytest.mark.parametrize("body", [b'{"Image": "busybox"' + b"[" * 10, b"x" * 100])
def test_bounded_bodies_still_give_the_json_errors(dockyard_daemon, body):
    status, answer = _raw(dockyard_daemon, b"POST /v1.47/containers/create HTTP/1.1\r\nHost: x\r\n"
                                           b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                                           b"Connection: close\r\n\r\n" % len(body), [body])
    assert status == 400
    assert "message" in json.loads(answer)
