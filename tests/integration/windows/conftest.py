"""Fixtures for the Windows runtime under Wine: the session's Wine and a per-test runtime."""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.windows import wine as winelib


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[winelib.Wine]:
    try:
        w = winelib.setup(tmp_path_factory.mktemp("wine"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)  # a missing wine is a failure, never a skip
    yield w
    w.wait_server()


def host_pids_with(marker: str) -> list[int]:
    """Linux pids of processes whose command line carries ``marker``: Wine
    shows a Windows process's command line in /proc, so the host sees them."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd and b"timeout" not in cmd.split(b"\0")[0]:
            found.append(int(entry))
    return found


def settled_count(marker: str, expected: int, timeout: float = 5.0) -> int:
    """How many host processes carry ``marker``, once Wine's short-lived helper
    processes (which can carry a child's command line for a moment) are gone:
    polls until the count is ``expected`` or ``timeout`` passes, and returns it."""
    deadline = time.monotonic() + timeout
    while True:
        count = len(host_pids_with(marker))
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


class Output:
    """A pipe for the container's stdout/stderr (through ``create``'s): read
    what is there now, or everything once every writer has closed."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        fcntl.fcntl(self.r, fcntl.F_SETFL, os.O_NONBLOCK)
        self.data = b""

    def close_writer(self) -> None:
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def read(self) -> str:
        try:
            while chunk := os.read(self.r, 65536):
                self.data += chunk
        except BlockingIOError:
            pass
        return self.data.decode(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.read():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the container's output within {timeout}s: {self.data!r}")
            time.sleep(0.05)
        return self.data.decode(errors="replace")

    def close(self) -> None:
        self.close_writer()
        os.close(self.r)


class WinRuntime:
    """dockyard's Windows runtime CLI, run by the Windows CPython under Wine."""

    def __init__(self, wine: winelib.Wine, tmp: pathlib.Path) -> None:
        self.wine = wine
        self.tmp = tmp
        self.root = tmp / "root"
        self.token = uuid.uuid4().hex[:10]
        self.marker = f"dymark-{self.token}"  # in the command line of every container process
        self.ids: list[str] = []
        self.outputs: list[Output] = []

    def new_id(self) -> str:
        cid = f"dytest-{self.token}-{len(self.ids)}"
        self.ids.append(cid)
        return cid

    def bundle(self, code: str, **config: Any) -> pathlib.Path:
        """A bundle whose process is the Windows python running ``code``; the
        marker rides along in the command line so the host can find it."""
        path = self.tmp / f"bundle{len(list(self.tmp.glob('bundle*')))}"
        path.mkdir()
        cfg: dict[str, Any] = {
            "ociVersion": "1.2.0",
            "process": {"args": [winelib.to_windows(self.wine.python_exe), "-c", code, self.marker],
                        "cwd": "C:\\", "env": ["DYTEST=" + self.marker]},
            "windows": {},
        }
        for key, value in config.items():
            cfg[key] = value
        (path / "config.json").write_text(json.dumps(cfg))
        return path

    def cli(self, *args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.wine.python("-m", "dockyard.runtime.windows.cli", "--root", winelib.to_windows(self.root),
                                *args, timeout=timeout, **kw)

    def create(self, cid: str, bundle: pathlib.Path, *extra: str) -> tuple[subprocess.CompletedProcess[bytes], Output]:
        """``create`` with pipes the container inherits (as a monitor would
        give); returns create's result and the container's output pipe."""
        out = Output()
        self.outputs.append(out)
        result = subprocess.run(
            [self.wine.wine, self.wine.python_exe, "-m", "dockyard.runtime.windows.cli",
             "--root", winelib.to_windows(self.root), "create", "--bundle", winelib.to_windows(bundle), *extra, cid],
            env=self.wine.env, stdin=subprocess.DEVNULL, stdout=out.w, stderr=out.w, timeout=90,
        )
        out.close_writer()
        return result, out

    def state(self, cid: str) -> dict[str, Any]:
        r = self.cli("state", cid)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def wait_status(self, cid: str, want: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (s := self.state(cid))["status"] != want:
            if time.monotonic() > deadline:
                raise AssertionError(f"container {cid} is {s['status']}, not {want}, after {timeout}s")
            time.sleep(0.2)
        return s

    def cleanup(self) -> list[int]:
        """Delete every container; return (and end) host processes left over."""
        for cid in self.ids:
            if (self.root / cid).exists():
                self.cli("delete", "--force", cid)
        for out in self.outputs:
            out.close()
        leftovers = []
        deadline = time.monotonic() + 10
        while (leftovers := host_pids_with(self.token)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in leftovers:  # ours: they carry this test's marker
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return leftovers

    def job_exists(self, cid: str) -> bool:
        """Whether the container's job object exists, asked from inside Wine."""
        code = ("import ctypes,sys; from dockyard.jobobject import object_name; "
                "k=ctypes.WinDLL('kernel32'); k.OpenJobObjectW.restype=ctypes.c_void_p; "
                "h=k.OpenJobObjectW(0x1F003F, 0, object_name(sys.argv[1], sys.argv[2], 'job')); "
                "print('yes' if h else 'no')")
        r = self.wine.python("-c", code, winelib.to_windows(self.root), cid)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip() == "yes"


@pytest.fixture
def winrt(wine: winelib.Wine, tmp_path: pathlib.Path) -> Iterator[WinRuntime]:
    rt = WinRuntime(wine, tmp_path)
    yield rt
    leftovers = rt.cleanup()
    assert leftovers == [], f"processes left behind by the test: {leftovers}"
