#!/usr/bin/env python3
"""critest -benchmark (pod and container lifecycle) on Debian's dockerd and on dockyard, side by side.

    python3 bench/critest_bench.py [--bench-n N] [--rounds R]

Both engines run behind the same cri-dockerd binary with a CNI bridge of their
own; the figures are critest's own (mean milliseconds per operation over N
sequential pods / containers), the median over R rounds that alternate the
engines, printed with the ratio dockyard / dockerd.  The issue's goal: dockyard's CreatePod (pod start) at most 0.5× dockerd's.  All the
machinery (loopback registry, locally built images, engines) is
scripts/critest.py's ``--benchmark`` mode.
"""

from __future__ import annotations

import pathlib
import runpy
import sys

if __name__ == "__main__":
    script = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "critest.py"
    sys.argv = [str(script), "--benchmark", "--out", "/tmp/dyk-critest-bench", *sys.argv[1:]]
    runpy.run_path(str(script), run_name="__main__")
