"""Interactive use through the real docker CLI: `run -it`, `exec`, attach, pipes (issue 4).

The CLI runs under a real pty (pexpect) and is typed at like a person would.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import secrets
import subprocess
import time

import pexpect
import pytest

from tests.support.daemon import docker
from tests.support.procs import PeakRss


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def _name(tag: str) -> str:
    return f"dytest-{tag}-{secrets.token_hex(3)}"


@pytest.fixture
def sleeper(d):
    """A running busybox container to exec into."""
    name = _name("sleeper")
    docker(d, "run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    yield name
    docker(d, "rm", "-f", name)


def _spawn(d, *args: str, rows: int = 30, cols: int = 100) -> pexpect.spawn:
    return pexpect.spawn("docker", list(args), env=d.env(), dimensions=(rows, cols), timeout=30)


def _state(d, name: str) -> dict:
    return json.loads(docker(d, "inspect", "--format", "{{json .State}}", name, check=True).stdout)


def _wait_for(pred, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _prompt_back(p: pexpect.spawn) -> None:
    """Readiness of a freshly attached client: press Enter until the shell's prompt comes back
    (keystrokes typed before the attach is connected would be lost)."""
    _wait_for(lambda: (p.sendline(""), p.expect([r"# ", pexpect.TIMEOUT], timeout=0.5))[1] == 0,
              what="the shell's prompt through the new attach")


def _running(d, container: str, command: str) -> None:
    """Wait until ``command`` runs in the container (before a keystroke or signal meant for it)."""
    _wait_for(lambda: command in docker(d, "top", container).stdout, what=f"{command!r} to run")


def test_run_it_shell_session_resize_ctrl_c_detach_attach(d):
    """A person at a terminal: tty, stty size, resize, Ctrl-C, Ctrl-P Ctrl-Q, docker attach."""
    name = _name("it")
    p = _spawn(d, "run", "-it", "--name", name, "busybox", "sh")
    try:
        p.expect(r"# ")
        p.sendline("tty")
        p.expect(r"/dev/pts/0")
        p.sendline("stty size")
        p.expect(r"30 100")
        p.setwinsize(42, 132)  # SIGWINCH to the CLI → POST /containers/{id}/resize
        _wait_for(lambda: (p.sendline("stty size"), p.expect([r"42 132", r"\d+ \d+"]))[1] == 0,
                  what="stty size to follow the terminal")
        # job control: Ctrl-C reaches the shell's foreground job, not the client
        p.sendline("sleep 100")
        _running(d, name, "sleep 100")
        p.sendcontrol("c")
        p.expect(r"# ")
        p.sendline("echo still-$((40+2))")
        p.expect(r"still-42")
        # Ctrl-P Ctrl-Q: the CLI detaches, the container keeps running
        p.sendcontrol("p")
        p.sendcontrol("q")
        p.expect(pexpect.EOF)
        p.close()
        assert p.exitstatus == 0
        assert _state(d, name)["Running"] is True
        # docker attach: the same shell, still able to read what we type
        p = _spawn(d, "attach", name)
        _prompt_back(p)
        p.sendline("echo back-$((1+1))")
        p.expect(r"back-2")
        # detach again, and come back once more
        p.sendcontrol("p")
        p.sendcontrol("q")
        p.expect(pexpect.EOF)
        p.close()
        # `docker attach` reports the detach as "read escape sequence" (its exit status is 1)
        assert b"read escape sequence" in p.before and _state(d, name)["Running"] is True
        p = _spawn(d, "attach", name)
        _prompt_back(p)
        p.sendline("echo third-$((1+2))")
        p.expect(r"third-3")
        p.sendline("exit 5")
        p.expect(pexpect.EOF)
        p.close()
        assert p.exitstatus == 5
        _wait_for(lambda: not _state(d, name)["Running"], what="the shell to exit")
        assert _state(d, name)["ExitCode"] == 5
    finally:
        p.close(force=True)
        docker(d, "rm", "-f", name)


def test_exec_it_shell_and_resize(d, sleeper):
    p = _spawn(d, "exec", "-it", sleeper, "sh", rows=25, cols=90)
    try:
        p.expect(r"# ")
        p.sendline("tty; stty size")
        p.expect(r"/dev/pts/\d+")
        p.expect(r"25 90")
        p.setwinsize(33, 111)
        _wait_for(lambda: (p.sendline("stty size"), p.expect([r"33 111", r"\d+ \d+"]))[1] == 0,
                  what="exec stty size to follow the terminal")
        p.sendline("sleep 101")
        _running(d, sleeper, "sleep 101")
        p.sendcontrol("c")
        p.expect(r"# ")
        p.sendline("exit 7")
        p.expect(pexpect.EOF)
        p.close()
        assert p.exitstatus == 7
    finally:
        p.close(force=True)



def _stty_size(d, *args: str, rows: int, cols: int) -> str:
    """What ``stty size`` prints through the CLI run under a pty of ``rows`` x ``cols``."""
    p = _spawn(d, *args, rows=rows, cols=cols)
    try:
        out = p.read().decode(errors="replace").strip()
    finally:
        p.close()
    return out


def test_exec_tty_has_the_client_size_before_the_process_runs(d, sleeper):
    """Issue 15: the exec's pty has the size from ConsoleSize when the process starts.

    A resize after the start lost the race against the process's first
    TIOCGWINSZ about one time in four ("stty: standard input", rows 0); 48
    execs, with -it and with -t alone, catch that nearly always."""
    wrong = []
    for i in range(48):
        rows, cols = 20 + i % 7, 70 + i % 11
        flags = "-it" if i % 3 else "-t"
        out = _stty_size(d, "exec", flags, sleeper, "sh", "-c", "stty size", rows=rows, cols=cols)
        if out != f"{rows} {cols}":
            wrong.append((flags, rows, cols, out))
    assert wrong == []


def test_run_it_and_start_ai_have_the_client_size_at_start(d):
    """``run -it`` and ``create -it`` + ``start -ai``: the container's pty has the size from
    HostConfig.ConsoleSize when its process starts."""
    wrong = []
    for i in range(4):
        rows, cols = 21 + i, 81 + i
        out = _stty_size(d, "run", "-it", "--rm", "busybox", "stty", "size", rows=rows, cols=cols)
        if out != f"{rows} {cols}":
            wrong.append(("run", rows, cols, out))
        cid = _stty_size(d, "create", "-it", "busybox", "stty", "size", rows=rows, cols=cols)
        try:
            out = _stty_size(d, "start", "-ai", cid, rows=rows, cols=cols)
        finally:
            docker(d, "rm", "-f", cid)
        if out != f"{rows} {cols}":
            wrong.append(("start -ai", rows, cols, out))
    assert wrong == []

def test_pipe_through_run_and_rm_waits_for_removal(d):
    name = _name("pipe")
    p = docker(d, "run", "--rm", "-i", "--name", name, "busybox", "cat", input="hi\n")
    assert (p.returncode, p.stdout) == (0, "hi\n"), p.stderr
    # --rm -i returns only once the container is gone
    assert name not in docker(d, "ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()
    # stdin EOF reaches the container, output drains after it
    p = docker(d, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo after-eof", input="a\nb\n")
    assert p.stdout == "a\nb\nafter-eof\n"


def test_exec_copies_100mb_intact(d, sleeper, tmp_path):
    data = os.urandom(1 << 20) * 100
    src = tmp_path / "big"
    src.write_bytes(data)
    with open(src, "rb") as f:
        p = subprocess.run(["docker", "exec", "-i", sleeper, "sh", "-c", "cat > /f"], stdin=f,
                           env=d.env(), capture_output=True, timeout=180)
    assert p.returncode == 0, p.stderr
    out = docker(d, "exec", sleeper, "sha256sum", "/f", check=True).stdout
    assert out.split()[0] == hashlib.sha256(data).hexdigest()


def test_exec_output_reaches_a_slow_reader_whole_and_in_order(d, sleeper):
    """120 MB of exec output while the client reads nothing for two seconds: the daemon holds the
    process back (no unbounded buffering) and delivers every byte, stdout and stderr apart."""
    size = 120_000_000
    script = f"i=0; while [ $i -lt 200 ]; do echo err$i >&2; i=$((i+1)); done; head -c {size} /dev/zero; echo end"
    peak = PeakRss(d.proc.pid)
    p = subprocess.Popen(["docker", "exec", sleeper, "sh", "-c", script], env=d.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0
    assert len(out) == size + 4 and out.endswith(b"end\n")
    assert err.decode().split() == [f"err{i}" for i in range(200)]
    grown = peak.grown_kb()
    assert grown < 48 * 1024, f"daemon peak RSS grew by {grown} kB for a slow exec client"


def test_exec_returns_when_the_process_ends_though_a_background_child_holds_its_output(d, sleeper):
    """As with conmon: the stream ends with the exec's process, not with the last holder of its pipes."""
    t0 = time.monotonic()
    p = docker(d, "exec", sleeper, "sh", "-c", "sleep 30 & echo started")
    assert (p.returncode, p.stdout) == (0, "started\n")
    assert time.monotonic() - t0 < 15


def test_exec_exit_codes_and_messages(d, sleeper):
    assert docker(d, "exec", sleeper, "true").returncode == 0
    assert docker(d, "exec", sleeper, "sh", "-c", "exit 3").returncode == 3
    p = docker(d, "exec", sleeper, "no-such-binary")
    assert p.returncode == 127
    assert "OCI runtime exec failed" in p.stdout and "no-such-binary" in p.stdout and "not found" in p.stdout
    p = docker(d, "exec", sleeper, "/etc")
    assert p.returncode == 126
    assert "permission denied" in (p.stdout + p.stderr).lower()
    p = docker(d, "exec", sleeper, "sh", "-c", "echo out; echo err >&2")
    assert (p.stdout, p.stderr) == ("out\n", "err\n")


def test_exec_options(d, sleeper, tmp_path):
    envfile = tmp_path / "env"
    envfile.write_text("FROM_FILE=yes\n")
    p = docker(d, "exec", "-u", "1000:1000", "-w", "/tmp", "-e", "A=b", "--env-file", str(envfile), sleeper,
               "sh", "-c", "id -u; id -g; pwd; echo $A $FROM_FILE")
    assert p.stdout.split() == ["1000", "1000", "/tmp", "b", "yes"], p.stderr
    # the exec joins the container's namespaces: same hostname, same pid namespace
    host = docker(d, "inspect", "--format", "{{.Config.Hostname}}", sleeper, check=True).stdout.strip()
    assert docker(d, "exec", sleeper, "hostname", check=True).stdout.strip() == host
    assert "sleep 1000" in docker(d, "exec", sleeper, "ps", check=True).stdout
    # --privileged: the full capability set; without it the default set
    full = docker(d, "exec", "--privileged", sleeper, "grep", "CapEff", "/proc/self/status", check=True).stdout
    plain = docker(d, "exec", sleeper, "grep", "CapEff", "/proc/self/status", check=True).stdout
    assert int(full.split()[1], 16) > int(plain.split()[1], 16)
    # -d: returns at once, the process runs on
    docker(d, "exec", "-d", sleeper, "sh", "-c", "sleep 0.5; echo done > /detached", check=True)
    _wait_for(lambda: docker(d, "exec", sleeper, "cat", "/detached").stdout == "done\n",
              what="the detached exec to write its file")


def test_exec_joins_the_container_cgroup(d, sleeper):
    inside = docker(d, "exec", sleeper, "cat", "/proc/self/cgroup", check=True).stdout
    init = docker(d, "exec", sleeper, "cat", "/proc/1/cgroup", check=True).stdout
    assert sorted(inside.splitlines()) == sorted(init.splitlines())


def test_exec_inspect_and_exec_ids(d, sleeper):
    p = _spawn(d, "exec", "-it", sleeper, "sh")
    try:
        p.expect(r"# ")
        ids = json.loads(docker(d, "inspect", "--format", "{{json .ExecIDs}}", sleeper, check=True).stdout)
        assert len(ids) == 1
        status, info = d.request("GET", f"/exec/{ids[0]}/json")
        assert status == 200
        assert info["Running"] is True and info["ExitCode"] is None and info["Pid"] > 0
        assert info["ProcessConfig"]["tty"] is True and info["ProcessConfig"]["entrypoint"] == "sh"
        assert info["OpenStdin"] is True
        p.sendline("exit 4")
        p.expect(pexpect.EOF)
        p.close()
        status, info = d.request("GET", f"/exec/{ids[0]}/json")
        assert (info["Running"], info["ExitCode"]) == (False, 4)
        assert docker(d, "inspect", "--format", "{{json .ExecIDs}}", sleeper).stdout.strip() == "null"
        status, _ = d.request("POST", f"/exec/{ids[0]}/start", {})
        assert status == 409
    finally:
        p.close(force=True)
    assert d.request("GET", "/exec/nope/json") == (404, {"message": "No such exec instance: nope"})


def test_fifty_concurrent_execs(d, sleeper):
    def one(i: int) -> tuple[int, int, str]:
        p = docker(d, "exec", sleeper, "sh", "-c", f"echo n{i}; exit {i % 7}")
        return i, p.returncode, p.stdout

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    for i, code, out in results:
        assert (code, out) == (i % 7, f"n{i}\n")


def test_exec_in_stopped_or_paused_container(d):
    name = _name("stopped")
    docker(d, "run", "--name", name, "busybox", "true", check=True)
    try:
        cid = docker(d, "inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
        p = docker(d, "exec", name, "true")
        assert p.returncode != 0
        assert f"container {cid} is not running" in p.stderr
        p = docker(d, "attach", name)
        assert p.returncode != 0 and "You cannot attach to a stopped container" in p.stderr
    finally:
        docker(d, "rm", "-f", name)
    name = _name("paused")
    docker(d, "run", "-d", "--name", name, "busybox", "sleep", "100", check=True)
    try:
        docker(d, "pause", name, check=True)
        p = docker(d, "exec", name, "true")
        assert p.returncode != 0 and "is paused, unpause the container before exec" in p.stderr
        docker(d, "unpause", name, check=True)
        assert docker(d, "exec", name, "true").returncode == 0
    finally:
        docker(d, "rm", "-f", name)


def test_run_attach_flags_and_tty_logs(d):
    p = docker(d, "run", "--rm", "-a", "stdout", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (p.stdout, p.stderr) == ("out\n", "")
    p = docker(d, "run", "--rm", "--attach", "stderr", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (p.stdout, p.stderr) == ("", "err\n")
    # a TTY container's log and attach carry raw bytes, no frames
    name = _name("ttylog")
    docker(d, "run", "-t", "--name", name, "busybox", "sh", "-c", "echo one; echo two >&2", check=True)
    try:
        raw = subprocess.run(["curl", "-s", "--unix-socket", d.socket,
                              f"http://x/containers/{name}/logs?stdout=1&stderr=1"],
                             capture_output=True, timeout=30).stdout
        assert raw == b"one\r\ntwo\r\n"
    finally:
        docker(d, "rm", "-f", name)


def test_run_detached_then_attach(d):
    name = _name("late")
    docker(d, "run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1; echo late; exit 2", check=True)
    try:
        p = docker(d, "attach", name)
        assert (p.returncode, p.stdout) == (2, "late\n")
    finally:
        docker(d, "rm", "-f", name)


def test_top_wait_resize_while_streams_open(d):
    name = _name("busy")
    docker(d, "run", "-d", "-i", "--name", name, "busybox", "cat", check=True)
    attach = subprocess.Popen(["docker", "attach", name], env=d.env(), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:  # the CLI sends what we write once its attach is connected: no wait needed before writing
        top = docker(d, "top", name, "-o", "pid,comm", check=True).stdout
        assert "cat" in top and top.splitlines()[0].split() == ["PID", "COMMAND"]
        # resize of a container without a TTY: accepted and ignored, as dockerd does
        assert d.request("POST", f"/containers/{name}/resize?h=10&w=20")[0] == 200
        attach.stdin.write(b"ping\n")
        attach.stdin.flush()
        assert attach.stdout.readline() == b"ping\n"
        waiter = subprocess.Popen(["docker", "wait", name], env=d.env(), stdout=subprocess.PIPE, text=True)
        attach.stdin.close()  # StdinOnce is off for run -d -i: the client's EOF does not reach cat
        time.sleep(0.5)
        assert _state(d, name)["Running"] is True
        docker(d, "kill", name, check=True)
        assert waiter.communicate(timeout=30)[0].strip() == "137"
        assert attach.wait(30) == 137
    finally:
        attach.kill()
        attach.wait()
        docker(d, "rm", "-f", name)
    assert d.request("POST", f"/containers/{name}/resize?h=10&w=20")[0] == 404


def test_client_disconnect_mid_stream_leaves_container_running(d, sleeper):
    p = subprocess.Popen(["docker", "exec", sleeper, "sh", "-c", "while true; do echo x; done"],
                         env=d.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout.read(1000)
    p.kill()
    p.wait()
    name = _name("att")
    docker(d, "run", "-d", "--name", name, "busybox", "sh", "-c", "while true; do echo y; sleep 0.01; done",
           check=True)
    try:
        a = subprocess.Popen(["docker", "attach", name], env=d.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        assert a.stdout.read(10)
        a.kill()
        a.wait()
        time.sleep(0.3)
        assert _state(d, name)["Running"] is True
        assert docker(d, "exec", sleeper, "true").returncode == 0
    finally:
        docker(d, "rm", "-f", name)


def test_exec_under_crun(d):
    name = _name("crun")
    if "crun" not in docker(d, "info", "--format", "{{json .Runtimes}}", check=True).stdout:
        pytest.fail("crun is installed on this machine but the daemon does not offer it")
    docker(d, "run", "-d", "--runtime", "crun", "--name", name, "busybox", "sleep", "100", check=True)
    try:
        p = docker(d, "exec", "-u", "1000", "-w", "/tmp", name, "sh", "-c", "id -u; pwd; exit 3")
        assert (p.returncode, p.stdout.split()) == (3, ["1000", "/tmp"])
        assert docker(d, "exec", "-i", name, "cat", input="via crun\n").stdout == "via crun\n"
        assert docker(d, "exec", name, "nope").returncode == 127
        p = _spawn(d, "exec", "-it", name, "sh")
        p.expect(r"# ")
        p.sendline("tty")
        p.expect(r"/dev/pts/\d+")
        p.sendline("exit")
        p.expect(pexpect.EOF)
        p.close()
        assert p.exitstatus == 0
    finally:
        docker(d, "rm", "-f", name)


def test_sig_proxy(d):
    """Without a TTY the CLI forwards its signals to the container (--sig-proxy, on by default)."""
    script = 'trap "echo got-term; exit 9" TERM; echo ready; while true; do sleep 0.1; done'
    name = _name("sigproxy")
    p = subprocess.Popen(["docker", "run", "--rm", "--name", name, "busybox", "sh", "-c", script], env=d.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the CLI forwards signals from right after the create (docker/cli runContainer); the
        # daemon takes a kill once it has recorded the start, which may come after "ready"
        assert p.stdout.readline() == "ready\n"
        _wait_for(lambda: _state(d, name)["Running"], what="the start to be recorded")
        p.send_signal(15)
        out, _ = p.communicate(timeout=30)
        assert (p.returncode, out) == (9, "got-term\n")
    finally:
        p.kill()
        p.wait()
        docker(d, "rm", "-f", name)
    name = _name("nosigproxy")
    p = subprocess.Popen(["docker", "run", "--sig-proxy=false", "--name", name, "busybox", "sh", "-c", script],
                         env=d.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(15)
        time.sleep(1)  # a window for the signal to (wrongly) reach the container
        assert _state(d, name)["Running"] is True  # the signal stayed with the client
        p.kill()
        assert "got-term" not in p.communicate(timeout=30)[0]
    finally:
        p.kill()
        p.wait()
        docker(d, "rm", "-f", name)
