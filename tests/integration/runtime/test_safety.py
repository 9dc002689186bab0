"""Escapes the runtime must close: symlinked mount targets, /proc/<pid>/exe, leaked fds; and the pty."""

from __future__ import annotations

import array
import json
import os
import socket
import threading

import pytest

pytestmark = pytest.mark.timeout(120)


def test_mount_destination_symlink_stays_inside_rootfs(rt, make_bundle, tmp_path):
    host_dir = tmp_path / "host-target"
    host_dir.mkdir()
    b = make_bundle(["sh", "-c", "ls -d /escape/.; grep ' /escape\\| /host' /proc/mounts"], copy_rootfs=True)
    rootfs = b / "rootfs"
    os.symlink(str(host_dir), rootfs / "escape")  # absolute link to a host path
    spec = json.loads((b / "config.json").read_text())
    spec["mounts"].append({"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"})
    spec["mounts"].append({"destination": "/hostlink/../../../../escape2", "type": "tmpfs", "source": "tmpfs"})
    (b / "config.json").write_text(json.dumps(spec))
    p = rt.run(b)
    assert p.returncode == 0, p.stderr
    assert list(host_dir.iterdir()) == []  # nothing created or mounted on the host side
    inside = rootfs / str(host_dir).lstrip("/") / "sub"
    assert inside.is_dir()  # the link was resolved with the rootfs as /
    assert (rootfs / "escape2").is_dir()  # ".." stopped at the rootfs
    with open("/proc/self/mountinfo") as f:
        assert str(host_dir) not in f.read()


def test_runtime_interpreter_cannot_be_overwritten(rt, make_bundle):
    """CVE-2019-5736 class: /proc/<init>/exe (the runtime's Python while the init waits, and what
    `#!/proc/self/exe` would run) leads to a read-only mount, so no write can reach the host binary."""
    import errno

    from dockyard.runtime.native import selfprotect

    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    pid = rt.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/exe").startswith(selfprotect.INTERPRETER_DIR + "/")
    # the attack keeps an O_PATH fd and reopens it for writing once the process is gone
    # (ETXTBSY before): the mount it leads to is read-only, so that write fails with EROFS
    fd = os.open(f"/proc/{pid}/exe", os.O_PATH)
    try:
        assert os.fstatvfs(fd).f_flag & os.ST_RDONLY
        with pytest.raises(OSError) as err:
            os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND)
        assert err.value.errno in (errno.EROFS, errno.ETXTBSY)
    finally:
        os.close(fd)
    rt.cmd("delete", "--force", cid)


def test_runtime_exe_unreachable_from_container(rt, make_bundle):
    """CVE-2019-5736 class: while the init is still the runtime (created state), a process in
    the container cannot open /proc/1/exe, which would be the host's Python binary."""
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    p = rt.cmd("exec", cid, "sh", "-c", "cat /proc/1/exe > /dev/null && echo OPENED || echo DENIED; "
                                       "readlink /proc/1/exe || echo NOLINK", check=False)
    assert "DENIED" in p.stdout and "OPENED" not in p.stdout, (p.stdout, p.stderr)
    assert "NOLINK" in p.stdout
    rt.cmd("delete", "--force", cid)


def test_runtime_fds_do_not_reach_exec_process(rt, make_bundle, tmp_path):
    """CVE-2024-21626 class: an fd the runtime holds (here a host dir) is not inherited."""
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    rt.cmd("start", cid)
    leak = os.open(str(tmp_path), os.O_RDONLY)
    try:
        p = rt.cmd("exec", cid, "sh", "-c", "ls /proc/self/fd; readlink /proc/self/cwd", pass_fds=(leak,))
    finally:
        os.close(leak)
    assert p.stdout.split() == ["0", "1", "2", "3", "/"]
    rt.cmd("delete", "--force", cid)


def _console_server(path: str, result: dict) -> threading.Thread:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(4))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:4])
        result["name"] = msg.decode()
        master = fds[0]
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO once the slave side is closed
                break
            if not data:
                break
            chunks.append(data)
        result["output"] = b"".join(chunks).decode(errors="replace")
        os.close(master)
        conn.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_terminal_master_sent_over_console_socket(rt, make_bundle, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    result: dict = {}
    t = _console_server(sock_path, result)
    b = make_bundle(["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo INTERACTIVE"], process__terminal=True)
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), "--console-socket", sock_path, cid)
    rt.cmd("start", cid)
    t.join(timeout=30)
    assert "/dev/pts/0" in result.get("output", ""), result
    assert "INTERACTIVE" in result["output"]
    assert result["name"] == "/dev/pts/0"
    rt.cmd("delete", "--force", cid)


def test_terminal_without_console_socket_is_refused(rt, make_bundle):
    cid = rt.new_id()
    p = rt.cmd("create", "--bundle", str(make_bundle(["sh"], process__terminal=True)), cid, check=False)
    assert p.returncode != 0 and "--console-socket" in p.stderr
    assert not (rt.root / cid).exists()


def test_exec_tty_sends_pty_over_console_socket(rt, make_bundle, tmp_path):
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    rt.cmd("start", cid)
    sock_path = str(tmp_path / "exec-console.sock")
    result: dict = {}
    t = _console_server(sock_path, result)
    rt.cmd("exec", "--tty", "--detach", "--console-socket", sock_path, cid, "sh", "-c", "tty; echo EXEC-TTY")
    t.join(timeout=30)
    assert "EXEC-TTY" in result.get("output", ""), result
    assert result["name"].startswith("/dev/pts/")
    rt.cmd("delete", "--force", cid)
