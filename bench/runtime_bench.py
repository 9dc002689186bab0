#!/usr/bin/env python3
"""create + start + wait + delete of a `true` container: dockyard-runtime vs crun vs runc.

The runtimes run interleaved in one invocation (so machine noise hits all of
them alike); the bench is the containers' subreaper, like conmon, and reaps
the init itself.  Prints the median per runtime and the ratio to dockyard's.

    python3 bench/runtime_bench.py [-n 30] [--runtime NAME=PATH ...]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PR_SET_CHILD_SUBREAPER = 36


def default_runtimes() -> dict[str, str]:
    sys.path.insert(0, os.path.join(ROOT, "src"))
    from dockyard.runtime.native import locate

    found = {"dockyard": locate()}
    for name in ("crun", "runc"):
        path = shutil.which(name)
        if path:
            found[name] = path
    return found


def make_bundle(dest: str) -> str:
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), os.path.join(dest, "rootfs")], check=True)
    sys.path.insert(0, os.path.join(ROOT, "src"))
    from dockyard.runtime.native.spec_defaults import default_spec

    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(spec, f)
    return dest


PHASES = ("create", "start", "wait", "delete")


def one_run(runtime: str, root: str, bundle: str) -> dict[str, float]:
    """One container's life; the wall time of each phase and the total, in seconds."""
    cid = "dybench-" + uuid.uuid4().hex[:10]
    pid_file = os.path.join(os.path.dirname(root), cid + ".pid")
    t0 = time.perf_counter()
    subprocess.run([runtime, "--root", root, "create", "--bundle", bundle, "--pid-file", pid_file, cid],
                   check=True, stdin=subprocess.DEVNULL)
    t1 = time.perf_counter()
    with open(pid_file) as f:
        pid = int(f.read())
    subprocess.run([runtime, "--root", root, "start", cid], check=True)
    t2 = time.perf_counter()
    _, status = os.waitpid(pid, 0)
    t3 = time.perf_counter()
    subprocess.run([runtime, "--root", root, "delete", cid], check=True)
    t4 = time.perf_counter()
    os.unlink(pid_file)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{runtime}: the container exited with {os.waitstatus_to_exitcode(status)}")
    return {"create": t1 - t0, "start": t2 - t1, "wait": t3 - t2, "delete": t4 - t3, "total": t4 - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=30, help="runs per runtime (default 30)")
    ap.add_argument("--runtime", action="append", default=[], help="NAME=PATH (repeatable)")
    args = ap.parse_args()
    runtimes = dict(r.split("=", 1) for r in args.runtime) or default_runtimes()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    work = tempfile.mkdtemp(prefix="dybench-")
    try:
        bundle = make_bundle(os.path.join(work, "bundle"))
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in runtimes}
        for name, path in runtimes.items():  # warm-up: page cache, pyc files
            one_run(path, os.path.join(work, "state-" + name), bundle)
        for _ in range(args.n):
            for name, path in runtimes.items():
                runs[name].append(one_run(path, os.path.join(work, "state-" + name), bundle))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    times = {name: [r["total"] for r in values] for name, values in runs.items()}
    base = statistics.median(times.get("dockyard") or next(iter(times.values())))
    print(f"create+start+wait+delete of `true`, {args.n} runs each (median, ratio to dockyard):")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:10s} {med * 1000:7.1f} ms   x{med / base:5.2f}   (min {min(values) * 1000:.1f} ms)")
    print("per phase (median ms): " + "  ".join(f"{p:>7s}" for p in PHASES))
    for name, values in runs.items():
        print(f"  {name:10s}            " + "  ".join(
            f"{statistics.median(r[p] for r in values) * 1000:7.1f}" for p in PHASES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
