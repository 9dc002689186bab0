"""The OCI lifecycle of a job-object container, under Wine with the Windows CPython."""

from __future__ import annotations

import json

from tests.integration.windows import wine as winelib
from tests.integration.windows.conftest import WinRuntime, host_pids_with, settled_count
from tests.integration.windows.support import WINE_SUPPORT, ZERO

# The init starts a child (the marker, sys.argv[1], rides in its command line
# too, so the host sees both), says so, and sleeps.
TREE = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', sys.argv[1]])
print('child', child.pid, 'cwd', os.getcwd(), 'env', os.environ.get('DYTEST'), flush=True)
time.sleep(120)
"""


def test_layout_inside_the_windows_python(wine: winelib.Wine) -> None:
    """The unit test's layout table, checked by the Windows CPython itself."""
    script = winelib.SRC.parent / "tests" / "unit" / "windows" / "test_win32_layout.py"
    r = wine.python(winelib.to_windows(script))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report == {"pointer": 8, "platform": "win32", "mismatches": []}


def test_create_start_state_accounting_kill_tree_delete(winrt: WinRuntime) -> None:
    cid = winrt.new_id()
    pid_file = winrt.tmp / "pid"
    result, out = winrt.create(cid, winrt.bundle(TREE), "--pid-file", winelib.to_windows(pid_file))
    assert result.returncode == 0, out.read()

    created = winrt.state(cid)
    assert created["status"] == "created"
    pid = created["pid"]
    assert int(pid_file.read_text()) == pid
    # Suspended in its job: the init is there, and has started nothing yet.
    ps = winrt.cli("ps", "--format", "json", cid)
    assert json.loads(ps.stdout) == [pid]
    assert out.read() == ""

    assert winrt.cli("start", cid).returncode == 0
    assert winrt.state(cid)["status"] == "running"
    words = out.wait_for("env").split()
    child = int(words[1])
    assert words[3:6] == ["C:\\", "env", winrt.marker]  # cwd and env from config.json
    # Wine briefly shows one more, short-lived process in a job whose process
    # has just started a child (it also counts in TotalProcesses).
    assert {pid, child} <= set(json.loads(winrt.cli("ps", "--format", "json", cid).stdout))
    assert settled_count(winrt.marker, 2) == 2  # the init and its child, seen from Linux

    stats = json.loads(winrt.cli("events", "--stats", cid).stdout)
    acct = stats["data"]["windows"]
    assert stats["data"]["pids"]["current"] == 2
    assert acct["processes"]["active"] == 2
    assert acct["processes"]["total"] >= 2  # Wine counts a short-lived helper process too
    if WINE_SUPPORT["accounting: CPU times"] == ZERO:
        assert stats["data"]["cpu"]["usage"]["total"] == 0

    assert winrt.cli("kill", cid, "KILL").returncode == 0
    stopped = winrt.wait_status(cid, "stopped")
    assert stopped["exitCode"] == 137  # 128 + SIGKILL, as a Linux engine expects
    assert host_pids_with(winrt.marker) == []  # the child went with the tree
    assert winrt.cli("kill", cid, "KILL").returncode == 1  # nothing left to kill

    assert winrt.cli("delete", cid).returncode == 0
    assert not (winrt.root / cid).exists()
    assert not winrt.job_exists(cid)


def test_run_reports_the_exit_code_and_output(winrt: WinRuntime) -> None:
    cid = winrt.new_id()
    code = "import os, sys; print('hello', os.environ['DYTEST'], flush=True); sys.exit(7)"
    r = winrt.cli("run", "--bundle", winelib.to_windows(winrt.bundle(code)), cid)
    assert r.returncode == 7, r.stderr
    assert r.stdout.strip() == f"hello {winrt.marker}"
    assert not (winrt.root / cid).exists()  # run deletes what it created


def test_the_first_process_takes_its_tree_with_it(winrt: WinRuntime) -> None:
    """Like PID 1 of a pid namespace: when the init exits, the job ends."""
    cid = winrt.new_id()
    code = ("import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(120)', sys.argv[1]]); sys.exit(3)")
    r = winrt.cli("run", "--bundle", winelib.to_windows(winrt.bundle(code)), cid)
    assert r.returncode == 3, r.stderr
    assert settled_count(winrt.marker, 0) == 0  # Wine's helpers can carry the marker for a moment


def test_delete_refuses_a_running_container_unless_forced(winrt: WinRuntime) -> None:
    cid = winrt.new_id()
    result, out = winrt.create(cid, winrt.bundle(TREE))
    assert result.returncode == 0, out.read()
    assert winrt.cli("start", cid).returncode == 0
    out.wait_for("env")
    refused = winrt.cli("delete", cid)
    assert refused.returncode == 1
    assert "is running" in refused.stderr
    assert winrt.cli("start", cid).returncode == 1  # not "created" any more
    forced = winrt.cli("delete", "--force", cid)
    assert forced.returncode == 0, forced.stderr
    assert host_pids_with(winrt.marker) == []
    gone = winrt.cli("state", cid)
    assert gone.returncode == 1
    assert f"container {cid} does not exist" in gone.stderr


def test_delete_of_a_created_container_ends_the_suspended_process(winrt: WinRuntime) -> None:
    cid = winrt.new_id()
    result, out = winrt.create(cid, winrt.bundle(TREE))
    assert result.returncode == 0, out.read()
    assert settled_count(winrt.marker, 1) == 1
    assert winrt.cli("delete", cid).returncode == 0
    assert host_pids_with(winrt.marker) == []
    assert not winrt.job_exists(cid)


def test_a_dead_supervisor_takes_the_container_with_it(winrt: WinRuntime) -> None:
    """KILL_ON_JOB_CLOSE: the supervisor's handle is the job's last one."""
    cid = winrt.new_id()
    result, out = winrt.create(cid, winrt.bundle(TREE))
    assert result.returncode == 0, out.read()
    assert winrt.cli("start", cid).returncode == 0
    out.wait_for("env")
    supervisor = json.loads((winrt.root / cid / "state.json").read_text())["supervisorPid"]
    kill = ("import ctypes, sys; k = ctypes.WinDLL('kernel32'); k.OpenProcess.restype = ctypes.c_void_p; "
            "h = k.OpenProcess(1, 0, int(sys.argv[1])); print(k.TerminateProcess(ctypes.c_void_p(h), 9))")
    assert winrt.wine.python("-c", kill, str(supervisor)).stdout.strip() == "1"
    winrt.wait_status(cid, "stopped")
    assert host_pids_with(winrt.marker) == []
    assert winrt.cli("delete", cid).returncode == 0


def test_a_job_name_in_use_is_refused(wine: winelib.Wine) -> None:
    """Two containers never share a job: creating an existing name fails."""
    code = ("import uuid\nfrom dockyard.errors import InvalidParameter\n"
            "from dockyard.runtime.windows.job import Job\nfrom dockyard.win32 import Kernel32\n"
            "k = Kernel32(); name = 'Local\\\\dytest-' + uuid.uuid4().hex\n"
            "first = Job.create(k, name)\n"
            "try:\n    Job.create(k, name)\nexcept InvalidParameter as e:\n    print('refused:', e)\n"
            "first.close()\n")
    r = wine.python("-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("refused: job object Local\\dytest-") and "already exists" in r.stdout


def test_the_container_has_the_monitors_stdin_stdout_and_stderr(winrt: WinRuntime) -> None:
    cid = winrt.new_id()
    code = ("import sys; line = sys.stdin.readline().strip(); "
            "print('out:' + line, flush=True); print('err:' + line, file=sys.stderr, flush=True)")
    r = winrt.cli("run", "--bundle", winelib.to_windows(winrt.bundle(code)), cid, input="ping\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "out:ping"
    assert r.stderr.strip() == "err:ping"
