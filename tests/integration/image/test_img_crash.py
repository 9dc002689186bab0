"""kill -9 during `docker import` at many points: the store is either unchanged or complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.events import EventService
from dockyard.daemon.images import ImageService
from dockyard.state.db import Database

@pytest.fixture(autouse=True)
def _root() -> None:
    """dockyard runs as root: a non-root run fails here rather than silently dropping these tests."""
    if os.geteuid() != 0:
        pytest.fail("needs root: run the suite as root")

CHILD = r"""
import sys, time
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.events import EventService
from dockyard.daemon.images import ImageService
from dockyard.state.db import Database

class Slow:
    def __init__(self, f): self.f = f
    def read(self, n=-1):
        time.sleep(0.002)
        return self.f.read(min(n, 16384) if n > 0 else 16384)

root, tar = sys.argv[1], sys.argv[2]
svc = ImageService(DaemonConfig(data_root=root), Database(root + "/dockyard.db"), EventService())
print("ready", flush=True)
with open(tar, "rb") as f:
    svc.import_image(Slow(f), "crash", ["CMD sh"], "", None)
print("done", flush=True)
"""


def check_consistent(root: str) -> int:
    """Reopen the store (start-up clean-up runs) and check every invariant; returns the image count."""
    db = Database(os.path.join(root, "dockyard.db"))
    try:
        svc = ImageService(DaemonConfig(data_root=root), db, EventService())
        layers = {r["chain_id"]: r for r in db.query("SELECT * FROM layers")}
        for img in svc.store.all():
            assert os.path.exists(os.path.join(svc.store.blob_dir, img.id[7:]))
            for cid in img.chain:
                assert cid in layers and layers[cid]["refcount"] >= 1
        assert all(r["refcount"] >= 1 for r in layers.values())
        o2 = os.path.join(root, "overlay2")
        dirs = {d for d in os.listdir(o2) if d not in ("l", "empty")}
        assert dirs == {r["cache_id"] for r in layers.values()}
        for r in layers.values():
            assert os.path.isdir(os.path.join(o2, r["cache_id"], "diff"))
        assert all(os.path.exists(os.path.join(o2, "l", s)) for s in os.listdir(os.path.join(o2, "l")))
        assert sorted(os.listdir(svc.store.blob_dir)) == sorted(i.id[7:] for i in svc.store.all())
        for row in db.query("SELECT image_id FROM tags"):
            assert svc.store.get(row["image_id"]) is not None
        return svc.count()
    finally:
        db.close()


def test_kill_during_import_leaves_old_or_new_state(tmp_path, busybox_tar):
    outcomes = []
    for i, delay in enumerate([0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9]):
        root = str(tmp_path / f"root{i}")
        proc = subprocess.Popen([sys.executable, "-c", CHILD, root, str(busybox_tar)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        outcomes.append(check_consistent(root))
    assert set(outcomes) <= {0, 1}
    assert outcomes[0] == 0  # killed at once: nothing recorded
