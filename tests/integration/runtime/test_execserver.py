"""``dockyard-runtime exec-server``: the engine's zygote for exec, driven over its socket."""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess

import pytest


class Server:
    """An exec server on a socketpair, as the daemon starts it."""

    def __init__(self, rt) -> None:
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([rt.binary, "--root", str(rt.root), "exec-server", "--fd",
                                      str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                                     stdin=subprocess.DEVNULL)
        theirs.close()

    def request(self, cid: str, process: dict, fds: list[int]) -> socket.socket:
        reply, reply_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        socket.send_fds(self.ctl, [json.dumps({"id": cid, "process": process}).encode()],
                        [reply_theirs.fileno(), *fds])
        reply_theirs.close()
        return reply

    def close(self) -> int:
        self.ctl.close()
        return self.proc.wait(timeout=10)


def messages(reply: socket.socket) -> list[dict]:
    reply.settimeout(30)
    data = b""
    while chunk := reply.recv(4096):
        data += chunk
    return [json.loads(line) for line in data.splitlines()]


def base_process(args: list[str]) -> dict:
    return {"args": args, "cwd": "/", "env": ["PATH=/bin:/usr/bin"], "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}}


@pytest.fixture
def running(rt, make_bundle):
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"], hostname="zyg")), cid)
    rt.cmd("start", cid)
    return cid


def run_piped(server: Server, cid: str, process: dict, stdin: bytes = b"") -> tuple[list[dict], bytes, bytes]:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    reply = server.request(cid, process, [in_r, out_w, err_w])
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    os.write(in_w, stdin)
    os.close(in_w)
    with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
        msgs = messages(reply)
        return msgs, out.read(), err.read()


def test_exec_server_runs_execs_like_the_exec_command(rt, running):
    server = Server(rt)
    try:
        script = "hostname; cat; echo oops >&2; grep -E '^(CapEff|Seccomp)' /proc/self/status; ls /proc/self/fd; exit 7"
        msgs, out, err = run_piped(server, running, base_process(["sh", "-c", script]), stdin=b"fed\n")
        assert [list(m) for m in msgs] == [["pid"], ["exit"]]
        assert msgs[1]["exit"] == 7
        lines = out.decode().split("\n")
        assert lines[:2] == ["zyg", "fed"]
        assert "CapEff:\t0000000000000020" in lines  # CAP_KILL only: the process's own set
        assert lines[-5:-1] == ["0", "1", "2", "3"]  # nothing of the server's reaches the process
        assert err == b"oops\n"
        # many at once, all answered
        results = [run_piped(server, running, base_process(["sh", "-c", f"echo {i}"])) for i in range(10)]
        assert [r[1] for r in results] == [f"{i}\n".encode() for i in range(10)]
        assert all(r[0][-1] == {"exit": 0} for r in results)
        # a signal death is 128+n, as from `dockyard-runtime exec`
        msgs, _, _ = run_piped(server, running, base_process(["sh", "-c", "kill -9 $$"]))
        assert msgs[-1] == {"exit": 137}
    finally:
        assert server.close() == 0  # EOF on its control socket: the server exits cleanly


def test_exec_server_reports_errors_and_leaves_nothing(rt, running):
    server = Server(rt)
    try:
        msgs, out, _ = run_piped(server, running, base_process(["no-such-binary"]))
        assert len(msgs) == 1 and "no-such-binary" in msgs[0]["error"] and "not found" in msgs[0]["error"]
        msgs, _, _ = run_piped(server, "dytest-missing", base_process(["true"]))
        assert len(msgs) == 1 and "dytest-missing" in msgs[0]["error"]
        # wrong fds for the request: an error, not a hang
        reply = server.request(running, base_process(["true"]), [])
        assert "fds" in messages(reply)[0]["error"]
        # the server still serves, and only the container's own process is left in it
        msgs, out, _ = run_piped(server, running, base_process(["echo", "still"]))
        assert out == b"still\n" and msgs[-1] == {"exit": 0}
        assert json.loads(rt.cmd("ps", "--format", "json", running).stdout) == [rt.state(running)["pid"]]
    finally:
        server.close()


def test_exec_server_sends_the_terminal_over_the_console_socket(rt, running):
    """Twice in a row: an exec's pty is its own, never bound on the container's /dev/console
    (a second exec once failed on the first one's stale console mount), and it has
    ``process.consoleSize`` before the process runs (issue 15: nobody resizes it here)."""
    server = Server(rt)
    try:
        for _ in range(2):
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            script = "tty; stty size; grep -c ' /dev/console ' /proc/self/mountinfo; echo typed:$(head -c 3)"
            process = dict(base_process(["sh", "-c", script]), terminal=True,
                           consoleSize={"height": 27, "width": 91})
            reply = server.request(running, process, [theirs.fileno()])
            theirs.close()
            mine.settimeout(30)
            fds = array.array("i")
            _, anc, _, _ = mine.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
            mine.close()
            fds.frombytes(anc[0][2][:fds.itemsize])
            master = fds[0]
            os.write(master, b"abc\n")  # a terminal hands input over by the line
            out = b""
            try:
                while chunk := os.read(master, 4096):
                    out += chunk
            except OSError:  # EIO: the process and its terminal are gone
                pass
            os.close(master)
            assert messages(reply)[-1] == {"exit": 0}
            lines = [line for line in out.decode().split("\r\n") if line != "abc"]  # the echo of our input
            assert lines[:3] == ["/dev/pts/0", "27 91", "0"] and "typed:abc" in lines
    finally:
        server.close()


def test_exec_server_flag_errors(rt):
    p = rt.cmd("exec-server", check=False)
    assert p.returncode == 1 and "--fd" in p.stderr
    p = rt.cmd("exec-server", "--fd", "99", check=False)
    assert p.returncode == 1 and "not an open file descriptor" in p.stderr


def test_exec_server_sees_a_container_made_again_under_the_same_id(rt, make_bundle):
    """The server reuses what it read of a container only while its state and config are unchanged."""
    server = Server(rt)
    cid = rt.new_id()
    try:
        for hostname in ("first", "second"):
            rt.cmd("create", "--bundle", str(make_bundle(["sleep", "60"], hostname=hostname)), cid)
            rt.cmd("start", cid)
            _, out, _ = run_piped(server, cid, base_process(["hostname"]))
            assert out == f"{hostname}\n".encode()
            rt.cmd("delete", "--force", cid)
        msgs, _, _ = run_piped(server, cid, base_process(["true"]))
        assert "does not exist" in msgs[0]["error"]
    finally:
        server.close()
