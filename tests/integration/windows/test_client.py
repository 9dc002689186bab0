"""The other direction: the ``dockyard`` CLI, run by the Windows CPython under
Wine, manages a Linux dockyardd over loopback TCP.

The client is docker-py plus ``dockyard.cli``: nothing in it depends on the
engine's platform, so the same source crosses the line.  Its dependencies are
win_amd64 wheels unzipped onto the embedded interpreter's path (``wine.py``).
"""

from __future__ import annotations

import pathlib
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.windows import wine as winelib
from tests.support.daemon import Daemon, busybox_daemon, docker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def linux_daemon(busybox_tar: pathlib.Path) -> Iterator[Daemon]:
    """A Linux test daemon on its unix socket and on a loopback TCP port (no TLS)."""
    port = free_port()
    with busybox_daemon(busybox_tar, extra_args=["-H", f"tcp://127.0.0.1:{port}"]) as d:
        d.port = port  # type: ignore[attr-defined]
        yield d


@pytest.fixture(scope="module")
def win_client(wine: winelib.Wine, linux_daemon: Daemon):  # type: ignore[no-untyped-def]
    wine.add_wheels("client-wheels", winelib.CLIENT_WHEELS)
    host = f"tcp://127.0.0.1:{linux_daemon.port}"  # type: ignore[attr-defined]

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return wine.python("-m", "dockyard.cli.main", "-H", host, *args, timeout=timeout)

    return run


def test_the_windows_python_is_windows(wine: winelib.Wine) -> None:
    r = wine.python("-c", "import sys, os; print(sys.platform, os.name)")
    assert r.stdout.split() == ["win32", "nt"], r.stderr


def test_version_shows_the_linux_engine(win_client) -> None:  # type: ignore[no-untyped-def]
    r = win_client("version")
    assert r.returncode == 0, r.stderr
    assert "OS/Arch: linux/" in r.stdout


def test_run_logs_ps_images_rm(win_client, linux_daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    r = win_client("images")
    assert r.returncode == 0, r.stderr
    assert "busybox:latest" in r.stdout

    r = win_client("run", "--name", "fromwin", "busybox:latest", "sh", "-c", "echo hello-from-linux; uname -s")
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\r\n", "\n") == "hello-from-linux\nLinux\n"

    r = win_client("run", "--rm", "busybox:latest", "sh", "-c", "echo oops >&2; exit 7")
    assert r.returncode == 7, (r.stdout, r.stderr)
    assert "oops" in r.stderr

    r = win_client("logs", "fromwin")
    assert r.returncode == 0, r.stderr
    assert "hello-from-linux" in r.stdout

    r = win_client("ps", "-a")
    assert r.returncode == 0, r.stderr
    assert "fromwin" in r.stdout and "Exited (0)" in r.stdout
    # the --rm container is gone: the engine agrees with the Windows client
    assert docker(linux_daemon, "ps", "-aq").stdout.split() == [
        docker(linux_daemon, "inspect", "-f", "{{.Id}}", "fromwin", check=True).stdout.strip()[:12]]

    r = win_client("rm", "fromwin")
    assert r.returncode == 0, r.stderr
    assert docker(linux_daemon, "ps", "-aq").stdout.strip() == ""

    r = win_client("rm", "fromwin")
    assert r.returncode == 125
    assert "No such container: fromwin" in r.stderr


@pytest.fixture(scope="module")
def tls_linux_daemon(busybox_tar: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A Linux test daemon on loopback TCP with mutual TLS (certificates of a CA made here)."""
    from tests.support.tls import CA, write_cert_dir

    base = tmp_path_factory.mktemp("winpki")
    ca = CA("dockyard windows client CA")
    server = write_cert_dir(str(base / "server"), ca, ca.issue("localhost", server=True))
    port = free_port()
    tls = {"tlsverify": True, "tlscacert": f"{server}/ca.pem", "tlscert": f"{server}/cert.pem",
           "tlskey": f"{server}/key.pem"}
    with busybox_daemon(busybox_tar, config=tls, extra_args=["-H", f"tcp://127.0.0.1:{port}"]) as d:
        d.port = port  # type: ignore[attr-defined]
        d.client_certs = write_cert_dir(str(base / "client"), ca, ca.issue("client", server=False))  # type: ignore[attr-defined]
        yield d


def test_the_windows_client_over_mutual_tls(wine: winelib.Wine, tls_linux_daemon: Daemon) -> None:
    wine.add_wheels("client-wheels", winelib.CLIENT_WHEELS)
    certs = tls_linux_daemon.client_certs  # type: ignore[attr-defined]
    host = ["-H", f"tcp://127.0.0.1:{tls_linux_daemon.port}"]  # type: ignore[attr-defined]
    flags = ["--tlsverify", "--tlscacert", winelib.to_windows(f"{certs}/ca.pem"),
             "--tlscert", winelib.to_windows(f"{certs}/cert.pem"), "--tlskey", winelib.to_windows(f"{certs}/key.pem")]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE (set on this machine) override the CA a
        # docker-py client is given, so the client runs without them (docs/windows.md)
        env = {k: v for k, v in wine.env.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        return subprocess.run([wine.wine, wine.python_exe, "-m", "dockyard.cli.main", *host, *args], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)

    r = cli(*flags, "version")
    assert r.returncode == 0, r.stderr
    assert "OS/Arch: linux/" in r.stdout
    r = cli(*flags, "run", "--rm", "busybox:latest", "sh", "-c", "echo over-tls")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "over-tls"
    r = cli(*flags, "run", "--rm", "busybox:latest", "sh", "-c", "echo failing >&2; exit 4")
    assert r.returncode == 4 and "failing" in r.stderr, r.stderr
    # the same daemon refuses a client that brings no certificate (the handshake fails)
    r = cli("--tlsverify", "--tlscacert", winelib.to_windows(f"{certs}/ca.pem"), "version")
    assert r.returncode != 0
