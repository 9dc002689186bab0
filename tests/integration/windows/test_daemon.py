"""dockyardd itself on Windows CPython under Wine: the same source, composed
with the Windows host parts (``dockyard.daemon.windows.host``), answers the
Linux ``docker`` CLI over loopback TCP as a Windows engine."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.windows import wine as winelib
from tests.integration.windows.test_client import free_port


class WinDaemon:
    """One dockyardd run by the Windows CPython; its output goes through a pipe
    (the Windows CPython under Wine cannot start with a Linux file as stdout)."""

    def __init__(self, wine: winelib.Wine, root: pathlib.Path) -> None:
        self.wine = wine
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = b""
        self.extra_args: list[str] = []  # more dockyardd flags for every start

    @property
    def data_root(self) -> pathlib.Path:
        return self.root / "data"

    @property
    def pidfile(self) -> pathlib.Path:
        return self.root / "exec" / "dockyardd.pid"

    def argv(self, *extra: str) -> list[str]:
        w = winelib.to_windows
        return [self.wine.wine, self.wine.python_exe, "-m", "dockyard.dockyardd",
                "-H", f"tcp://127.0.0.1:{self.port}", "--data-root", w(self.data_root),
                "--exec-root", w(self.root / "exec"), "--pidfile", w(self.pidfile),
                "--config-file", w(self.root / "daemon.json"), "--log-level", "debug", *extra]

    def start(self, timeout: float = 60) -> None:
        (self.root / "daemon.json").write_text("{}")
        self.proc = subprocess.Popen(self.argv(*self.extra_args), env=self.wine.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dockyardd exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.request("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"dockyardd did not answer within {timeout}s:\n{self.log()}")

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):  # type: ignore[attr-defined]
            self.output += chunk

    def log(self) -> str:
        return self.output.decode(errors="replace")[-6000:]

    def request(self, method: str, path: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
        finally:
            conn.close()

    def stop(self, timeout: float = 30) -> int:
        """Ctrl-C, as a console would send it (Wine turns SIGINT into one)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def docker_env(self) -> dict[str, str]:
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{self.port}",
               "DOCKER_CONFIG": str(self.root / "docker-config")}
        env.pop("DOCKER_CONTEXT", None)
        return env

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=self.docker_env(), capture_output=True, text=True, timeout=60)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def windaemon(wine: winelib.Wine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WinDaemon]:
    wine.add_wheels("daemon-wheels", winelib.DAEMON_WHEELS)
    d = WinDaemon(wine, tmp_path_factory.mktemp("windaemon"))
    d.start()
    yield d
    d.kill()


def test_docker_version_and_info_say_windows(windaemon: WinDaemon) -> None:
    r = windaemon.docker("version", "--format", "{{.Server.Os}}/{{.Server.Arch}}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "windows/amd64"
    r = windaemon.docker("info", "--format", "{{json .}}")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["OSType"] == "windows"
    assert info["DockerRootDir"] == winelib.to_windows(windaemon.data_root)
    # the job-object runtime is the only runtime: no crun, runc or dockyard-runtime
    assert list(info["Runtimes"]) == ["dockyard"] and info["DefaultRuntime"] == "dockyard"
    assert info["Runtimes"]["dockyard"]["runtimeArgs"] == ["-m", "dockyard.runtime.windows.cli"]
    assert info["Runtimes"]["dockyard"]["path"].lower().endswith("python.exe")
    assert info["MemTotal"] > 0  # GlobalMemoryStatusEx
    assert info["Driver"] == "windowsfilter" and info["CgroupDriver"] == "" and info["SecurityOptions"] == []
    # the state is SQLite under the Windows data root
    assert (windaemon.data_root / "dockyard.db").is_file()
    assert windaemon.request("GET", "/_ping") == (200, b"OK")


def test_linux_only_endpoints_are_not_served(windaemon: WinDaemon) -> None:
    for path in ("/swarm", "/plugins", "/containers/x/attach/ws"):
        status, _ = windaemon.request("GET", path)
        assert status == 404, path  # not composed on Windows: no service behind them
    for method, path in (("GET", "/networks"), ("GET", "/volumes"), ("POST", "/build"), ("GET", "/networks/x")):
        status, body = windaemon.request(method, path)
        assert status == 400 and b"not supported by dockyard's Windows engine" in body["message"].encode(), path
    assert windaemon.request("GET", "/containers/json") == (200, [])


def test_stop_and_start_keep_the_state(windaemon: WinDaemon) -> None:
    engine_id = windaemon.docker("info", "--format", "{{.ID}}").stdout.strip()
    assert engine_id and windaemon.pidfile.is_file()
    assert windaemon.stop() == 0, windaemon.log()
    assert "dockyardd shutting down" in windaemon.log()
    assert not windaemon.pidfile.exists()
    windaemon.start()
    assert windaemon.docker("info", "--format", "{{.ID}}").stdout.strip() == engine_id


def test_linux_only_flags_are_refused(wine: winelib.Wine, windaemon: WinDaemon) -> None:
    r = subprocess.run(windaemon.argv("--userns-remap", "default"), env=wine.env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "--userns-remap is not supported on Windows" in r.stderr


def test_import_of_windows_files_is_a_windows_image(windaemon: WinDaemon, wine: winelib.Wine,
                                                      tmp_path: pathlib.Path) -> None:
    """``docker import`` of the embeddable CPython itself: the layer's files are
    copied into the layer directory, the image says Os windows."""
    import tarfile

    tar = tmp_path / "py.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(wine.python_dir, arcname=".")
    r = windaemon.docker("import", str(tar), "winpy:3.13")
    assert r.returncode == 0, r.stderr + windaemon.log()
    image_id = r.stdout.strip()
    r = windaemon.docker("inspect", "-f", "{{.Os}}/{{.Architecture}} {{.Id}}", "winpy:3.13")
    assert r.stdout.split() == ["windows/amd64", image_id], r.stderr
    assert "winpy" in windaemon.docker("images").stdout
    layer_dirs = list((windaemon.data_root / "overlay2").iterdir())
    assert any((d / "diff" / "python.exe").is_file() for d in layer_dirs)

    r = windaemon.docker("import", "--platform", "linux/amd64", str(tar), "winpy:linux")
    assert r.returncode != 0 and "unknown operating system" in r.stderr

    with tarfile.open(tmp_path / "link.tar", "w") as tf:
        info = tarfile.TarInfo("a-link")
        info.type, info.linkname = tarfile.SYMTYPE, "python.exe"
        tf.addfile(info)
    r = windaemon.docker("import", str(tmp_path / "link.tar"), "winlink")
    assert r.returncode != 0 and "'a-link': symbolic links are not supported on Windows" in r.stderr
    assert sorted((windaemon.data_root / "overlay2").iterdir()) == sorted(layer_dirs)  # nothing left

    r = windaemon.docker("image", "rm", "winpy:3.13")
    assert r.returncode == 0, r.stderr
    assert windaemon.docker("images", "-q").stdout.strip() == ""
