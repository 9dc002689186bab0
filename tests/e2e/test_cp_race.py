"""docker cp against a container that swaps a path component for a symlink to / (CVE-2018-15664 class).

The container flips ``/w/x`` between a directory and a symlink to ``/`` as
fast as it can while the API copies ``/w/x/<host dir>/secret`` out and a tar
into ``/w/x/<host dir>/`` again and again.  Resolved inside the container's
root, the symlink leads to the container's own ``/<host dir>``; resolved on
the host (the bug), to the host's.  The host's secret is never read and the
host's directory never written.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import time

from tests.support.daemon import UnixHTTPConnection, docker

ATTEMPTS = 3000
BUDGET_S = 40.0


def _request(d, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(d.socket, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/x-tar"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_symlink_swap_race_never_reaches_the_host(dockyard_daemon, busybox_image):
    d = dockyard_daemon
    host_dir = f"/tmp/dyrace-{secrets.token_hex(4)}"
    os.makedirs(host_dir)
    with open(f"{host_dir}/secret", "w") as f:
        f.write("HOST-SECRET\n")
    flip = (f"mkdir -p {host_dir} /w && echo container-copy > {host_dir}/secret && "
            "while true; do rm -rf /w/x; mkdir -p /w/x" + host_dir + "; echo in-dir > /w/x" + host_dir +
            "/secret; rm -rf /w/x; ln -s / /w/x; done")
    cid = docker(d, "run", "-d", "busybox", "sh", "-c", flip, check=True).stdout.strip()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("pwned")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"hi\n"))
    tar = buf.getvalue()
    seen: dict[str, int] = {}
    start = time.monotonic()
    n = 0
    try:
        while n < ATTEMPTS and time.monotonic() - start < BUDGET_S:
            n += 1
            if n % 4:
                status, body = _request(d, "GET", f"/containers/{cid}/archive?path=/w/x{host_dir}/secret")
                if status == 200:
                    with tarfile.open(fileobj=io.BytesIO(body)) as tf:
                        # empty when the file went away between the stat and the read
                        member = tf.extractfile("secret") if "secret" in tf.getnames() else None
                        content = member.read().decode() if member else "vanished"
                    assert "HOST-SECRET" not in content
                    seen[content.strip()] = seen.get(content.strip(), 0) + 1
                else:
                    seen[str(status)] = seen.get(str(status), 0) + 1
            else:
                _request(d, "PUT", f"/containers/{cid}/archive?path=/w/x{host_dir}", tar)
                assert not os.path.exists(f"{host_dir}/pwned")
    finally:
        docker(d, "rm", "-f", cid)
        leaked = os.path.exists(f"{host_dir}/pwned")
        with open(f"{host_dir}/secret") as f:
            intact = f.read() == "HOST-SECRET\n"
        for name in os.listdir(host_dir):
            os.unlink(os.path.join(host_dir, name))
        os.rmdir(host_dir)
    assert not leaked and intact
    assert n >= 200, f"only {n} attempts in {BUDGET_S}s"
    # both sides of the flip were hit: the copy really raced the swap
    assert seen.get("container-copy", 0) > 0 and seen.get("in-dir", 0) > 0, seen
