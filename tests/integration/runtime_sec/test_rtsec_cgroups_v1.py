"""Real cgroups on this host (cgroup v1 hierarchies): limits seen by real processes."""

from __future__ import annotations

import errno
import os
import secrets
import select
import signal
import time
from collections.abc import Iterator

import pytest
from rtsec_helpers import Child

from dockyard.errors import InvalidParameter
from tests.support import probes
from dockyard.runtime.native import cgroups
from dockyard.runtime.native.cgroups.base import CgroupManager

pytestmark = pytest.mark.skipif(cgroups.detect() != 1, reason="these tests drive cgroup v1 hierarchies")

MB = 1 << 20


@pytest.fixture
def cg() -> Iterator[CgroupManager]:
    name = f"dytest-{secrets.token_hex(4)}"
    m = cgroups.new_manager(None, name)
    m.create()
    try:
        yield m
    finally:
        if m.exists():
            m.kill_all(signal.SIGKILL)
            m.destroy()
        assert not any(os.path.exists(d) for d in m.paths().values())


def test_create_in_every_hierarchy_and_destroy_leaves_nothing() -> None:
    name = f"dytest-{secrets.token_hex(4)}"
    m = cgroups.new_manager(None, name)
    paths = m.paths()
    assert {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices"} <= set(paths)
    assert all(p.endswith(f"/dockyard/{name}") for p in paths.values())
    m.create()
    try:
        assert all(os.path.isdir(p) for p in paths.values())
        with open(paths["cpuset"] + "/cpuset.cpus") as f, open("/sys/fs/cgroup/cpuset/cpuset.cpus") as root:
            assert f.read().strip() == root.read().strip() != ""
        with open(paths["devices"] + "/devices.list") as f:
            assert f.read().strip() == "a *:* rwm"
        assert m.exists() and m.state() == "running" and m.pids() == []
    finally:
        m.destroy()
    assert not m.exists()
    assert not any(os.path.exists(p) for p in paths.values())
    m.destroy()  # already gone: tolerated


def test_memory_limit_oom_kills_the_allocation(cg: CgroupManager) -> None:
    cg.set({"memory": {"limit": 32 * MB, "swap": 32 * MB}})
    child = Child(lambda: len(b"x" * (256 * MB)))
    try:
        cg.apply(child.pid)
        child.go()
        result, status = child.finish()
    finally:
        child.close()
    assert result is None
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL  # exit 137 in a shell
    assert cg.oom_killed()


def test_pids_limit_stops_a_fork_loop(cg: CgroupManager) -> None:
    cg.set({"pids": {"limit": 5}})

    def fork_loop() -> list:
        r, w = os.pipe()
        kids = []
        err = None
        for _ in range(50):
            try:
                pid = os.fork()
            except OSError as exc:
                err = exc.errno
                break
            if pid == 0:
                os.close(w)
                os.read(r, 1)
                os._exit(0)
            kids.append(pid)
        os.close(w)
        for pid in kids:
            os.waitpid(pid, 0)
        return [len(kids), err]

    child = Child(fork_loop)
    try:
        cg.apply(child.pid)
        child.go()
        result, status = child.finish()
    finally:
        child.close()
    assert result == {"ok": [4, errno.EAGAIN]}  # itself + 4 children = pids.max 5
    assert cg.stats()["pids"]["limit"] == 5


def test_freeze_and_thaw(cg: CgroupManager) -> None:
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()

    def echo() -> None:
        while os.read(req_r, 1):
            os.write(rep_w, b"!")

    child = Child(echo)
    try:
        cg.apply(child.pid)
        child.go()
        os.write(req_w, b"?")
        assert select.select([rep_r], [], [], 30)[0] and os.read(rep_r, 1) == b"!"
        cg.freeze()
        assert cg.state() == "paused"
        assert cgroups.new_manager(None, os.path.basename(cg.path)).state() == "paused"  # as `state` sees it
        os.write(req_w, b"?")
        assert select.select([rep_r], [], [], 0.5)[0] == []  # frozen: no answer
        cg.thaw()
        assert cg.state() == "running"
        assert select.select([rep_r], [], [], 30)[0] and os.read(rep_r, 1) == b"!"
    finally:
        child.close()
        for fd in (req_r, req_w, rep_r, rep_w):
            os.close(fd)


def test_stats_and_pids(cg: CgroupManager) -> None:
    cg.set({"memory": {"limit": 256 * MB}})
    ready_r, ready_w = os.pipe()

    def hold() -> None:
        block = b"x" * (24 * MB)
        os.write(ready_w, b"1")
        time.sleep(3600)
        del block

    child = Child(hold)
    try:
        cg.apply(child.pid)
        child.go()
        assert select.select([ready_r], [], [], 30)[0]
        assert cg.pids() == [child.pid]
        assert cgroups.load(None, os.path.basename(cg.path)).pids() == [child.pid]
        s = cg.stats()
        assert s["memory"]["usage"] >= 24 * MB
        assert s["memory"]["limit"] == 256 * MB
        assert s["memory"]["stats"]["total_rss"] >= 24 * MB
        assert s["pids"] == {"current": 1, "limit": 0}
        assert s["cpu"]["usage"]["total"] > 0 and len(s["cpu"]["usage"]["percpu"]) == os.cpu_count()
        assert s["cpu"]["system_usage"] > s["cpu"]["usage"]["total"]
        assert not cg.oom_killed()
    finally:
        child.close()
        os.close(ready_r)
        os.close(ready_w)


def test_refused_limits_name_the_field(cg: CgroupManager) -> None:
    cg.set({"memory": {"limit": 256 * MB, "swap": 256 * MB}})
    ready_r, ready_w = os.pipe()

    def hold() -> None:
        block = b"x" * (64 * MB)
        os.write(ready_w, b"1")
        time.sleep(3600)
        del block

    child = Child(hold)
    try:
        cg.apply(child.pid)
        child.go()
        assert select.select([ready_r], [], [], 30)[0]
        with pytest.raises(InvalidParameter, match=r"linux.resources.memory.limit to '4194304'.*refused"):
            cg.set({"memory": {"limit": 4 * MB}})
        cpu = probes.absent_cpu()
        with pytest.raises(InvalidParameter, match=rf"linux.resources.cpu.cpus to '{cpu}'"):
            cg.set({"cpu": {"cpus": str(cpu)}})
        with pytest.raises(InvalidParameter, match="linux.resources.cpu.quota.*at least 1000"):
            cg.set({"cpu": {"quota": 10}})
    finally:
        child.close()
        os.close(ready_r)
        os.close(ready_w)


def test_update_raises_memory_above_old_swap_limit(cg: CgroupManager) -> None:
    if not probes.swap_accounting():
        pytest.skip("this kernel accounts no swap (memory.memsw.*: boot with swapaccount=1)")
    cg.set({"memory": {"limit": 32 * MB, "swap": 32 * MB}, "pids": {"limit": 10}})
    # Writing memory first would fail (new limit > current memory+swap): the order matters.
    cg.set({"memory": {"limit": 128 * MB, "swap": 256 * MB}})
    cg.set({"pids": {"limit": 20}})
    mem = cg.paths()["memory"]
    with open(mem + "/memory.limit_in_bytes") as f1, open(mem + "/memory.memsw.limit_in_bytes") as f2:
        assert (int(f1.read()), int(f2.read())) == (128 * MB, 256 * MB)
    cg.set({"memory": {"limit": 16 * MB, "swap": 16 * MB}})  # and back down
    with open(mem + "/memory.limit_in_bytes") as f1, open(mem + "/memory.memsw.limit_in_bytes") as f2:
        assert (int(f1.read()), int(f2.read())) == (16 * MB, 16 * MB)
    assert cg.stats()["pids"]["limit"] == 20


def test_kill_all_then_destroy(cg: CgroupManager) -> None:
    def family() -> None:
        for _ in range(3):
            if os.fork() == 0:
                time.sleep(3600)
                os._exit(0)
        time.sleep(3600)

    child = Child(family)
    try:
        cg.apply(child.pid)
        child.go()
        deadline = time.monotonic() + 30
        while len(cg.pids()) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cg.pids()) == 4
        cg.kill_all(signal.SIGKILL)
        result, status = child.finish()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        cg.destroy()  # grandchildren may still be exiting: destroy retries on EBUSY
        assert not cg.exists()
    finally:
        child.close()


def test_devices_rules_from_resources(cg: CgroupManager) -> None:
    cg.set({"devices": [{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})

    def open_devices() -> list:
        out = []
        for dev in ("/dev/null", "/dev/zero"):
            try:
                os.close(os.open(dev, os.O_RDONLY))
                out.append("ok")
            except OSError as exc:
                out.append(exc.errno)
        return out

    child = Child(open_devices)
    try:
        cg.apply(child.pid)
        child.go()
        result, _ = child.finish()
    finally:
        child.close()
    assert result == {"ok": ["ok", errno.EPERM]}  # /dev/null (1:3) allowed, /dev/zero (1:5) denied


def test_blkio_weight(cg: CgroupManager) -> None:
    name = probes.blkio_weight_file()
    if name is None:
        pytest.skip("this kernel's blkio controller has no weight file (no CFQ/BFQ scheduler)")
    cg.set({"blockIO": {"weight": 300}})
    with open(os.path.join(cg.paths()["blkio"], name)) as f:
        assert f.read().split()[-1] == "300"  # "default 300" with BFQ


def test_hugetlb_limit(cg: CgroupManager) -> None:
    sizes = probes.hugepage_sizes()
    if not sizes or "hugetlb" not in cg.paths():
        pytest.skip("this kernel offers no huge pages or has no hugetlb controller")
    size = sizes[0]
    cg.set({"hugepageLimits": [{"pageSize": size, "limit": 4 << 30}]})
    with open(cg.paths()["hugetlb"] + f"/hugetlb.{size}.limit_in_bytes") as f:
        limit = int(f.read())
    assert limit <= 4 << 30 and limit > 0  # the kernel rounds down to whole pages


def test_unlimited_stats(cg: CgroupManager) -> None:
    assert cg.stats()["memory"]["limit"] == 0  # no limit set: reported as 0, as on v2


def test_failed_create_removes_what_it_made(tmp_path) -> None:
    """A hierarchy that cannot take the new directory: the ones already made are removed."""
    from dockyard.errors import SystemError_
    from dockyard.runtime.native.cgroups.v1 import V1Manager

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    mountinfo = ("38 33 0:33 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                 f"39 33 0:34 / {blocker} rw - cgroup cgroup rw,pids\n")
    name = f"dytest-{secrets.token_hex(4)}"
    m = V1Manager(f"/{name}/inner", mountinfo=mountinfo)
    with pytest.raises(SystemError_, match=f"create cgroup /{name}/inner"):
        m.create()
    assert not os.path.exists(f"/sys/fs/cgroup/memory/{name}")


def test_create_refuses_systemd_paths() -> None:
    with pytest.raises(InvalidParameter, match="systemd"):
        cgroups.new_manager("system.slice:docker:abc", "abc")
