"""dockyard's native OCI runtime (``dockyard-runtime``): runc's command line in Python.

``locate()`` tells the daemon which program to run.
"""

from __future__ import annotations

import os

LAUNCHER = "/usr/local/bin/dockyard-runtime"


def locate() -> str:
    """Path of the runtime program: ``$DOCKYARD_RUNTIME`` when set (a development
    checkout's own launcher), else the fast launcher if installed, else the console script."""
    override = os.environ.get("DOCKYARD_RUNTIME")
    if override:
        return override
    if os.access(LAUNCHER, os.X_OK):
        return LAUNCHER
    import sys

    candidate = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
    if os.access(candidate, os.X_OK):
        return candidate
    import shutil  # not at the top: it imports re and enum (~15 ms of start-up)

    found = shutil.which("dockyard-runtime")
    if found:
        return found
    raise FileNotFoundError("dockyard-runtime is not installed (run scripts/install.sh)")
