#!/usr/bin/env python3
"""The image side of `docker run`'s latency, and import speed.

Measures, on a temporary data root: `docker import` of the busybox tarball
(unpack + DiffID + tar-split record), `resolve()` of a name, `create_rw()` +
`mount()` of a container's RW layer, and `unmount` + `remove`. Prints medians.

    python3 bench/image_bench.py [-n 50] [--layers 1]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from dockyard.daemon.config import DaemonConfig  # noqa: E402
from dockyard.daemon.events import EventService  # noqa: E402
from dockyard.daemon.images import ImageService  # noqa: E402
from dockyard.image.archive import empty_container_config, rfc3339_nano  # noqa: E402
from dockyard.state.db import Database  # noqa: E402


def small_layer(i: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(f"layer{i}")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    return buf.getvalue()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=50)
    p.add_argument("--layers", type=int, default=1, help="extra small layers on top of busybox")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="dyimgbench-")
    try:
        tar = os.path.join(tmp, "busybox.tar")
        subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
        data_root = os.path.join(tmp, "data")
        db = Database(os.path.join(data_root, "dockyard.db"))
        svc = ImageService(DaemonConfig(data_root=data_root), db, EventService())
        imports = []
        for i in range(5):
            with open(tar, "rb") as f:
                t = time.perf_counter()
                iid = svc.import_image(f, f"bench{i}", [], "", None)
                imports.append(time.perf_counter() - t)
        if args.layers > 1:
            import json
            img = svc.resolve(iid)
            parent, diff_ids = img.chain[-1], list(img.diff_ids)
            for i in range(args.layers - 1):
                layer = svc.layers.register(io.BytesIO(small_layer(i)), parent)
                parent = layer.chain_id
                diff_ids.append(layer.diff_id)
            cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": rfc3339_nano(),
                              "config": empty_container_config(),
                              "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
            img, _ = svc.store.add(cfg, 0, rfc3339_nano())
            svc.tag(img.id, "bench0")
        svc.layers.create_rw("warmup", svc.resolve("bench0").id).remove()
        res, create, remove = [], [], []
        for i in range(args.n):
            t0 = time.perf_counter()
            img = svc.resolve("bench0")
            t1 = time.perf_counter()
            rw = svc.layers.create_rw(f"c{i}", img.id)
            rw.mount()
            t2 = time.perf_counter()
            rw.remove()
            t3 = time.perf_counter()
            res.append(t1 - t0)
            create.append(t2 - t1)
            remove.append(t3 - t2)
        size = os.path.getsize(tar) / 1e6
        print(f"import busybox ({size:.1f} MB tar): {statistics.median(imports) * 1e3:.0f} ms")
        print(f"resolve('bench0'):                {statistics.median(res) * 1e6:.0f} µs")
        print(f"create_rw + mount ({len(svc.resolve('bench0').chain)} layers):   "
              f"{statistics.median(create) * 1e3:.2f} ms")
        print(f"unmount + remove:                 {statistics.median(remove) * 1e3:.2f} ms")
        db.close()
    finally:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if tmp in line.split()[4]:
                    subprocess.run(["umount", "-l", line.split()[4]], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
