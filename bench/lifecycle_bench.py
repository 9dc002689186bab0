#!/usr/bin/env python3
"""Lifecycle benchmark: dockyard against dockerd, side by side in one invocation.

Prints, for each engine and as a ratio dockyard / dockerd (goal <= 0.5):

  - engine CPU time over ``--seconds`` (default 60) while 50 idle containers
    each run a healthcheck every second;
  - engine CPU time over the same span while ``docker stats`` streams 20
    containers (one GET /containers/{id}/stats stream each, as the CLI does);

and for dockyard the restart-policy timing: how late each restart began
after its due time (the die event plus the policy's delay: 100, 200, 400 ms…;
goal <= 50 ms), from the ``start`` event and the start's own phases.

"Engine CPU" is user+system time, children reaped included, of the daemon
and its helpers: dockyardd, its exec server(s) and conmons; dockerd,
containerd and the shims (the runc processes that run the probes are their
reaped children).  Never the containers' own processes.  CPU time, not wall
time, so other work on the machine changes little.

    python3 bench/lifecycle_bench.py [--seconds 60] [--no-docker]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.engine_bench import Dockerd, conmon_pids, descendants, shim_pids  # noqa: E402
from tests.support.daemon import new_daemon  # noqa: E402
from tests.support.procs import pids_matching  # noqa: E402

HEALTHY = 50
STREAMS = 20


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime+cutime+cstime of the processes, in seconds."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in set(pids):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])
        except (OSError, ValueError, IndexError):
            continue
    return total / tck


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["docker", *args], env=env, check=True, capture_output=True, text=True).stdout


def run_many(env: dict[str, str], n: int, *args: str) -> list[str]:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return [f.result().strip() for f in [pool.submit(cli, env, "run", "-d", "--network", "none", *args)
                                             for _ in range(n)]]


class Engine:
    def __init__(self, name: str, env: dict[str, str], socket_path: str, helpers) -> None:
        self.name, self.env, self.socket, self.helpers = name, env, socket_path, helpers

    def cpu(self) -> float:
        return cpu_seconds(self.helpers())


def measure(engine: Engine, seconds: float) -> float:
    before = engine.cpu()
    time.sleep(seconds)
    return engine.cpu() - before


def healthcheck_cpu(engine: Engine, seconds: float) -> float:
    ids = run_many(engine.env, HEALTHY, "--health-cmd", "true", "--health-interval", "1s", "busybox",
                   "sleep", "100000")
    try:
        time.sleep(3)  # every loop has begun
        return measure(engine, seconds)
    finally:
        cli(engine.env, "rm", "-f", *ids)


def stats_cpu(engine: Engine, seconds: float) -> float:
    ids = run_many(engine.env, STREAMS, "busybox", "sleep", "100000")
    stop = threading.Event()

    def stream(cid: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(engine.socket)
        conn = http.client.HTTPConnection("localhost")
        conn.sock = sock
        conn.request("GET", f"/containers/{cid}/stats?stream=1")
        resp = conn.getresponse()
        while not stop.is_set() and resp.readline():
            pass
        conn.close()

    threads = [threading.Thread(target=stream, args=(cid,), daemon=True) for cid in ids]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        return measure(engine, seconds)
    finally:
        stop.set()
        cli(engine.env, "rm", "-f", *ids)


def restart_lateness(engine: Engine, restarts: int = 6) -> list[float]:
    """ms between each restart's due time and the moment its start began.

    dockyard reports it itself (``dockyard.start.restartLateMs`` of the start
    event: the delay runs from the end of the previous run's cleanup, as in
    dockerd); for dockerd the best outside view is the start event's time after
    the die event plus the delay, which includes its whole start.
    """
    t0 = time.time()
    cid = cli(engine.env, "run", "-d", "--network", "none", "--restart", "always", "busybox", "sh", "-c",
              "exit 1").strip()
    deadline = time.time() + 30
    while time.time() < deadline:
        if json.loads(cli(engine.env, "inspect", cid))[0]["RestartCount"] >= restarts + 1:
            break
        time.sleep(0.2)
    cli(engine.env, "rm", "-f", cid)
    out = cli(engine.env, "events", "--since", f"{t0:.3f}", "--until", f"{time.time():.3f}", "--filter",
              f"container={cid}", "--format", "{{json .}}")
    evs = [json.loads(line) for line in out.splitlines()]
    late, delay, last_die = [], 0.1, None
    for e in evs:
        if e["Action"] == "die":
            last_die = e["timeNano"] / 1e9
        elif e["Action"] == "start" and last_die is not None:
            attrs = e["Actor"]["Attributes"]
            if "dockyard.start.restartLateMs" in attrs:
                late.append(float(attrs["dockyard.start.restartLateMs"]))
            else:
                late.append((e["timeNano"] / 1e9 - (last_die + delay)) * 1000)
            delay, last_die = min(delay * 2, 60), None
    return late[:restarts]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--restart-only", action="store_true", help="only the restart timing")
    args = ap.parse_args()
    tar = os.path.join(tempfile.mkdtemp(prefix="dybench-bb-"), "bb.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True,
                   capture_output=True)
    ours = new_daemon()
    ours.start()
    ref = None
    try:
        cli(ours.env(), "import", tar, "busybox")
        dy = Engine("dockyard", ours.env(), ours.socket,
                    lambda: descendants(ours.proc.pid) + conmon_pids(ours.exec_root)
                    + pids_matching(lambda a: b"exec-server" in b" ".join(a) and ours.root.encode() in b" ".join(a)))
        engines = [dy]
        if not args.no_docker:
            ref = Dockerd()
            ref.start()
            cli(ref.env(), "import", tar, "busybox")
            engines.append(Engine("dockerd", ref.env(), ref.socket,
                                  lambda: ref.pids() + shim_pids("dybench")))
        scenarios = () if args.restart_only else (
            (f"CPU s, {HEALTHY} containers x 1 s healthcheck, {args.seconds:.0f} s", healthcheck_cpu),
            (f"CPU s, docker stats streaming {STREAMS}, {args.seconds:.0f} s", stats_cpu))
        for title, fn in scenarios:
            got = {e.name: fn(e, args.seconds) for e in engines}
            line = f"{title:<52} dockyard {got['dockyard']:7.2f} s"
            if "dockerd" in got:
                line += f"   dockerd {got['dockerd']:7.2f} s   ratio {got['dockyard'] / got['dockerd']:5.2f}"
            print(line, flush=True)
        late = restart_lateness(dy)
        print("restart begins after its due time (ms), dockyard: " + " ".join(f"{v:.1f}" for v in late)
              + f"   max {max(late):.1f}")
        if ref is not None:
            late_ref = restart_lateness(engines[1])
            print("restart start event after its due time (ms), dockerd (start included): "
                  + " ".join(f"{v:.1f}" for v in late_ref))
    finally:
        ours.cleanup()
        if ref is not None:
            ref.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
