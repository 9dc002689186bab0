#!/usr/bin/env python3
"""The API over TCP + mutual TLS: dockyard against dockerd, interleaved in one invocation.

    python3 bench/tls_bench.py [--handshakes 100] [--runs 15]

Both daemons listen on a loopback port with ``--tlsverify`` and certificates
made here (one CA, a server and a client certificate), and on a private unix
socket for set-up.  Printed, as medians and the ratio dockyard / dockerd:

  - TLS connection set-up: TCP connect + TLS 1.3 handshake with the client
    certificate + ``GET /_ping`` on that connection (Python's ssl client), once
    with ``TCP_NODELAY`` as the docker CLI (Go sets it on every TCP connection)
    and docker-py (urllib3's default socket options) connect, once with Nagle's
    algorithm on (a plain ``ssl`` socket, curl), and the daemon process's CPU
    time per such connection (from /proc; dockerd's process alone, which is where
    Go terminates TLS and answers /_ping);
  - ``docker run --rm busybox true`` with ``DOCKER_HOST=tcp://…``,
    ``DOCKER_TLS_VERIFY=1`` and ``DOCKER_CERT_PATH`` (the real docker CLI).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from engine_bench import Dockerd  # noqa: E402
from tests.support.daemon import docker, new_daemon  # noqa: E402
from tests.support.tls import CA, free_port, write_cert_dir  # noqa: E402


def handshake_ms(port: int, ctx: ssl.SSLContext, nodelay: bool) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            while b"OK" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError(f"no answer on port {port}: {data!r}")
                data += chunk
    return (time.perf_counter() - t0) * 1000


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tls_library() -> str:
    """What terminates TLS in dockyardd: pyOpenSSL and the OpenSSL inside cryptography's wheel."""
    try:
        import OpenSSL
        from OpenSSL import SSL
    except ImportError:
        return "pyOpenSSL missing"
    return f"pyOpenSSL {OpenSSL.__version__} on {SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()}"


def run_ms(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "busybox", "true"], env=env,
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return (time.perf_counter() - t0) * 1000


def line(title: str, ours: list[float], ref: list[float]) -> None:
    m, r = statistics.median(ours), statistics.median(ref)
    print(f"{title:<46} dockyard {m:8.1f} ms   dockerd {r:8.1f} ms   ratio {m / r:5.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--handshakes", type=int, default=100)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    if not shutil.which("dockerd"):
        print("dockerd is not installed (Debian's docker.io)", file=sys.stderr)
        return 2
    pki = tempfile.mkdtemp(prefix="dytlsbench-")
    ca = CA("bench CA")
    server = write_cert_dir(os.path.join(pki, "server"), ca, ca.issue("localhost", server=True))
    client = write_cert_dir(os.path.join(pki, "client"), ca, ca.issue("client", server=False))
    tls_flags = ["--tlsverify", "--tlscacert", f"{server}/ca.pem", "--tlscert", f"{server}/cert.pem",
                 "--tlskey", f"{server}/key.pem"]
    ours_port, ref_port = free_port(), free_port()
    ours = new_daemon(extra_args=["-H", f"tcp://127.0.0.1:{ours_port}", *tls_flags])
    ref = Dockerd(network_args=["--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
                                "-H", f"tcp://127.0.0.1:{ref_port}", *tls_flags])
    tar = os.path.join(pki, "bb.tar")
    try:
        ours.start()
        ref.start()
        subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True,
                       capture_output=True)
        docker(ours, "import", tar, "busybox:latest", check=True)
        subprocess.run(["docker", "import", tar, "busybox:latest"], env=ref.env(), check=True, capture_output=True)
        ctx = ssl.create_default_context(cafile=f"{client}/ca.pem")
        ctx.load_cert_chain(f"{client}/cert.pem", f"{client}/key.pem")
        envs = {}
        for name, port, base in (("dockyard", ours_port, ours.env()), ("dockerd", ref_port, ref.env())):
            env = dict(base, DOCKER_HOST=f"tcp://127.0.0.1:{port}", DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=client)
            envs[name] = env
            handshake_ms(port, ctx, True)  # warm-up
            run_ms(env)
        hs: dict[tuple[str, bool], list[float]] = {}
        assert ours.proc is not None and ref.proc is not None
        pids = {"dockyard": ours.proc.pid, "dockerd": ref.proc.pid}
        cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
        for _ in range(args.handshakes):
            for nodelay in (True, False):
                for name, port in (("dockyard", ours_port), ("dockerd", ref_port)):
                    hs.setdefault((name, nodelay), []).append(handshake_ms(port, ctx, nodelay))
        per_conn = {name: (cpu_s(pid) - cpu0[name]) * 1000 / (2 * args.handshakes) for name, pid in pids.items()}
        runs: dict[str, list[float]] = {"dockyard": [], "dockerd": []}
        for _ in range(args.runs):
            for name in ("dockyard", "dockerd"):
                runs[name].append(run_ms(envs[name]))
        print(f"TCP + mutual TLS on 127.0.0.1, {args.handshakes} handshakes and {args.runs} runs each, interleaved; "
              f"load average {os.getloadavg()[0]:.2f}; dockyard's TLS: {tls_library()}; dockerd's: Go crypto/tls")
        line("TLS connect + handshake + GET /_ping", hs["dockyard", True], hs["dockerd", True])
        line("the same, client without TCP_NODELAY", hs["dockyard", False], hs["dockerd", False])
        line("server CPU per TLS connection (mean)", [per_conn["dockyard"]], [per_conn["dockerd"]])
        line("docker run --rm busybox true over TLS", runs["dockyard"], runs["dockerd"])
        return 0
    finally:
        ours.cleanup()
        ref.stop()
        shutil.rmtree(pki, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
