"""Job limits from config.json, and what Wine does with each (support.py).

A limit Wine enforces is asserted to bite; a limit Wine accepts without
enforcing is asserted to be accepted and *not* to bite, so support.py (and
the docs table checked against it) can never claim more than was seen.
"""

from __future__ import annotations

from tests.integration.windows import wine as winelib
from tests.integration.windows.conftest import WinRuntime, host_pids_with, settled_count
from tests.integration.windows.support import ENFORCED, NOT_ENFORCED, REFUSED, WINE_SUPPORT

PIDS_LIMIT = "io.dockyard.windows.pids-limit"

THREE_CHILDREN = """
import subprocess, sys, time
for i in range(3):
    try:
        subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', sys.argv[1]])
        print('child', i, 'started', flush=True)
    except OSError as e:
        print('child', i, 'refused', getattr(e, 'winerror', e), flush=True)
print('done', flush=True)
time.sleep(120)
"""


def test_process_limit_and_the_third_child(winrt: WinRuntime) -> None:
    """Limit 3 = the init and two children: the third child must be refused
    where the kernel enforces ActiveProcessLimit."""
    cid = winrt.new_id()
    bundle = winrt.bundle(THREE_CHILDREN, annotations={PIDS_LIMIT: "3"})
    result, out = winrt.create(cid, bundle)
    assert result.returncode == 0, out.read()  # the limit was accepted by SetInformationJobObject
    assert winrt.cli("start", cid).returncode == 0
    lines = out.wait_for("done").splitlines()
    assert lines[:2] == ["child 0 started", "child 1 started"]
    if WINE_SUPPORT["JOB_OBJECT_LIMIT_ACTIVE_PROCESS"] == ENFORCED:
        assert lines[2].startswith("child 2 refused")
        assert settled_count(winrt.marker, 3) == 3
    else:
        assert WINE_SUPPORT["JOB_OBJECT_LIMIT_ACTIVE_PROCESS"] == NOT_ENFORCED
        assert lines[2] == "child 2 started", "Wine now enforces the process limit: update support.py and the docs"
        assert settled_count(winrt.marker, 4) == 4
    assert winrt.cli("delete", "--force", cid).returncode == 0


def test_job_memory_limit(winrt: WinRuntime) -> None:
    """64 MiB for the job; the init asks for 256 MiB."""
    cid = winrt.new_id()
    code = ("import sys\ntry:\n    b = bytearray(256 << 20)\n    print('allocated', flush=True)\n"
            "except MemoryError:\n    print('refused', flush=True)\n    sys.exit(1)")
    bundle = winrt.bundle(code, windows={"resources": {"memory": {"limit": 64 << 20}}})
    r = winrt.cli("run", "--bundle", winelib.to_windows(bundle), cid)
    if WINE_SUPPORT["JOB_OBJECT_LIMIT_JOB_MEMORY"] == ENFORCED:
        assert (r.returncode, r.stdout.strip()) == (1, "refused")
    else:
        assert WINE_SUPPORT["JOB_OBJECT_LIMIT_JOB_MEMORY"] == NOT_ENFORCED
        assert (r.returncode, r.stdout.strip()) == (0, "allocated"), \
            "Wine now enforces the job memory limit: update support.py and the docs"


def _assert_nothing_left(winrt: WinRuntime, cid: str) -> None:
    assert not (winrt.root / cid).exists()
    assert not winrt.job_exists(cid)
    assert host_pids_with(winrt.marker) == []


def test_a_limit_the_kernel_refuses_fails_create_and_leaves_nothing(winrt: WinRuntime) -> None:
    """Wine refuses CPU rate control: create must say which field, and leave
    no job, no process and no state behind."""
    assert WINE_SUPPORT["CPU rate control"] == REFUSED
    cid = winrt.new_id()
    bundle = winrt.bundle("print('never')", windows={"resources": {"cpu": {"maximum": 5000}}})
    result, out = winrt.create(cid, bundle)
    message = out.read()
    assert result.returncode == 1
    assert "windows.resources.cpu.maximum" in message and "refused" in message, message
    assert "never" not in message
    _assert_nothing_left(winrt, cid)


def test_a_program_that_does_not_exist_fails_create_and_leaves_nothing(winrt: WinRuntime) -> None:
    """The failure comes after the job exists (CreateProcessW in the supervisor)."""
    cid = winrt.new_id()
    bundle = winrt.bundle("")
    cfg = (bundle / "config.json").read_text().replace("python.exe", "no-such-program.exe")
    (bundle / "config.json").write_text(cfg)
    result, out = winrt.create(cid, bundle)
    message = out.read()
    assert result.returncode == 1
    assert "CreateProcessW" in message and "no-such-program.exe" in message, message
    _assert_nothing_left(winrt, cid)


def test_a_linux_section_is_refused_by_name(winrt: WinRuntime) -> None:
    cid = winrt.new_id()
    bundle = winrt.bundle("print('never')", linux={"namespaces": [{"type": "pid"}]})
    log = winrt.tmp / "runtime.log"
    r = winrt.cli("--log", winelib.to_windows(log), "--log-format", "json", "create",
                  "--bundle", winelib.to_windows(bundle), cid)
    assert r.returncode == 1
    assert 'section "linux" is for Linux containers only' in r.stderr
    assert '"level": "error"' in log.read_text() and "linux" in log.read_text()
    _assert_nothing_left(winrt, cid)


def test_ui_restrictions_and_kill_on_close_are_accepted(winrt: WinRuntime) -> None:
    """Every container's job gets the UI restrictions and KILL_ON_JOB_CLOSE;
    Wine takes both (a refusal would fail create)."""
    cid = winrt.new_id()
    r = winrt.cli("run", "--bundle", winelib.to_windows(winrt.bundle("print('ok')")), cid)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr
