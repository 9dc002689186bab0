"""The cgroup v2 manager against a directory tree shaped like /sys/fs/cgroup.

This machine runs cgroup v1, so the v2 manager's file handling is checked on a
plain directory whose files stand in for the kernel's: which files it writes,
with what, and how it reads stats back.
"""

from __future__ import annotations

import pathlib

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.native.cgroups.v2 import V2Manager, parse_io_stat

LEAF_FILES = ["cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "cgroup.freeze",
              "cgroup.events", "memory.max", "memory.low", "memory.swap.max", "cpu.weight", "cpu.max",
              "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "memory.events"]


@pytest.fixture
def fake_root(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "cgroup"
    for d in (root, root / "dockyard", root / "dockyard" / "c1"):
        d.mkdir()
        for name in LEAF_FILES:
            (d / name).write_text("")
        (d / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    return root


def test_create_enables_controllers_in_every_ancestor(fake_root: pathlib.Path) -> None:
    m = V2Manager("/dockyard/c1", root=str(fake_root))
    m.create()
    for d in (fake_root, fake_root / "dockyard"):
        assert (d / "cgroup.subtree_control").read_text().split() == [
            "+cpuset", "+cpu", "+io", "+memory", "+hugetlb", "+pids"]
    assert m.paths() == {"": str(fake_root / "dockyard" / "c1")}
    assert m.exists()


def test_set_writes_v2_files(fake_root: pathlib.Path) -> None:
    m = V2Manager("/dockyard/c1", root=str(fake_root))
    m.set({"memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 16 << 20},
           "cpu": {"shares": 1024, "quota": 25000, "period": 50000, "cpus": "0"},
           "pids": {"limit": 12}, "blockIO": {"weight": 1000}})
    leaf = fake_root / "dockyard" / "c1"
    got = {name: (leaf / name).read_text() for name in LEAF_FILES if (leaf / name).read_text()}
    assert got == {"memory.max": str(64 << 20), "memory.swap.max": str(32 << 20),
                   "memory.low": str(16 << 20), "cpu.weight": "39", "cpu.max": "25000 50000",
                   "cpuset.cpus": "0", "pids.max": "12", "io.weight": "default 10000",
                   "cgroup.controllers": "cpuset cpu io memory hugetlb pids\n"}


def test_missing_file_names_the_field(fake_root: pathlib.Path) -> None:
    m = V2Manager("/dockyard/c1", root=str(fake_root))
    (fake_root / "dockyard" / "c1" / "memory.swap.max").unlink()
    with pytest.raises(InvalidParameter, match="no swap accounting"):
        m.set({"memory": {"limit": 1 << 20, "swap": 2 << 20}})
    with pytest.raises(InvalidParameter, match=r"linux.resources.hugepageLimits\[0\].limit"):
        m.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})


def test_state_pids_oom_and_stats(fake_root: pathlib.Path) -> None:
    leaf = fake_root / "dockyard" / "c1"
    m = V2Manager("/dockyard/c1", root=str(fake_root))
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    (leaf / "cgroup.procs").write_text("10\n11\n")
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (leaf / "memory.current").write_text("4096\n")
    (leaf / "memory.max").write_text("max\n")
    (leaf / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                                   "nr_periods 4\nnr_throttled 1\nthrottled_usec 20\n")
    (leaf / "pids.current").write_text("2\n")
    (leaf / "pids.max").write_text("12\n")
    (leaf / "io.stat").write_text("8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
    assert m.state() == "paused"
    assert sorted(m.pids()) == [10, 11]
    assert m.oom_killed()
    s = m.stats()
    assert s["memory"]["usage"] == 4096 and s["memory"]["limit"] == 0 and s["memory"]["failcnt"] == 3
    assert s["cpu"]["usage"] == {"total": 1_500_000, "percpu": [], "kernel": 500_000, "user": 1_000_000}
    assert s["cpu"]["throttling"] == {"periods": 4, "throttled_periods": 1, "throttled_time": 20_000}
    assert s["pids"] == {"current": 2, "limit": 12}
    assert s["blkio"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 100},
        {"major": 8, "minor": 0, "op": "write", "value": 200}]


def test_parse_io_stat_skips_junk() -> None:
    assert parse_io_stat("garbage\n\n") == {"io_service_bytes_recursive": [], "io_serviced_recursive": []}


def test_check_before_update_refuses_limit_below_usage(fake_root: pathlib.Path) -> None:
    leaf = fake_root / "dockyard" / "c1"
    (leaf / "memory.current").write_text("8388608\n")
    m = V2Manager("/dockyard/c1", root=str(fake_root))
    with pytest.raises(InvalidParameter, match="already uses 8388608 bytes"):
        m.set({"memory": {"limit": 4 << 20, "checkBeforeUpdate": True}})
    assert (leaf / "memory.max").read_text() == ""
    m.set({"memory": {"limit": 16 << 20, "checkBeforeUpdate": True}})
    assert (leaf / "memory.max").read_text() == str(16 << 20)
