"""The runtime's speed-ups change nothing a container or the host can see."""

from __future__ import annotations

import os
import subprocess
import uuid

from dockyard.runtime.native import cgroups


def test_warm_attach_moves_no_process_and_the_real_attach_still_works():
    """The probe re-attaches the runtime to the cgroup it is in; the container's attach is unchanged."""
    cg = cgroups.new_manager(None, "dytest-" + uuid.uuid4().hex[:10])
    cg.create()
    child = subprocess.Popen(["sleep", "30"])
    try:
        with open("/proc/self/cgroup") as f:
            before = f.read()
        probe = cg._own_procs_file()
        assert probe and os.path.isfile(probe)
        with open(probe) as f:
            assert str(os.getpid()) in f.read().split()  # the probe targets the cgroup we are in
        cg.warm_attach()
        cg.apply(child.pid)
        with open("/proc/self/cgroup") as f:
            assert f.read() == before
        pids = cg.pids()
        assert child.pid in pids and os.getpid() not in pids
    finally:
        child.kill()
        child.wait()
        cg.destroy()
    assert not cg.exists()


def test_destroy_removes_sub_cgroups_too():
    """The one-rmdir fast path falls back to the bottom-up walk when sub-cgroups exist (EBUSY)."""
    cg = cgroups.new_manager(None, "dytest-" + uuid.uuid4().hex[:10])
    cg.create()
    try:
        first = next(iter(cg.paths().values()))
        os.makedirs(os.path.join(first, "child", "grandchild"))
        cg.destroy()
        assert not cg.exists()
    finally:
        for d in cg.paths().values():
            for sub in ("child/grandchild", "child", ""):
                try:
                    os.rmdir(os.path.join(d, sub) if sub else d)
                except OSError:
                    pass


def test_destroy_of_a_gone_cgroup_is_quiet():
    cg = cgroups.new_manager(None, "dytest-" + uuid.uuid4().hex[:10])
    cg.destroy()
    assert not cg.exists()
