"""The API keeps answering while big things are deleted or sized.

Deleting a container that wrote tens of thousands of files, an image made of
them, or a volume holding them takes about a second here, and sizing them
(`ps -s`, prunes) half that; that work runs on a worker thread while the
request waits, so other clients (a `docker ps`, a `docker stats` stream, a
healthcheck) are not held.  Before, it ran on the event loop and every other
request waited for it (~0.9 s measured for deleting 40,000 files, ~0.5 s for
sizing them).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.daemon import docker

FILES = 40000  # ~1 s of unlink work on the test VM
MAX_STALL_MS = 300  # a /_ping answer is ~0.2 ms; the old blocking delete stalled it ~900 ms


@contextmanager
def ping_stalls(d) -> Iterator[list[float]]:
    """Ping the daemon every 2 ms on its socket meanwhile; yields the round trips in ms."""
    lat: list[float] = []
    stop = threading.Event()

    def pinger() -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(d.docker_host.removeprefix("unix://"))
            while not stop.is_set():
                t0 = time.perf_counter()
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"OK"):
                    chunk = s.recv(4096)
                    assert chunk, data
                    data += chunk
                lat.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.002)

    th = threading.Thread(target=pinger, daemon=True)
    th.start()
    time.sleep(0.2)
    try:
        yield lat
    finally:
        time.sleep(0.1)
        stop.set()
        th.join(10)


def many_files(d, name: str, *run_args: str, path: str = "/d") -> None:
    docker(d, "run", "--name", name, *run_args, "busybox", "sh", "-c",
           f"mkdir -p {path} && cd {path} && seq 1 {FILES} | xargs touch", check=True, timeout=300)


@pytest.mark.parametrize("what", ["container", "image", "volume", "volume prune", "ps -s"])
def test_deleting_or_sizing_many_files_holds_no_other_request(dockyard_daemon, busybox_image, what):
    d = dockyard_daemon
    name = f"loopresp-{what}"
    if what == "container":
        many_files(d, name)
        argv = ["rm", name]
    elif what == "ps -s":
        name = "loopresp-ps"
        many_files(d, name)
        argv = ["ps", "-a", "-s", "--filter", f"name={name}"]
    elif what == "image":
        many_files(d, name)
        docker(d, "commit", name, f"{name}:1", check=True)
        docker(d, "rm", name, check=True)
        argv = ["rmi", f"{name}:1"]
    else:
        name = name.replace(" ", "-")
        docker(d, "volume", "create", "--label", name, name, check=True)
        many_files(d, name, "-v", f"{name}:/vol", path="/vol/d")
        docker(d, "rm", name, check=True)
        argv = (["volume", "rm", name] if what == "volume"
                else ["volume", "prune", "--force", "--all", "--filter", f"label={name}"])
    with ping_stalls(d) as lat:
        t0 = time.monotonic()
        docker(d, *argv, check=True, timeout=300)
        took = time.monotonic() - t0
    assert lat, "no ping got through"
    if what == "ps -s":
        docker(d, "rm", name, check=True)
    if what == "volume prune":
        assert docker(d, "volume", "ls", "-q", "--filter", f"name={name}").stdout.strip() == ""
    assert max(lat) < MAX_STALL_MS, (f"a /_ping waited {max(lat):.0f} ms while `docker {' '.join(argv)}` "
                                     f"took {took:.2f} s")
