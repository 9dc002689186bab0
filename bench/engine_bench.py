#!/usr/bin/env python3
"""Engine benchmark: dockyard against dockerd, interleaved in one invocation.

Prints medians and ratios (dockyard / dockerd) for:
  - `docker run --rm IMG true` latency (the real docker CLI),
  - 50 sequential and 20 concurrent create-start-wait-rm (docker-py, the API),
  - daemon idle RSS,
  - added RSS per running idle container (the daemon plus every engine-side
    helper: conmon for dockyard; containerd + shims for dockerd — never the
    container's own processes).

Both engines run on private sockets and data roots made here, and both get
the same busybox image by `docker import`. dockerd comes from Debian's
docker.io, installed when absent (pass --no-docker to measure dockyard alone).
Containers use `--network none` on both sides (dockyard has no bridge yet).

    python3 bench/engine_bench.py [--runs 20] [--no-docker]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.private_dockerd import PrivateDockerd, descendants  # noqa: E402,F401 (descendants: for lifecycle_bench)
from tests.support.daemon import Daemon, new_daemon  # noqa: E402
from tests.support.procs import cmdline, pids_matching, rss_kb  # noqa: E402


CGROUP_PARENT = "/dybench-docker"


class Dockerd(PrivateDockerd):
    """The benchmarks' reference dockerd (bench/private_dockerd.py); no networking unless given flags."""

    def __init__(self, network_args: list[str] | None = None) -> None:
        super().__init__("dybench", network_args=network_args, cgroup_parent=CGROUP_PARENT)


def conmon_pids(exec_root: str) -> list[int]:
    return pids_matching(lambda argv: argv[0].endswith(b"conmon") and any(exec_root.encode() in a for a in argv))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(["docker", *args], env=env, check=True, capture_output=True)


def cycle(client, image: str) -> None:
    c = client.containers.create(image, ["true"], network_mode="none")
    c.start()
    c.wait()
    c.remove()


def report(title: str, ours: list[float], ref: list[float] | None, unit: str = "ms", scale: float = 1000) -> None:
    m = statistics.median(ours) * scale
    if ref:
        r = statistics.median(ref) * scale
        print(f"{title:<44} dockyard {m:9.1f} {unit}   dockerd {r:9.1f} {unit}   ratio {m / r:5.2f}")
    else:
        print(f"{title:<44} dockyard {m:9.1f} {unit}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--idle", type=int, default=10, help="idle containers for the per-container RSS figure")
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--runtime", default=None, help="dockyard's default runtime (dockyard, crun, runc)")
    args = ap.parse_args()

    import docker

    tar = os.path.join(tempfile.mkdtemp(prefix="dybench-"), "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)

    ours: Daemon = new_daemon(extra_args=["--log-level", "warn"] +
                              (["--default-runtime", args.runtime] if args.runtime else []))
    ref: Dockerd | None = None
    if not args.no_docker:
        if not shutil.which("dockerd"):
            subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io"], check=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), capture_output=True)
        ref = Dockerd()
    try:
        ours.start()
        idle_ours = rss_kb([ours.proc.pid])
        engines = [("dockyard", ours.env())]
        if ref is not None:
            ref.start()
            time.sleep(1)
            idle_ref = rss_kb(ref.pids())
            engines.append(("dockerd", ref.env()))
        for _, env in engines:
            cli(env, "import", tar, "bench:latest")
            cli(env, "run", "--rm", "--network", "none", "bench", "true")  # warm up

        times: dict[str, list[float]] = {name: [] for name, _ in engines}
        for _ in range(args.runs):
            for name, env in engines:
                times[name].append(timed(lambda: cli(env, "run", "--rm", "--network", "none", "bench", "true")))
        print(f"# {args.runs} runs each, interleaved; medians")
        report("docker run --rm IMG true", times["dockyard"], times.get("dockerd"))

        clients = {name: docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=120) for name, env in engines}
        seq: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(50):
            for name, client in clients.items():
                seq[name].append(timed(lambda: cycle(client, "bench")))
        report("create-start-wait-rm, 50 sequential (each)", seq["dockyard"], seq.get("dockerd"))

        conc: dict[str, list[float]] = {}
        for name, client in clients.items():
            with concurrent.futures.ThreadPoolExecutor(20) as pool:
                t0 = time.perf_counter()
                list(pool.map(lambda _: cycle(client, "bench"), range(20)))
                conc[name] = [time.perf_counter() - t0]
        report("create-start-wait-rm, 20 concurrent (all)", conc["dockyard"], conc.get("dockerd"))

        print(f"{'daemon idle RSS':<44} dockyard {idle_ours / 1024:9.1f} MB" +
              (f"   dockerd {idle_ref / 1024:9.1f} MB (with containerd)" if ref else ""))

        def engine_rss(name: str) -> int:
            if name == "dockyard":
                return rss_kb([ours.proc.pid] + conmon_pids(ours.exec_root))
            assert ref is not None
            helpers = set(ref.pids()) | set(shim_pids("dybench"))
            return rss_kb([p for p in helpers if not is_container_process(p)])

        for name, client in clients.items():
            before = engine_rss(name)
            started = [client.containers.run("bench", ["sleep", "1000"], detach=True, network_mode="none")
                       for _ in range(args.idle)]
            time.sleep(1)
            after = engine_rss(name)
            per = (after - before) / args.idle / 1024
            print(f"{'added RSS per idle container (' + name + ')':<44} {per:9.2f} MB")
            for c in started:
                c.remove(force=True)
    finally:
        ours.cleanup()
        if ref is not None:
            ref.stop()
        shutil.rmtree(os.path.dirname(tar), ignore_errors=True)
    return 0


def shim_pids(namespace: str) -> list[int]:
    """containerd shims of one containerd namespace (they re-parent to init, so scan /proc)."""
    return pids_matching(lambda argv: b"containerd-shim" in argv[0] and namespace.encode() in argv)


def is_container_process(pid: int) -> bool:
    """A process running inside a container (busybox sleep), not an engine helper."""
    argv = cmdline(pid)
    return bool(argv) and argv[0] in (b"sleep", b"/bin/sleep", b"true")


if __name__ == "__main__":
    sys.exit(main())
