"""The cgroup v2 manager against a real cgroup2 mount of this host, not only a folder of empty files.

On a v1 host the unified hierarchy is still mounted (``/sys/fs/cgroup/unified``),
with every controller bound to v1: the manager's create, attach, freeze, kill,
stats and destroy run against the kernel's files there. Limits need the
controllers that ``cgroup.controllers`` lists; those that are absent are
refused with the field named.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator

import pytest
from rtsec_helpers import Child

from dockyard.errors import InvalidParameter
from dockyard.runtime.native.cgroups.v2 import V2Manager
from tests.support import probes

MOUNT = probes.cgroup2_mount()
pytestmark = pytest.mark.skipif(MOUNT is None, reason="this host has no cgroup2 file system mounted")


def controllers() -> set[str]:
    with open(f"{MOUNT}/cgroup.controllers") as f:
        return set(f.read().split())


@pytest.fixture
def v2() -> Iterator[V2Manager]:
    m = V2Manager(f"/dytest-{secrets.token_hex(4)}/c1", root=MOUNT)
    try:
        yield m
    finally:
        if m.exists():
            m.kill_all(signal.SIGKILL)
            m.destroy()
        parent = os.path.dirname(m.dir)
        if os.path.isdir(parent):
            os.rmdir(parent)
        assert not os.path.exists(m.dir)


def test_create_apply_freeze_kill_destroy_on_the_real_mount(v2: V2Manager) -> None:
    v2.create()
    assert os.path.isfile(v2.dir + "/cgroup.procs")  # made by the kernel, not by us
    def busy_then_sleep() -> None:
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            pass
        time.sleep(3600)

    child = Child(busy_then_sleep)
    try:
        v2.apply(child.pid)
        child.go()
        assert v2.pids() == [child.pid]
        with open(f"/proc/{child.pid}/cgroup") as f:
            assert any(line.startswith("0::") and line.strip().endswith(v2.path) for line in f)
        v2.freeze()
        assert v2.state() == "paused"
        v2.thaw()
        assert v2.state() == "running"
        deadline = time.monotonic() + 10  # cpu.stat is there without the cpu controller
        while v2.stats()["cpu"]["usage"]["total"] == 0:
            assert time.monotonic() < deadline, "no CPU time accounted in cpu.stat"
            time.sleep(0.01)
        v2.kill_all(signal.SIGKILL)
        _, status = child.finish()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    finally:
        child.close()
    v2.destroy()
    assert not v2.exists()


def test_limits_need_their_controller(v2: V2Manager) -> None:
    v2.create()
    if "pids" in controllers():
        v2.set({"pids": {"limit": 12}})
        with open(v2.dir + "/pids.max") as f:
            assert f.read().strip() == "12"
    else:  # bound to v1 on this host: the file does not exist, and the error says which field
        with pytest.raises(InvalidParameter, match="linux.resources.pids"):
            v2.set({"pids": {"limit": 12}})
    v2.set({})  # nothing asked: nothing written, no error
