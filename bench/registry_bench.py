#!/usr/bin/env python3
"""docker pull / push / save / load of a ~200 MB multi-layer image, dockyard beside dockerd.

One invocation starts Debian's docker-registry on a loopback port, builds an
image of four ~50 MB layers (two of random bytes, two of compressible text;
gzip as Docker compresses) as an OCI layout and pushes it there with skopeo,
then starts a dockyardd and a private dockerd (Debian's docker.io; loopback
registries are insecure by default for both) and measures, per round and
engine:

* pull: ``docker pull`` after ``docker rmi`` (nothing of the image present),
  with the daemon's RSS sampled every 20 ms (dockyard: growth over the RSS
  before the pull; dockerd: dockerd + containerd);
* push: the image loaded from a docker-archive (so no engine knows a blob
  source) and pushed to a fresh registry (nothing to skip or mount): gzip +
  upload of every layer;
* save / load: ``docker save -o`` and ``docker load -i`` of the pulled image.

Medians and dockyard/dockerd ratios are printed; then where dockyard's pull
time goes, measured in-process on the same blobs (sha256, gunzip, unpack; gzip for the push).

    python3 bench/registry_bench.py [--rounds 3] [--mb 50]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
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
sys.path.insert(0, os.path.join(ROOT, "src"))

from bench.engine_bench import Dockerd  # noqa: E402
from tests.support.daemon import new_daemon  # noqa: E402
from tests.support.ocimaker import Layout, layer_tar, skopeo  # noqa: E402
from tests.support.procs import rss_kb  # noqa: E402
from tests.support.registry import new_registry  # noqa: E402


def compressible(n: int, seed: int) -> bytes:
    words = [hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()[:8] for i in range(4096)]
    out = io.StringIO()
    i = 0
    while out.tell() < n:
        out.write(" ".join(words[(i * 7 + k) % 4096] for k in range(16)) + "\n")
        i += 1
    return out.getvalue().encode()[:n]


def build_image(root: str, mb: int) -> tuple[Layout, list[bytes]]:
    size = mb << 20
    tars = [layer_tar({f"data/random{i}.bin": os.urandom(size)}) for i in range(2)]
    tars += [layer_tar({f"data/text{i}.txt": compressible(size, i)}) for i in range(2)]
    layout = Layout(os.path.join(root, "oci"))
    desc, _ = layout.image(tars, ["gzip"] * 4)
    layout.tag(desc, "t")
    return layout, tars


class RssSampler:
    """Peak RSS (kB) of a set of processes, sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pids))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def docker(env: dict[str, str], *args: str) -> None:
    p = subprocess.run(["docker", *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {p.stderr}")


def timed(env: dict[str, str], *args: str) -> float:
    t = time.perf_counter()
    docker(env, *args)
    return time.perf_counter() - t


def where_the_time_goes(tars: list[bytes], tmp: str) -> None:
    from isal import igzip, isal_zlib

    from dockyard.image.distribution.push import GZIP_LEVEL
    from dockyard.image.unpack import apply_tar

    packed = [gzip.compress(t, 6) for t in tars]
    t = time.perf_counter()
    for p in packed:
        hashlib.sha256(p).hexdigest()
    sha = time.perf_counter() - t
    t = time.perf_counter()
    for p in packed:
        gzip.decompress(p)
    gunzip_zlib = time.perf_counter() - t
    t = time.perf_counter()
    for p in packed:
        igzip.decompress(p)  # what the daemon inflates with (ISA-L)
    gunzip = time.perf_counter() - t
    t = time.perf_counter()
    for tar in tars:
        isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31).compress(tar)
    deflate = time.perf_counter() - t
    t = time.perf_counter()
    for tar in tars:
        gzip.compress(tar, 6)
    deflate_zlib = time.perf_counter() - t
    t = time.perf_counter()
    for i, tar in enumerate(tars):
        dest = os.path.join(tmp, f"unpack{i}")
        os.makedirs(dest)
        apply_tar(io.BytesIO(tar), dest, os.path.join(tmp, f"rec{i}.gz"))
    unpack = time.perf_counter() - t
    t = time.perf_counter()
    os.sync()
    sync = time.perf_counter() - t
    total = sum(len(x) for x in tars) >> 20
    print(f"dockyard pull, in-process on the same {total} MB: sha256 of the blobs {sha:.2f} s, "
          f"gunzip {gunzip:.2f} s (zlib: {gunzip_zlib:.2f} s), unpack + DiffID + tar-split record {unpack:.2f} s, sync {sync:.2f} s")
    print(f"dockyard push, in-process: gzip of the layers {deflate:.2f} s (zlib level 6: {deflate_zlib:.2f} s)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mb", type=int, default=50, help="size of each of the four layers")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dyregbench-")
    reg = new_registry()
    reg.start()
    ours = new_daemon()
    ref = Dockerd()
    extra: list = []
    try:
        layout, tars = build_image(tmp, args.mb)
        image = f"{reg.host}/bench/src:1"
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.root}:t", f"docker://{image}", timeout=600)
        archive = os.path.join(tmp, "image.tar")
        skopeo("copy", f"oci:{layout.root}:t", f"docker-archive:{archive}:bench/load:1", timeout=600)
        ours.start()
        ref.start()
        engines = {"dockyard": (ours.env(), [ours.proc.pid]), "dockerd": (ref.env(), [])}
        ref_pids = [ref.proc.pid]
        res: dict[str, dict[str, list[float]]] = {e: {"pull": [], "push": [], "save": [], "load": [], "rss": []}
                                                  for e in engines}
        for rnd in range(args.rounds):
            for name, (env, pids) in engines.items():
                watch = pids or ref.pids() or ref_pids
                subprocess.run(["docker", "rmi", "-f", image, "bench/load:1"], env=env, capture_output=True)
                subprocess.run(["docker", "image", "prune", "-f"], env=env, capture_output=True)
                before = rss_kb(watch)
                with RssSampler(watch) as rss:
                    res[name]["pull"].append(timed(env, "pull", image))
                res[name]["rss"].append((rss.peak - before) / 1024)
                out = os.path.join(tmp, f"save-{name}.tar")
                res[name]["save"].append(timed(env, "save", "-o", out, image))
                docker(env, "rmi", image)
                res[name]["load"].append(timed(env, "load", "-i", out))
                os.unlink(out)
                target = new_registry()
                target.start()
                extra.append(target)
                docker(env, "load", "-i", archive)
                docker(env, "tag", "bench/load:1", f"{target.host}/bench/dst:{rnd}")
                res[name]["push"].append(timed(env, "push", f"{target.host}/bench/dst:{rnd}"))
                docker(env, "rmi", "-f", f"{target.host}/bench/dst:{rnd}", "bench/load:1")
                target.cleanup()
                extra.remove(target)
        total = sum(len(t) for t in tars) >> 20
        print(f"image: 4 layers, {total} MB uncompressed; {args.rounds} rounds; medians")
        for op in ("pull", "push", "save", "load"):
            m, r = statistics.median(res["dockyard"][op]), statistics.median(res["dockerd"][op])
            print(f"docker {op:<5} dockyard {m:7.2f} s   dockerd {r:7.2f} s   ratio {m / r:5.2f}")
        m, r = statistics.median(res["dockyard"]["rss"]), statistics.median(res["dockerd"]["rss"])
        print(f"RSS growth during the pull: dockyard {m:6.1f} MB   dockerd+containerd {r:6.1f} MB")
        where_the_time_goes(tars, tmp)
    finally:
        for r in extra:
            r.cleanup()
        ours.cleanup()
        ref.stop()
        reg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
