"""Interactive streams through docker-py: exec_run, attach_socket, run(stdin_open, tty)."""

from __future__ import annotations

import os
import secrets
import socket
import time

import docker
import pytest

from dockyard.api.streams import FrameDecoder


@pytest.fixture
def client(dockyard_daemon, busybox_image):
    c = docker.DockerClient(base_url=dockyard_daemon.docker_host, timeout=60)
    yield c
    c.close()


@pytest.fixture
def box(client):
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True,
                              name=f"dytest-py-{secrets.token_hex(3)}")
    yield c
    c.remove(force=True)


def _raw(sock) -> socket.socket:
    return getattr(sock, "_sock", sock)


def _read_until(sock: socket.socket, needle: bytes, timeout: float = 20) -> bytes:
    sock.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def test_exec_run_output_exit_code_and_demux(box):
    res = box.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert res.exit_code == 3
    assert b"out\n" in res.output and b"err\n" in res.output
    res = box.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert res.output == (b"out\n", b"err\n")
    res = box.exec_run(["sh", "-c", "echo $A; pwd; id -u"], environment={"A": "z"}, workdir="/tmp", user="1000")
    assert res.output.split() == [b"z", b"/tmp", b"1000"]
    res = box.exec_run("tty", tty=True)
    assert res.exit_code == 0 and res.output.startswith(b"/dev/pts/")
    res = box.exec_run("no-such-binary")
    assert res.exit_code == 127


def test_exec_run_stream_and_detach(box):
    res = box.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; done"], stream=True)
    assert b"".join(res.output) == b"1\n2\n3\n"
    res = box.exec_run(["sh", "-c", "echo bg > /bg"], detach=True)
    assert not res.output
    deadline = time.monotonic() + 20
    while box.exec_run(["cat", "/bg"]).output != b"bg\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert box.exec_run(["cat", "/bg"]).output == b"bg\n"


def test_exec_socket_stdin_half_close(client, box):
    api = client.api
    eid = api.exec_create(box.id, ["sh", "-c", "cat; echo done"], stdin=True)["Id"]
    sock = _raw(api.exec_start(eid, socket=True))
    try:
        sock.sendall(b"through exec\n")
        sock.shutdown(socket.SHUT_WR)  # stdin EOF; the output still drains
        data = b""
        sock.settimeout(20)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    frames = FrameDecoder().feed(data)
    assert b"".join(p for s, p in frames if s == 1) == b"through exec\ndone\n"
    assert api.exec_inspect(eid)["ExitCode"] == 0


def test_run_stdin_open_tty_and_attach_socket(client):
    c = client.containers.run("busybox", "sh", stdin_open=True, tty=True, detach=True,
                              name=f"dytest-pytty-{secrets.token_hex(3)}")
    try:
        sock = _raw(c.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}))
        try:
            sock.sendall(b"echo py-$((6*7))\n")
            out = _read_until(sock, b"py-42")
            assert b"py-42" in out and b"\x01\x00\x00\x00" not in out  # raw TTY bytes, no frames
            c.resize(height=20, width=70)
            sock.sendall(b"stty size\n")
            assert b"20 70" in _read_until(sock, b"20 70")
            # the daemon recognises the detach keys in the stream and ends the attach
            sock.sendall(b"\x10\x11")
            sock.settimeout(20)
            while sock.recv(4096):
                pass
        finally:
            sock.close()
        c.reload()
        assert c.status == "running"
        # a custom detach key, and the container's stdin still works for the next attach
        sock = _raw(c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-a"}))
        try:
            sock.sendall(b"echo again-$((1+1))\n")
            assert b"again-2" in _read_until(sock, b"again-2")
            sock.sendall(b"\x01")
            sock.settimeout(20)
            while sock.recv(4096):
                pass
        finally:
            sock.close()
        c.reload()
        assert c.status == "running"
    finally:
        c.remove(force=True)


def test_attach_logs_replay_and_non_tty_frames(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo early; sleep 2; echo late >&2"], detach=True,
                              name=f"dytest-pylogs-{secrets.token_hex(3)}")
    try:
        deadline = time.monotonic() + 20
        while b"early" not in c.logs() and time.monotonic() < deadline:  # in the log before we attach
            time.sleep(0.05)
        # docker-py reads the raw socket: the replay must not arrive glued to the 101 head
        chunks = list(client.api.attach(c.id, stdout=True, stderr=True, stream=True, logs=True, demux=True))
        assert chunks == [(b"early\n", None), (None, b"late\n")]
        assert c.wait(timeout=30)["StatusCode"] == 0
    finally:
        c.remove(force=True)


def test_resize_and_exec_errors(client, box):
    api = client.api
    with pytest.raises(docker.errors.NotFound):
        api.exec_resize("nope", height=10, width=10)
    with pytest.raises(docker.errors.APIError) as info:
        api.exec_create(box.id, [])
    assert info.value.status_code == 400
    stopped = client.containers.run("busybox", "true", detach=True, name=f"dytest-pyst-{secrets.token_hex(3)}")
    try:
        stopped.wait(timeout=30)
        with pytest.raises(docker.errors.APIError) as info:
            stopped.exec_run("true")
        assert info.value.status_code == 409 and "is not running" in str(info.value)
        with pytest.raises(docker.errors.APIError) as info:
            stopped.resize(height=10, width=10)
        assert info.value.status_code == 409
    finally:
        stopped.remove(force=True)


def _post(path: str, url: str, body: bytes = b"{}", upgrade: bool = False) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    head = (f"POST {url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n")
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
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


def test_old_clients_without_upgrade_and_logs_without_stream(dockyard_daemon, client, box):
    """No Upgrade header: 200 and the same raw stream; attach with logs=1&stream=0 replays and ends."""
    eid = client.api.exec_create(box.id, ["sh", "-c", "echo old; echo client >&2"])["Id"]
    data = _post(dockyard_daemon.socket, f"/v1.40/exec/{eid}/start")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert sorted(FrameDecoder().feed(body)) == [(1, b"old\n"), (2, b"client\n")]
    assert client.api.exec_inspect(eid)["ExitCode"] == 0
    c = client.containers.run("busybox", ["echo", "logged"], detach=True,
                              name=f"dytest-pyold-{secrets.token_hex(3)}")
    try:
        c.wait(timeout=30)
        data = _post(dockyard_daemon.socket, f"/v1.50/containers/{c.id}/attach?logs=1&stdout=1&stderr=1",
                     b"", upgrade=True)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 UPGRADED")
        assert FrameDecoder().feed(body) == [(1, b"logged\n")]
    finally:
        c.remove(force=True)


def test_exec_tty_detach_keys_leave_process_running(client, box):
    api = client.api
    eid = api.exec_create(box.id, "sh", stdin=True, tty=True, detach_keys="ctrl-x")["Id"]
    sock = _raw(api.exec_start(eid, socket=True, tty=True))
    try:
        sock.sendall(b"echo in-exec-$((3*3))\n")
        assert b"in-exec-9" in _read_until(sock, b"in-exec-9")
        sock.sendall(b"\x18")  # ctrl-x: the stream ends at once, the shell lives on
        sock.settimeout(20)
        while sock.recv(4096):
            pass
    finally:
        sock.close()
    info = api.exec_inspect(eid)
    assert info["Running"] is True and info["ExitCode"] is None and info["DetachKeys"] == "ctrl-x"
    os.kill(info["Pid"], 9)  # Pid is the host's view, as in dockerd
    deadline = time.monotonic() + 20
    while api.exec_inspect(eid)["Running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.exec_inspect(eid)["Running"] is False


def test_exec_start_framing_follows_the_start_body_not_the_exec(client, box):
    """dockerd frames an exec's stream unless the *start* body says Tty (docker-py's
    test_exec_start_socket): a TTY exec started with tty=False reads stdcopy frames."""
    api = client.api
    line = "yay, interactive exec!"
    eid = api.exec_create(box.id, ["printf", line], tty=True)["Id"]
    sock = _raw(api.exec_start(eid, socket=True))
    try:
        data = _read_until(sock, line.encode())
        sock.settimeout(20)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    assert FrameDecoder().feed(data) == [(1, line.encode())]
    # the process itself had a terminal (created with tty=True); docker-py demuxes the frames
    eid = api.exec_create(box.id, ["tty"], tty=True)["Id"]
    assert api.exec_start(eid, tty=False).startswith(b"/dev/pts/")
