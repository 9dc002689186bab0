"""Debian's conmon drives dockyard-runtime like it drives runc: exit file, log file, terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.timeout(120)


def _wait_file(path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return open(path).read()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


def _run_under_conmon(rt, bundle, tmp_path, terminal: bool) -> tuple[str, str, str]:
    conmon = shutil.which("conmon")
    if not conmon:
        pytest.fail("conmon is not installed (scripts/install.sh installs it)")
    cid = rt.new_id()
    exit_dir = tmp_path / "exits"
    exit_dir.mkdir()
    sock_dir = tmp_path / "socks"
    sock_dir.mkdir()
    log = tmp_path / "ctr.log"
    pid_file = tmp_path / "ctr.pid"
    conmon_pid_file = tmp_path / "conmon.pid"
    args = [conmon, "--api-version", "1", "-c", cid, "-u", cid, "-r", rt.binary, "-b", str(bundle),
            "-p", str(pid_file), "-n", cid, "--exit-dir", str(exit_dir), "-l", f"k8s-file:{log}",
            "--log-level", "debug", "--conmon-pidfile", str(conmon_pid_file),
            "--runtime-arg", f"--root={rt.root}", "--socket-dir-path", str(sock_dir)]
    if terminal:
        args.append("-t")
    conmon_pid = 0
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        conmon_pid = int(_wait_file(conmon_pid_file))  # conmon daemonizes, then runs `create`
        _wait_file(pid_file)
        assert rt.state(cid)["status"] == "created"
        rt.cmd("start", cid)
        code = _wait_file(exit_dir / cid)
        deadline = time.monotonic() + 20
        while os.path.exists(f"/proc/{conmon_pid}") and time.monotonic() < deadline:
            time.sleep(0.05)  # conmon writes the last log lines, then exits
        rt.cmd("delete", cid)
        return cid, code, log.read_text()
    finally:
        if conmon_pid and os.path.exists(f"/proc/{conmon_pid}"):
            os.kill(conmon_pid, 9)


def test_conmon_exit_code_and_log(rt, make_bundle, tmp_path):
    bundle = make_bundle(["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"])
    _, code, log = _run_under_conmon(rt, bundle, tmp_path, terminal=False)
    assert code.strip() == "3"
    lines = log.splitlines()
    assert any(line.split(" ", 3)[1:] == ["stdout", "F", "to-stdout"] for line in lines), log
    assert any(line.split(" ", 3)[1:] == ["stderr", "F", "to-stderr"] for line in lines), log


def test_conmon_terminal_mode(rt, make_bundle, tmp_path):
    bundle = make_bundle(["sh", "-c", "tty; [ -t 1 ] && echo IS-A-TTY"], process__terminal=True)
    _, code, log = _run_under_conmon(rt, bundle, tmp_path, terminal=True)
    assert code.strip() == "0"
    assert "/dev/pts/0" in log and "IS-A-TTY" in log
