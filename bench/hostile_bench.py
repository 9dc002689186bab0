#!/usr/bin/env python3
"""Issue 18's figures: dockyard against dockerd, in one invocation.

  - `docker import` of a tar holding a 2 GB GNU sparse file: seconds, and the
    bytes the daemon's data root grew by (dockyard keeps the holes);
  - one oversized `POST /containers/create` body (200 MB by default): the
    daemon's peak RSS growth while it handles it, its RSS afterwards, and the
    answer (dockyard: 413 before reading it; dockerd: parses it all);
  - four creates with 6 MB of labels each, then `rm`: how much of the data
    root the daemon keeps afterwards (dockyard: SQLite gives the pages back).

    python3 bench/hostile_bench.py [--body-mb 200] [--no-docker]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.engine_bench import Dockerd  # noqa: E402
from bench.volume_bench import RssPeak  # noqa: E402
from tests.support.daemon import UnixHTTPConnection, new_daemon  # noqa: E402
from tests.support.procs import rss_kb  # noqa: E402

MiB = 1024 * 1024


def du(path: str) -> int:
    """Bytes the directory takes on disk (holes do not count)."""
    out = subprocess.run(["du", "-sB1", path], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


def sparse_tar(tmp: str) -> str:
    src = os.path.join(tmp, "root")
    os.makedirs(src)
    with open(os.path.join(src, "big"), "wb") as f:
        f.seek(2 * 1024 ** 3 - 5)
        f.write(b"tail\n")
    out = os.path.join(tmp, "sparse.tar")
    # PAX sparse (GNU 1.0): dockerd 20.10 refuses the old GNU "S" header ("unhandled tar header type 83")
    subprocess.run(["tar", "--sparse", "--format=posix", "-C", src, "-cf", out, "."], check=True)
    return out


def api(sock_path: str, method: str, path: str, body: object = None) -> tuple[int, Any]:
    conn = UnixHTTPConnection(sock_path, timeout=120)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw.strip().startswith(b"{") else raw
    finally:
        conn.close()


def post_raw(sock_path: str, path: str, body_mb: int) -> int:
    """POST a JSON body of ``body_mb`` MB by hand; the answer's status (0 if the daemon hung up)."""
    prefix = b'{"Image":"nosuch-bench-image","Labels":{"a":"'
    suffix = b'"}}'
    size = body_mb * MiB
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(300)
    s.connect(sock_path)
    try:
        s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % size)
        try:
            s.sendall(prefix)
            block = b"x" * MiB
            left = size - len(prefix) - len(suffix)
            while left > 0:
                s.sendall(block[:min(left, MiB)])
                left -= MiB
            s.sendall(suffix)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = s.recv(4096)
        return int(data.split()[1]) if data else 0
    except OSError:
        return 0
    finally:
        s.close()


def measure(name: str, env: dict[str, str], sock_path: str, data_root: str, pids, tar: str,
            body_mb: int) -> dict[str, str]:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=env, capture_output=True, text=True)

    res: dict[str, str] = {}
    before = du(data_root)
    t0 = time.perf_counter()
    p = cli("import", tar, "bench-sparse:1")
    res["import s"] = f"{time.perf_counter() - t0:.2f}" if p.returncode == 0 else "fail"
    if p.returncode:
        print(f"# {name}: import failed: {p.stderr.strip()}", file=sys.stderr)
    res["import disk MB"] = f"{(du(data_root) - before) / MiB:.1f}"
    cli("rmi", "bench-sparse:1")
    with RssPeak(pids) as peak:
        status = post_raw(sock_path, "/containers/create", body_mb)
    res[f"{body_mb} MB body: status"] = str(status)
    res["peak RSS growth MB"] = f"{peak.growth_mb:.0f}"
    time.sleep(1)
    res["RSS after MB"] = f"{rss_kb(pids()) / 1024:.0f}"
    img_tar = os.path.join(os.path.dirname(tar), "empty.tar")
    if not os.path.exists(img_tar):
        d = tempfile.mkdtemp(dir=os.path.dirname(tar))
        open(os.path.join(d, "f"), "w").close()
        subprocess.run(["tar", "-C", d, "-cf", img_tar, "f"], check=True)
    cli("import", img_tar, "bench-empty:1")
    before = du(data_root)
    ids = []
    for _ in range(4):  # through the API: 6 MB of labels do not fit on a command line
        status, body = api(sock_path, "POST", "/containers/create", {
            "Image": "bench-empty:1", "Cmd": ["true"], "Labels": {f"l{j}": "y" * MiB for j in range(6)}})
        if status == 201:
            ids.append(body["Id"])
    for cid in ids:
        api(sock_path, "DELETE", f"/containers/{cid}")
    res["kept after 24 MB of labels + rm, MB"] = f"{(du(data_root) - before) / MiB:.1f}"
    cli("rmi", "bench-empty:1")
    print(f"# {name} done", file=sys.stderr)
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--body-mb", type=int, default=200)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dybench-hostile-", dir="/tmp")
    tar = sparse_tar(tmp)
    ours = new_daemon(extra_args=["--log-level", "warn"])
    ref = None if args.no_docker else Dockerd()
    try:
        ours.start()
        mine = measure("dockyard", ours.env(), ours.socket, ours.data_root,
                       lambda: [ours.proc.pid], tar, args.body_mb)
        theirs: dict[str, str] = {}
        if ref is not None:
            ref.start()
            theirs = measure("dockerd", ref.env(), ref.socket, os.path.join(ref.root, "data"), ref.pids,
                             tar, args.body_mb)
        print(f"{'figure':42} {'dockyard':>10} {'dockerd':>10} {'ratio':>7}")
        for key, value in mine.items():
            other = theirs.get(key, "-")
            try:
                ratio = f"{float(value) / float(other):.2f}" if float(other) and "status" not in key else "-"
            except ValueError:
                ratio = "-"
            print(f"{key:42} {value:>10} {other:>10} {ratio:>7}")
    finally:
        ours.cleanup()
        if ref is not None:
            ref.stop()
        subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
