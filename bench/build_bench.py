#!/usr/bin/env python3
"""docker build benchmark: dockyard against dockerd's classic builder, interleaved in one invocation.

The same 8-step Dockerfile (FROM, ENV, LABEL, WORKDIR, COPY of ~50 MB of
files, three RUNs) is built by each engine with ``DOCKER_BUILDKIT=0``:

* no cache (``--no-cache``),
* fully cached (the same build again),
* after one source file changed (COPY and the steps after it run again).

Prints medians and the ratio dockyard / dockerd (goals: no cache <= 0.8,
fully cached <= 1.0), and the daemon's RSS growth over a build of a large
context (``--big-mb``, default 1024; goal < 50 MB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.engine_bench import Dockerd  # noqa: E402
from tests.support.daemon import Daemon, new_daemon  # noqa: E402

DOCKERFILE = """FROM bench
ENV APP_HOME=/app MODE=bench
LABEL bench=build
WORKDIR /app
COPY src/ /app/src/
RUN find /app/src -type f | wc -l > /app/count
RUN echo "$MODE" > /app/mode && cat /app/count
RUN mkdir -p /app/out && cp /app/src/d0/f0 /app/out/first
"""


def make_context(path: str, total_mb: int, files: int) -> None:
    os.makedirs(path)
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    size = total_mb * 1024 * 1024 // files
    block = os.urandom(size)
    for i in range(files):
        d = os.path.join(path, "src", f"d{i % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(block[i:] + block[:i])


def build(env: dict[str, str], ctx: str, *args: str) -> float:
    env = dict(env, DOCKER_BUILDKIT="0")
    t0 = time.perf_counter()
    p = subprocess.run(["docker", "build", "-q", *args, ctx], env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"docker build failed: {p.stdout}\n{p.stderr}")
    return dt


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def report(title: str, ours: list[float], ref: list[float] | None, goal: str) -> None:
    m = statistics.median(ours)
    line = f"{title:<34} dockyard {m * 1000:8.0f} ms"
    if ref:
        r = statistics.median(ref)
        line += f"   dockerd {r * 1000:8.0f} ms   ratio {m / r:5.2f}   ({goal})"
    print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=50, help="size of the COPY'd sources")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--big-mb", type=int, default=1024, help="context size for the RSS figure (0: skip)")
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="dybench-build-")
    tar = os.path.join(work, "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
    ctx = os.path.join(work, "ctx")
    make_context(ctx, args.mb, args.files)
    ours: Daemon = new_daemon(extra_args=["--log-level", "warn"])
    ref: Dockerd | None = None if args.no_docker else Dockerd()
    try:
        ours.start()
        engines = [("dockyard", ours.env())]
        subprocess.run(["docker", "import", tar, "bench:latest"], env=ours.env(), check=True, capture_output=True)
        if ref is not None:
            ref.start()
            subprocess.run(["docker", "import", tar, "bench:latest"], env=ref.env(), check=True,
                           capture_output=True)
            engines.append(("dockerd", ref.env()))
        for _, env in engines:  # warm up (page cache, first-run costs)
            build(env, ctx, "--no-cache")
        results: dict[str, dict[str, list[float]]] = {n: {"nocache": [], "cached": [], "changed": []}
                                                      for n, _ in engines}
        changed = os.path.join(ctx, "src", "d0", "f0")
        for i in range(args.runs):
            for name, env in engines:
                results[name]["nocache"].append(build(env, ctx, "--no-cache"))
                results[name]["cached"].append(build(env, ctx))
            with open(changed, "r+b") as f:  # one file changes: the next build redoes COPY and the RUNs
                f.write(f"change {i}".encode())
            for name, env in engines:
                results[name]["changed"].append(build(env, ctx))
        ref_res = results.get("dockerd")
        print(f"# 8-step Dockerfile, COPY of {args.mb} MB in {args.files} files; {args.runs} runs each, "
              "interleaved; medians; time of `docker build -q` (CLI included)")
        report("no cache", results["dockyard"]["nocache"], ref_res and ref_res["nocache"], "goal <= 0.80")
        report("fully cached", results["dockyard"]["cached"], ref_res and ref_res["cached"], "goal <= 1.00")
        report("one source file changed", results["dockyard"]["changed"], ref_res and ref_res["changed"],
               "no goal")
        if args.big_mb:
            big = os.path.join(work, "big")
            os.makedirs(big)
            with open(os.path.join(big, "Dockerfile"), "w") as f:
                f.write("FROM bench\nRUN true\n")
            with open(os.path.join(big, "blob"), "wb") as f:
                chunk = os.urandom(1 << 20)
                for _ in range(args.big_mb):
                    f.write(chunk)
            assert ours.proc is not None
            before = rss_kb(ours.proc.pid)
            peak = before
            env = dict(ours.env(), DOCKER_BUILDKIT="0")
            p = subprocess.Popen(["docker", "build", "-q", "--no-cache", big], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while p.poll() is None:
                peak = max(peak, rss_kb(ours.proc.pid))
                time.sleep(0.05)
            print(f"{'RSS growth, ' + str(args.big_mb) + ' MB context':<34} dockyard {(peak - before) / 1024:8.1f} MB"
                  f"   (goal < 50 MB; daemon RSS before {before / 1024:.0f} MB)")
    finally:
        try:
            ours.cleanup()
        finally:  # the reference dockerd goes even if our daemon's clean-up failed
            if ref is not None:
                ref.stop()
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
