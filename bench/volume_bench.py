#!/usr/bin/env python3
"""docker cp and docker export: dockyard against dockerd, interleaved in one invocation.

Prints medians and ratios (dockyard / dockerd) for, with the real docker CLI:
  - `docker cp TREE C:/data` of a 200 MB directory tree into a running container,
  - `docker cp C:/data OUT` of the same tree back out,
  - `docker export C` of a container whose filesystem holds that tree (to /dev/null),
and the daemon's RSS growth during each (sampled every 20 ms; dockerd with
containerd), which stays small when the tar is streamed, never buffered.
The engines take turns going first, and dirty pages are flushed before each
timed step, so that neither pays for the writeback of the other's files.

    python3 bench/volume_bench.py [--runs 3] [--mb 200] [--no-docker]
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
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.engine_bench import Dockerd, is_container_process  # noqa: E402
from tests.support.daemon import Daemon, new_daemon  # noqa: E402
from tests.support.procs import rss_kb  # noqa: E402

FILE_KB = 128


def make_tree(root: str, mb: int) -> None:
    """``mb`` megabytes in files of 128 kB, 40 to a directory, plus a few small files and links."""
    files = mb * 1024 // FILE_KB
    block = os.urandom(FILE_KB * 1024)
    for i in range(files):
        d = os.path.join(root, f"dir{i // 40:03d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:05d}"), "wb") as f:
            f.write(block[i % 1024:] + block[:i % 1024])
        if i % 40 == 0:
            with open(os.path.join(d, "small"), "w") as f:
                f.write("x\n")
            os.symlink("small", os.path.join(d, "link"))


class RssPeak:
    """The largest RSS sum of some processes while the block runs."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids
        self.base = rss_kb(pids())
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pids()))
            time.sleep(0.02)

    def __enter__(self) -> "RssPeak":
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1024


def cli(env: dict[str, str], *args: str, out: int | None = subprocess.DEVNULL) -> None:
    subprocess.run(["docker", *args], env=env, check=True, stdout=out, stderr=subprocess.PIPE)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="dybench-vol-")
    tar = os.path.join(work, "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
    tree = os.path.join(work, "tree")
    make_tree(tree, args.mb)
    ours: Daemon = new_daemon(extra_args=["--log-level", "warn"])
    ref = None if args.no_docker else Dockerd()
    try:
        ours.start()
        engines: dict[str, tuple[dict[str, str], Callable[[], list[int]]]] = {
            "dockyard": (ours.env(), lambda: [ours.proc.pid])}
        if ref is not None:
            ref.start()
            # dockerd, containerd and the tar helpers dockerd re-executes (not the shims' containers)
            engines["dockerd"] = (ref.env(), lambda: [p for p in ref.pids() if not is_container_process(p)])
        for env, _ in engines.values():
            cli(env, "import", tar, "bench:latest")
        times: dict[str, dict[str, list[float]]] = {n: {"in": [], "out": [], "export": []} for n in engines}
        rss: dict[str, dict[str, float]] = {n: {"in": 0.0, "out": 0.0, "export": 0.0} for n in engines}
        for run in range(args.runs):
            # who goes first alternates: the engine that follows pays for the writeback of what the
            # other one just wrote unless it is flushed first (os.sync before each timed step)
            order = list(engines.items()) if run % 2 == 0 else list(engines.items())[::-1]
            for name, (env, pids) in order:
                cname = f"volbench{run}"
                cli(env, "run", "-d", "--name", cname, "--network", "none", "bench", "sleep", "1000")
                out = os.path.join(work, f"out-{name}")
                steps = (("in", lambda: cli(env, "cp", tree, f"{cname}:/data")),
                         ("out", lambda: cli(env, "cp", f"{cname}:/data", out)),
                         ("export", lambda: cli(env, "export", cname)))
                for step, fn in steps:
                    os.sync()
                    with RssPeak(pids) as peak:
                        t0 = time.perf_counter()
                        fn()
                        times[name][step].append(time.perf_counter() - t0)
                    rss[name][step] = max(rss[name][step], peak.growth_mb)
                shutil.rmtree(out, ignore_errors=True)
                cli(env, "rm", "-f", cname)
        print(f"# {args.mb} MB tree ({args.mb * 1024 // FILE_KB} files of {FILE_KB} kB), {args.runs} runs each, "
              "interleaved; medians; RSS growth is the largest seen")
        titles = {"in": f"docker cp {args.mb} MB tree into a container", "out": f"docker cp {args.mb} MB tree out",
                  "export": f"docker export of a {args.mb} MB container"}
        for step, title in titles.items():
            m = statistics.median(times["dockyard"][step])
            line = f"{title:<42} dockyard {m:7.2f} s (RSS +{rss['dockyard'][step]:5.1f} MB)"
            if "dockerd" in times:
                r = statistics.median(times["dockerd"][step])
                line += f"   dockerd {r:7.2f} s (RSS +{rss['dockerd'][step]:5.1f} MB)   ratio {m / r:5.2f}"
            print(line)
    finally:
        ours.cleanup()
        if ref is not None:
            ref.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
