"""OCI linux.resources -> cgroup v1/v2 file writes (pure), and cgroup path rules."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.native.cgroups import mapping, resolve_path
from dockyard.runtime.native.cgroups.mapping import Write, v1_writes, v2_writes
from dockyard.runtime.native.cgroups.v1 import mounts


def files(writes: list[Write]) -> dict[str, str]:
    return {w.file: w.value for w in writes}


# --- v1 ---------------------------------------------------------------------

def test_v1_memory_limit_swap_reservation() -> None:
    w = v1_writes({"memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20}})
    assert files(w) == {"memory.limit_in_bytes": str(64 << 20),
                        "memory.memsw.limit_in_bytes": str(128 << 20),
                        "memory.soft_limit_in_bytes": str(32 << 20)}
    assert all(x.controller == "memory" for x in w)
    assert {x.field for x in w} == {"linux.resources.memory.limit", "linux.resources.memory.swap",
                                    "linux.resources.memory.reservation"}


def test_v1_swap_smaller_than_memory_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="must not be smaller than the memory limit"):
        v1_writes({"memory": {"limit": 128 << 20, "swap": 64 << 20}})


def test_v1_cpu_and_cpuset() -> None:
    w = v1_writes({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"}})
    assert files(w) == {"cpu.shares": "512", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000",
                        "cpuset.cpus": "0-1", "cpuset.mems": "0"}
    # The period goes first so a quota valid only for the new period is accepted.
    names = [x.file for x in w]
    assert names.index("cpu.cfs_period_us") < names.index("cpu.cfs_quota_us")
    assert {x.controller for x in w if x.file.startswith("cpuset")} == {"cpuset"}


def test_v1_pids_blkio_hugetlb_oom() -> None:
    w = v1_writes({"pids": {"limit": 20}, "blockIO": {"weight": 300, "throttleReadBpsDevice": [
        {"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}],
        "memory": {"disableOOMKiller": True, "swappiness": 10}})
    assert files(w) == {"pids.max": "20", "blkio.weight": "300",
                        "blkio.throttle.read_bps_device": "8:0 1048576",
                        "hugetlb.2MB.limit_in_bytes": str(4 << 21),
                        "memory.oom_control": "1", "memory.swappiness": "10"}


def test_v1_pids_unlimited_and_unset() -> None:
    assert files(v1_writes({"pids": {"limit": -1}})) == {"pids.max": "max"}
    assert v1_writes({"pids": {"limit": 0}}) == []


def test_v1_devices_in_order() -> None:
    w = v1_writes({"devices": [{"allow": False, "access": "rwm"},
                               {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                               {"allow": True, "type": "c", "major": 136, "access": "rwm"}]})
    assert [(x.file, x.value) for x in w] == [("devices.deny", "a"), ("devices.allow", "c 1:3 rw"),
                                              ("devices.allow", "c 136:* rwm")]


def test_v1_refuses_unified_and_bad_values() -> None:
    with pytest.raises(InvalidParameter, match="cgroup v2"):
        v1_writes({"unified": {"memory.high": "1G"}})
    with pytest.raises(InvalidParameter, match=r"linux.resources.memory.limit must be an integer"):
        v1_writes({"memory": {"limit": "64m"}})
    with pytest.raises(InvalidParameter, match="swappiness"):
        v1_writes({"memory": {"swappiness": 101}})
    with pytest.raises(InvalidParameter, match=r"devices\[0\].access"):
        v1_writes({"devices": [{"allow": True, "type": "c", "access": "rx"}]})


def test_update_writes_only_given_keys() -> None:
    assert files(v1_writes({"cpu": {"shares": 100}})) == {"cpu.shares": "100"}
    assert v1_writes({}) == [] and v1_writes(None) == []


# --- v2 ---------------------------------------------------------------------

@pytest.mark.parametrize("shares,weight", [(2, 1), (1024, 39), (512, 20), (262144, 10000)])
def test_cpu_weight_from_shares(shares: int, weight: int) -> None:
    assert mapping.shares_to_weight(shares) == weight
    assert files(v2_writes({"cpu": {"shares": shares}})) == {"cpu.weight": str(weight)}


def test_v2_memory_swap_is_swap_minus_limit() -> None:
    w = v2_writes({"memory": {"limit": 64 << 20, "swap": 100 << 20, "reservation": 32 << 20}})
    assert files(w) == {"memory.max": str(64 << 20), "memory.swap.max": str(36 << 20),
                        "memory.low": str(32 << 20)}
    assert all(x.controller == "" for x in w)


def test_v2_memory_unlimited() -> None:
    assert files(v2_writes({"memory": {"limit": -1, "swap": -1}})) == {"memory.max": "max",
                                                                       "memory.swap.max": "max"}


def test_v2_swap_rules() -> None:
    with pytest.raises(InvalidParameter, match="needs a memory limit"):
        v2_writes({"memory": {"swap": 100 << 20}})
    with pytest.raises(InvalidParameter, match="must not be smaller"):
        v2_writes({"memory": {"limit": 100 << 20, "swap": 50 << 20}})
    assert files(v2_writes({"memory": {"limit": 1 << 20, "swap": 1 << 20}}))["memory.swap.max"] == "0"


@pytest.mark.parametrize("cpu,value", [
    ({"quota": 50000, "period": 100000}, "50000 100000"),
    ({"quota": 20000}, "20000 100000"),
    ({"quota": -1, "period": 200000}, "max 200000"),
    ({"period": 50000}, "max 50000"),
])
def test_v2_cpu_max(cpu: dict, value: str) -> None:
    assert files(v2_writes({"cpu": cpu})) == {"cpu.max": value}


def test_v2_cpuset_pids_hugetlb() -> None:
    w = v2_writes({"cpu": {"cpus": "1", "mems": "0"}, "pids": {"limit": 7},
                   "hugepageLimits": [{"pageSize": "1GB", "limit": 1 << 30}]})
    assert files(w) == {"cpuset.cpus": "1", "cpuset.mems": "0", "pids.max": "7",
                        "hugetlb.1GB.max": str(1 << 30)}


def test_v2_io_weight_and_throttle() -> None:
    assert mapping.blkio_weight_to_io_weight(10) == 1
    assert mapping.blkio_weight_to_io_weight(1000) == 10000
    w = v2_writes({"blockIO": {"weight": 500,
                               "weightDevice": [{"major": 8, "minor": 0, "weight": 1000}],
                               "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}]}})
    assert [(x.file, x.value) for x in w] == [("io.weight", "default 4950"), ("io.weight", "8:0 10000"),
                                              ("io.max", "8:16 wiops=300")]


def test_v2_unified_passthrough_and_validation() -> None:
    assert files(v2_writes({"unified": {"memory.high": "1073741824"}})) == {"memory.high": "1073741824"}
    with pytest.raises(InvalidParameter, match="invalid cgroup v2 file name"):
        v2_writes({"unified": {"../../etc/passwd": "x"}})


def test_v2_realtime_refused() -> None:
    with pytest.raises(InvalidParameter, match="realtime"):
        v2_writes({"cpu": {"realtimeRuntime": 1000}})


# --- paths and mounts ----------------------------------------------------------

def test_resolve_path() -> None:
    assert resolve_path(None, "abc") == "/dockyard/abc"
    assert resolve_path("/machine/abc", "abc") == "/machine/abc"
    assert resolve_path("pod1/abc", "abc") == "/dockyard/pod1/abc"
    assert resolve_path("/a//b/", "x") == "/a/b"
    for bad in ("/a/../../etc", "system.slice:docker:abc", "/"):
        with pytest.raises(InvalidParameter):
            resolve_path(bad, "x")


MOUNTINFO = """\
25 30 0:22 / /sys ro,nosuid - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
37 33 0:32 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
38 33 0:33 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
39 33 0:34 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
40 33 0:35 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
"""


def test_v1_mounts_from_mountinfo() -> None:
    assert mounts(MOUNTINFO) == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                                 "memory": "/sys/fs/cgroup/memory", "net_cls": "/sys/fs/cgroup/net_cls,net_prio",
                                 "net_prio": "/sys/fs/cgroup/net_cls,net_prio"}
