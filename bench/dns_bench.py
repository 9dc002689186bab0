#!/usr/bin/env python3
"""DNS on a user network: what it costs a start, and whether a name resolves at once.

dockyard against dockerd in one invocation, interleaved (A B, then B A, ...):

- ``docker run --rm --network NET IMG true`` against ``--network none``: what a
  user network (veth, address, and the DNS update: dockyard waits until
  aardvark-dns serves the new names, dockerd's resolver is in-process) adds;
- ``docker run -d --name N --network NET IMG sleep`` and, at once,
  ``docker exec asker nslookup N`` in a container already on the network: the
  time of the ``run -d`` and how many of the lookups found the name (Docker's
  promise, which compose files and testcontainers rely on: all of them).

dockerd is Debian's docker.io on a bridge of its own without iptables (its
embedded DNS does not need them).  Run as root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engine_bench import cli, timed  # noqa: E402
from private_dockerd import PrivateDockerd  # noqa: E402
from tests.support.daemon import Daemon, new_daemon  # noqa: E402

NET = "dnsbench"


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} ({min(values):.0f}–{max(values):.0f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10, help="repetitions of each figure per engine")
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    tar = os.path.join(tempfile.mkdtemp(prefix="dybench-"), "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
    ours: Daemon = new_daemon(extra_args=["--log-level", "warn"])
    ref: PrivateDockerd | None = None
    engines: list[tuple[str, dict[str, str]]] = []
    try:
        ours.start()
        engines.append(("dockyard", ours.env()))
        if not args.no_docker:
            ref = PrivateDockerd("dydnsb", bridge=("dydnsb0", "10.252.0.1/24"), private_config=True)
            ref.start()
            engines.append(("dockerd", ref.env()))
        for _name, env in engines:
            cli(env, "import", tar, "bench:latest")
            cli(env, "network", "create", NET)
            cli(env, "run", "-d", "--name", "asker", "--network", NET, "bench", "sleep", "3600")
            cli(env, "run", "--rm", "--network", NET, "bench", "true")  # warm up
        print(f"# {args.runs} runs each, interleaved; median (min–max); load average {load()}", flush=True)
        samples: dict[tuple[str, str], list[float]] = {}
        found = {name: 0 for name, _env in engines}
        for i in range(args.runs):
            for name, env in engines if i % 2 == 0 else engines[::-1]:
                for mode in ("none", NET):
                    samples.setdefault((f"run --rm --network {mode}", name), []).append(
                        1000 * timed(lambda: cli(env, "run", "--rm", "--network", mode, "bench", "true")))
                samples.setdefault(("run -d on the user network", name), []).append(
                    1000 * timed(lambda: cli(env, "run", "-d", "--name", f"w{i}", "--network", NET,
                                             "bench", "sleep", "3600")))
                p = subprocess.run(["docker", "exec", "asker", "nslookup", f"w{i}"], env=env, capture_output=True)
                found[name] += p.returncode == 0
        for title in ("run --rm --network none", f"run --rm --network {NET}", "run -d on the user network"):
            line = f"{title:<34} (ms)"
            for name, _env in engines:
                line += f"   {name} {fmt(samples[title, name])}"
            if len(engines) == 2:
                line += f"   ratio {statistics.median(samples[title, 'dockyard']) / statistics.median(samples[title, 'dockerd']):.2f}"
            print(line)
        for name, _env in engines:
            added = statistics.median(samples[f"run --rm --network {NET}", name]) - \
                statistics.median(samples["run --rm --network none", name])
            print(f"added by a user network, {name:<8} {added:6.1f} ms;   names found by a lookup right after "
                  f"run -d: {found[name]}/{args.runs}")
        print(f"# load average {load()} at end", flush=True)
    finally:
        for _name, env in engines:
            subprocess.run(["docker", "rm", "-f", *[f"w{i}" for i in range(args.runs)], "asker"], env=env,
                           capture_output=True)
            subprocess.run(["docker", "network", "rm", NET], env=env, capture_output=True)
        if ref is not None:
            ref.stop()
        ours.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
