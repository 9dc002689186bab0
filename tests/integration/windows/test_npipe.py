"""The API on the Windows named pipe (``-H npipe:////./pipe/NAME``, dockerd's default transport on
Windows): served by asyncio's proactor pipe server under Wine, asked by a Windows client."""

from __future__ import annotations

import json
import pathlib
import uuid

from tests.integration.windows import wine as winelib
from tests.integration.windows.test_daemon import WinDaemon

# a plain HTTP/1.1 client over the pipe, as docker-py's npipe transport speaks it
CLIENT = r"""
import sys, time
name = sys.argv[1]
for _ in range(50):
    try:
        pipe = open(name, "r+b", buffering=0)
        break
    except OSError:
        time.sleep(0.2)
for path in ("/_ping", "/version", "/containers/json"):
    pipe.write(f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += pipe.read(1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    body = b""
    while len(body) < length:
        body += pipe.read(length - len(body))
    print(head.split(b"\r\n")[0].decode(), body.decode().strip())
"""


def test_the_api_answers_on_a_named_pipe(wine: winelib.Wine, tmp_path: pathlib.Path) -> None:
    wine.add_wheels("daemon-wheels", winelib.DAEMON_WHEELS)
    name = f"dytest_{uuid.uuid4().hex[:8]}"
    d = WinDaemon(wine, tmp_path)
    d.extra_args = ["-H", f"npipe:////./pipe/{name}"]
    d.start()
    try:
        assert f"npipe:////./pipe/{name}" in d.log()  # "listening on ..., npipe:////./pipe/NAME"
        r = wine.python("-c", CLIENT, f"\\\\.\\pipe\\{name}", timeout=60)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "HTTP/1.1 200 OK OK"
        status, version = lines[1].split(" ", 3)[1], json.loads(lines[1].split(" ", 3)[3])
        assert status == "200" and version["Os"] == "windows"
        assert lines[2].split(" ", 3)[1] == "200"  # several requests on one pipe connection
    finally:
        d.kill()
