#!/usr/bin/env python3
"""Exec and stream benchmark: dockyard against dockerd, interleaved in one invocation.

Prints medians and ratios (dockyard / dockerd) for:
  - `docker exec C true` latency through the real docker CLI, per dockyard
    runtime (the default `dockyard`, and crun) against dockerd (runc);
  - stream throughput of --size-mb (default 1024) MB through `docker run -i`:
    into `cat > /dev/null` (client → container), and through `cat` back to the
    client's stdout (both directions at once).

Both engines run on private sockets and data roots made here and get the
same busybox image by `docker import`; dockerd is Debian's docker.io
(bench/engine_bench.py's Dockerd).  Pass --no-docker to measure dockyard alone.

    python3 bench/exec_bench.py [--runs 20] [--size-mb 1024] [--no-docker]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.engine_bench import Dockerd  # noqa: E402
from tests.support.daemon import Daemon, new_daemon  # noqa: E402

CHUNK = 1 << 20


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["docker", *args], env=env, check=True, capture_output=True, text=True).stdout


def exec_latency(env: dict[str, str], container: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["docker", "exec", container, "true"], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def stream(env: dict[str, str], size_mb: int, echo: bool) -> float:
    """Seconds to push ``size_mb`` MB through ``docker run -i`` (and read it back with ``echo``)."""
    cmd = ["cat"] if echo else ["sh", "-c", "cat > /dev/null"]
    block = os.urandom(CHUNK)
    received = [0]

    t0 = time.perf_counter()
    p = subprocess.Popen(["docker", "run", "--rm", "-i", "--network", "none", "bench", *cmd], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def drain() -> None:
        assert p.stdout is not None
        while True:
            data = p.stdout.read1(1 << 20)
            if not data:
                return
            received[0] += len(data)

    reader = threading.Thread(target=drain)
    reader.start()
    assert p.stdin is not None
    for _ in range(size_mb):
        p.stdin.write(block)
    p.stdin.close()
    reader.join()
    rc = p.wait()
    elapsed = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"docker run -i exited {rc}")
    want = size_mb * CHUNK if echo else 0
    if received[0] != want:
        raise RuntimeError(f"received {received[0]} bytes, expected {want}")
    return elapsed


def report(title: str, ours: list[float], ref: list[float] | None, unit: str, scale: float,
           higher_is_better: bool = False) -> None:
    m = statistics.median(ours) * scale
    line = f"{title:<46} dockyard {m:9.1f} {unit}"
    if ref:
        r = statistics.median(ref) * scale
        line += f"   dockerd {r:9.1f} {unit}   ratio {m / r:5.2f}"
        if higher_is_better:
            line += " (higher is better)"
    print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20, help="docker exec runs per engine")
    ap.add_argument("--size-mb", type=int, default=1024, help="MB per stream run")
    ap.add_argument("--stream-runs", type=int, default=3)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    tar = os.path.join(tempfile.mkdtemp(prefix="dybench-"), "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
    ours: Daemon = new_daemon(extra_args=["--log-level", "warn"])
    ref: Dockerd | None = None
    if not args.no_docker:
        if not shutil.which("dockerd"):
            raise SystemExit("dockerd is not installed (apt-get install docker.io), or pass --no-docker")
        ref = Dockerd()
    try:
        ours.start()
        targets: list[tuple[str, dict[str, str], str]] = []
        cli(ours.env(), "import", tar, "bench:latest")
        for runtime in ("dockyard", "crun"):
            name = f"dybench-exec-{runtime}"
            cli(ours.env(), "run", "-d", "--network", "none", "--runtime", runtime, "--name", name,
                "bench", "sleep", "100000")
            targets.append((f"dockyard ({runtime})", ours.env(), name))
        if ref is not None:
            ref.start()
            cli(ref.env(), "import", tar, "bench:latest")
            cli(ref.env(), "run", "-d", "--network", "none", "--name", "dybench-exec", "bench", "sleep", "100000")
            targets.append(("dockerd (runc)", ref.env(), "dybench-exec"))
        for _, env, name in targets:  # warm up
            exec_latency(env, name)

        times: dict[str, list[float]] = {label: [] for label, _, _ in targets}
        for _ in range(args.runs):
            for label, env, name in targets:
                times[label].append(exec_latency(env, name))
        print(f"# docker exec C true: {args.runs} runs each, interleaved; medians")
        ref_times = times.get("dockerd (runc)")
        for label, _, _ in targets:
            if label.startswith("dockyard"):
                report(f"docker exec C true, {label}", times[label], ref_times, "ms", 1000)
        if ref_times:
            print(f"{'':<46} (goal: ratio <= 0.50)")

        engines = [("dockyard", ours.env())] + ([("dockerd", ref.env())] if ref is not None else [])
        print(f"# {args.size_mb} MB through docker run -i, {args.stream_runs} runs each, interleaved; "
              "medians (goal: ratio >= 1.00)")
        for echo, title in ((False, "stdin → cat > /dev/null"), (True, "stdin → cat → stdout")):
            secs: dict[str, list[float]] = {name: [] for name, _ in engines}
            for _ in range(args.stream_runs):
                for name, env in engines:
                    secs[name].append(stream(env, args.size_mb, echo))
            mbps = {name: [args.size_mb / s for s in v] for name, v in secs.items()}
            report(f"{title} (MB/s)", mbps["dockyard"], mbps.get("dockerd"), "MB/s", 1, higher_is_better=True)
    finally:
        try:
            ours.remove_all_containers()
        finally:
            ours.cleanup()
            if ref is not None:
                ref.stop()
            shutil.rmtree(os.path.dirname(tar), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
