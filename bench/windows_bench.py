#!/usr/bin/env python3
"""Windows process containers under Wine next to Linux containers, in one invocation.

Prints, side by side (medians over ``--runs``, interleaved), the latency of

  - ``docker run --rm IMG true`` on the Linux engine (dockyardd, busybox image)
  - ``docker run --rm IMG python -c pass`` on the Windows engine (dockyardd on
    the Windows CPython under Wine 8, the embeddable CPython as the image)

and where the Windows time goes:

  - Wine process start-up: a bare ``wine python.exe -c pass``, and one runtime
    command (``python.exe -m dockyard.runtime.windows.cli list``: start-up plus
    the runtime's imports); a ``run`` starts five Windows processes (``create``,
    the supervisor, the container, ``start``, ``delete``), four of them the
    runtime;
  - the engine's own phases of the start (``DockyardStart`` in inspect:
    Rootfs = the image copied into the container's folder, Bundle, RuntimeCreate,
    Attach, RuntimeStart), and ``rm`` (one ``runtime delete``) measured apart,
    for both engines.

    python3 bench/windows_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.integration.windows import wine as winelib  # noqa: E402
from tests.integration.windows.test_daemon import WinDaemon  # noqa: E402
from tests.support.daemon import new_daemon  # noqa: E402

PHASES = ("Rootfs", "Bundle", "RuntimeCreate", "Attach", "RuntimeStart")


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr}")
    return took


def med(values: list[float]) -> float:
    return statistics.median(values) * 1000


def line(title: str, win: float, lin: float | None = None) -> None:
    if lin is None:
        print(f"{title:<52} windows {win:9.1f} ms")
    else:
        print(f"{title:<52} windows {win:9.1f} ms   linux {lin:9.1f} ms   ratio {win / lin:6.1f}")


def phases(env: dict[str, str], image_and_cmd: list[str]) -> tuple[dict[str, float], float]:
    """One non-``--rm`` run: the engine's start phases (ms) and the time of its ``rm``."""
    cid = subprocess.run(["docker", "create", *image_and_cmd], env=env, check=True, capture_output=True,
                         text=True).stdout.strip()
    subprocess.run(["docker", "start", "-a", cid], env=env, check=True, capture_output=True)
    info = json.loads(subprocess.run(["docker", "inspect", cid], env=env, check=True, capture_output=True,
                                     text=True).stdout)[0]
    rm = timed(["docker", "rm", cid], env)
    start = info.get("DockyardStart") or {}
    return {p: float(start.get(f"{p}Ms", 0.0)) for p in ("Total", *PHASES)}, rm


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dywinbench-"))
    linux = new_daemon(extra_args=["--log-level", "warn"])
    win: WinDaemon | None = None
    try:
        busybox = work / "busybox.tar"
        subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", str(busybox)], check=True,
                       capture_output=True)
        linux.start()
        lenv = linux.env()
        subprocess.run(["docker", "import", str(busybox), "bench"], env=lenv, check=True, capture_output=True)

        (work / "wine").mkdir()
        wine = winelib.setup(work / "wine")
        wine.add_wheels("daemon-wheels", winelib.DAEMON_WHEELS)
        (work / "windaemon").mkdir()
        win = WinDaemon(wine, work / "windaemon")
        win.start()
        wenv = win.docker_env()
        pytar = work / "py.tar"
        with tarfile.open(pytar, "w") as tf:
            tf.add(wine.python_dir, arcname=".")
        subprocess.run(["docker", "import", str(pytar), "winpy"], env=wenv, check=True, capture_output=True)
        image_mb = sum(f.stat().st_size for f in wine.python_dir.rglob("*") if f.is_file()) / 1e6

        lrun = ["docker", "run", "--rm", "--network", "none", "bench", "true"]
        wrun = ["docker", "run", "--rm", "winpy", "python", "-c", "pass"]
        bare = [wine.wine, wine.python_exe, "-c", "pass"]
        rtcmd = [wine.wine, wine.python_exe, "-m", "dockyard.runtime.windows.cli", "--root",
                 winelib.to_windows(work / "rtroot"), "list"]
        for argv, env in ((lrun, lenv), (wrun, wenv), (bare, wine.env), (rtcmd, wine.env)):
            timed(argv, env)  # warm up
        t: dict[str, list[float]] = {"linux": [], "windows": [], "bare": [], "rtcmd": []}
        lph: list[dict[str, float]] = []
        wph: list[dict[str, float]] = []
        lrm: list[float] = []
        wrm: list[float] = []
        for _ in range(args.runs):
            t["linux"].append(timed(lrun, lenv))
            t["windows"].append(timed(wrun, wenv))
            t["bare"].append(timed(bare, wine.env))
            t["rtcmd"].append(timed(rtcmd, wine.env))
            p, r = phases(lenv, ["--network", "none", "bench", "true"])
            lph.append(p)
            lrm.append(r)
            p, r = phases(wenv, ["winpy", "python", "-c", "pass"])
            wph.append(p)
            wrm.append(r)

        print(f"# {args.runs} runs each, interleaved; medians. Windows image: the embeddable CPython, "
              f"{image_mb:.1f} MB copied per container")
        line("docker run --rm (Linux: true, Windows: python -c pass)", med(t["windows"]), med(t["linux"]))
        print("# where the Windows time goes")
        line("  wine python.exe -c pass (bare Wine process start)", med(t["bare"]))
        line("  one runtime command (start-up + runtime imports)", med(t["rtcmd"]))
        for ph in ("Total", *PHASES):
            line(f"  engine start phase {ph}", statistics.median(p[ph] for p in wph),
                 statistics.median(p[ph] for p in lph))
        line("  docker rm (runtime delete)", med(wrm), med(lrm))
        total, bare_ms, imports = med(t["windows"]), med(t["bare"]), med(t["rtcmd"]) - med(t["bare"])
        print(f"# split of the {total:.0f} ms Windows run: Wine process start-up 5 × {bare_ms:.0f} = "
              f"{5 * bare_ms:.0f} ms (create, supervisor, container, start, delete); the runtime's Python "
              f"imports 4 × {imports:.0f} = {4 * imports:.0f} ms (create, supervisor, start, delete); "
              f"the rest {total - 5 * bare_ms - 4 * imports:.0f} ms (folder copy, CLI and engine, waits)")
    finally:
        if win is not None:
            ids = subprocess.run(["docker", "ps", "-aq"], env=win.docker_env(), capture_output=True,
                                 text=True).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], env=win.docker_env(), capture_output=True)
            win.kill()
        linux.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
