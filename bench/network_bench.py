#!/usr/bin/env python3
"""Network benchmark: what bridge networking costs, dockyard against dockerd in one invocation.

Prints medians and ratios for:
- the time bridge networking adds to ``docker run --rm IMG true`` (default bridge
  minus ``--network none``), per engine;
- TCP throughput container → container on a user-defined network (a sender in
  one container's network namespace into busybox ``nc -l > /dev/null`` in another);
- TCP throughput host → published port (127.0.0.1:PORT, the path a test client
  takes; dockerd's default puts its userland proxy there, dockyard only DNAT).

dockerd is Debian's docker.io with a bridge of its own (``dybench0``, made
here) and iptables on; the DOCKER* chains it leaves are removed afterwards if
they were not there before.  Run as root on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engine_bench import Dockerd, cli, timed  # noqa: E402
from tests.support.daemon import Daemon, new_daemon  # noqa: E402

BRIDGE = "dybench0"
BRIDGE_CIDR = "10.251.0.1/24"
MB = 1024 * 1024


def docker_chains() -> set[str]:
    out = set()
    for table in ("filter", "nat"):
        text = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        out |= {f"{table}:{line.split()[1]}" for line in text.splitlines()
                if line.startswith("-N DOCKER")}
    return out


def remove_docker_chains(chains: set[str]) -> None:
    """Undo what dockerd's iptables setup left: jumps to its chains, then the chains."""
    for table in ("filter", "nat"):
        names = {c.split(":", 1)[1] for c in chains if c.startswith(table + ":")}
        if not names:
            continue
        text = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["-A"] and words[1] not in names and any(n in words for n in names):
                subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True)
        for n in names:
            subprocess.run(["iptables", "-t", table, "-F", n], capture_output=True)
        for n in names:
            subprocess.run(["iptables", "-t", table, "-X", n], capture_output=True)


def out(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["docker", *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def wait_listening(env: dict[str, str], name: str) -> None:
    """Until the sink's nc listens (dockerd's userland proxy accepts before it does)."""
    for _ in range(100):
        if ":5001 " in out(env, "exec", name, "netstat", "-tln"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} does not listen on 5001")


SENDER = """
import socket, sys, time
mb, host = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection((host, 5001), timeout=10)
buf = bytes(1 << 20)
t0 = time.perf_counter()
for _ in range(mb):
    s.sendall(buf)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(mb / (time.perf_counter() - t0))
"""


def c2c(env: dict[str, str], net: str, mb: int) -> float:
    """MB/s from one container to another on ``net``: a sender in the network namespace of a
    second container (this Python, through nsenter: busybox nc's own copy loop tops out near
    100 MB/s), the sink's ``nc -l > /dev/null`` receiving."""
    out(env, "run", "-d", "--name", "sink", "--network", net, "bench", "sh", "-c",
        "sleep 600 | nc -l -p 5001 > /dev/null")  # stdin never ends: nc closes only when the sender does
    out(env, "run", "-d", "--name", "sender", "--network", net, "bench", "sleep", "600")
    wait_listening(env, "sink")
    ip = out(env, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "sink")
    pid = out(env, "inspect", "-f", "{{.State.Pid}}", "sender")
    rate = float(subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", SENDER, str(mb), ip],
                                check=True, capture_output=True, text=True).stdout)
    cli(env, "rm", "-f", "sink", "sender")
    return rate


def host_to_port(env: dict[str, str], mb: int) -> float:
    """MB/s from the host's loopback into a published port."""
    port = free_port()
    out(env, "run", "-d", "--name", "psink", "-p", f"{port}:5001", "bench", "sh", "-c",
        "sleep 600 | nc -l -p 5001 > /dev/null")  # stdin never ends: nc closes only when the sender does
    buf = b"\0" * MB
    wait_listening(env, "psink")
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    t0 = time.perf_counter()
    for _ in range(mb):
        s.sendall(buf)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the sink closes when it has read everything
    elapsed = time.perf_counter() - t0
    s.close()
    cli(env, "rm", "-f", "psink")
    return mb / elapsed


def report(title: str, ours: float, ref: float | None, unit: str) -> None:
    if ref:
        print(f"{title:<52} dockyard {ours:9.1f} {unit}   dockerd {ref:9.1f} {unit}   ratio {ours / ref:5.2f}")
    else:
        print(f"{title:<52} dockyard {ours:9.1f} {unit}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--mb", type=int, default=2000, help="megabytes per throughput run")
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    tar = os.path.join(tempfile.mkdtemp(prefix="dybench-"), "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
    ours: Daemon = new_daemon(extra_args=["--log-level", "warn"])
    ref: Dockerd | None = None
    chains_before = docker_chains()
    if not args.no_docker:
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        ref = Dockerd(["--bridge", BRIDGE, "--iptables=true", "--ip-forward=false", "--ip6tables=false"])
    try:
        ours.start()
        engines = [("dockyard", ours.env())]
        if ref is not None:
            ref.start()
            engines.append(("dockerd", ref.env()))
        for _, env in engines:
            cli(env, "import", tar, "bench:latest")
            cli(env, "network", "create", "benchnet")
            cli(env, "run", "--rm", "bench", "true")  # warm up both paths
            cli(env, "run", "--rm", "--network", "none", "bench", "true")
        runs: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for name, env in engines:
                for mode in ("none", "host", "bridge"):
                    runs.setdefault((name, mode), []).append(
                        timed(lambda: cli(env, "run", "--rm", "--network", mode, "bench", "true")))
        med = {k: statistics.median(v) * 1000 for k, v in runs.items()}
        print(f"# {args.runs} runs each, interleaved; medians")
        has_ref = ref is not None
        report("docker run --rm IMG true, --network none", med["dockyard", "none"],
               med.get(("dockerd", "none")), "ms")
        report("docker run --rm IMG true, default bridge", med["dockyard", "bridge"],
               med.get(("dockerd", "bridge")), "ms")
        report("docker run --rm IMG true, --network host", med["dockyard", "host"],
               med.get(("dockerd", "host")), "ms")
        for base in ("none", "host"):
            added = {n: med[n, "bridge"] - med[n, base] for n, _ in engines}
            print(f"{'added by bridge networking (vs ' + base + ')':<52} dockyard {added['dockyard']:9.1f} ms   " +
                  (f"dockerd {added['dockerd']:9.1f} ms" if has_ref else ""))
        tput: dict[tuple[str, str], list[float]] = {}
        for _ in range(3):
            for name, env in engines:
                tput.setdefault((name, "c2c"), []).append(c2c(env, "benchnet", args.mb))
                tput.setdefault((name, "h2p"), []).append(host_to_port(env, args.mb))
        best = {k: max(v) for k, v in tput.items()}
        print("# throughput: best of 3")
        report("TCP container -> container (user network)", best["dockyard", "c2c"],
               best.get(("dockerd", "c2c")), "MB/s")
        report("TCP host 127.0.0.1 -> published port", best["dockyard", "h2p"],
               best.get(("dockerd", "h2p")), "MB/s")
    finally:
        for _, env in (engines if "engines" in dir() else []):
            subprocess.run(["docker", "rm", "-f", "sink", "sender", "psink"], env=env, capture_output=True)
            subprocess.run(["docker", "network", "rm", "benchnet"], env=env, capture_output=True)
        ours.cleanup()
        if ref is not None:
            ref.stop()
            subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
            remove_docker_chains(docker_chains() - chains_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
