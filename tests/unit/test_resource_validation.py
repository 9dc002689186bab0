"""One resource validator, at create, with moby's texts; the host probe on fake cgroup trees both ways."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from dockyard.daemon.containers.config import validate_host_config
from dockyard.daemon.sysinfo import probe
from dockyard.errors import InvalidParameter
from dockyard.spec.hostcaps import SysInfo
from dockyard.spec.resources import validate_resources

HOST = SysInfo(ncpu=2, cpus="0-1", mems="0")
@pytest.mark.parametrize(("hc", "message"), [
    ({"Memory": 1 << 20}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": -5}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "Minimum memoryswap limit should be larger than memory limit, "
     "see usage"),
    ({"MemorySwap": 32 << 20}, "You should always set the Memory limit when using Memoryswap limit, see usage"),
    ({"MemorySwappiness": 150}, "Invalid value: 150, valid memory swappiness range is 0-100"),
    ({"MemorySwappiness": -2}, "Invalid value: -2, valid memory swappiness range is 0-100"),
    ({"MemoryReservation": 1 << 20}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 8 << 20, "MemoryReservation": 16 << 20}, "Minimum memory limit can not be less than memory "
     "reservation limit, see usage"),
    ({"NanoCpus": 3 * 10**9}, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
    ({"NanoCpus": -5}, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
    ({"NanoCpus": 10**9, "CpuPeriod": 100000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"NanoCpus": 10**9, "CpuQuota": 100000}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    ({"CpuPeriod": 2000000}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpusetCpus": "0-5"}, "Requested CPUs are not available - requested 0-5, available: 0-1"),
    ({"CpusetCpus": "x"}, "Invalid value x for cpuset cpus: invalid format: x"),
    ({"CpusetCpus": "1-0"}, "Invalid value 1-0 for cpuset cpus: invalid format: 1-0"),
    ({"CpusetCpus": "0-1,"}, "Invalid value 0-1, for cpuset cpus: invalid format: 0-1,"),
    ({"CpusetMems": "x"}, "Invalid value x for cpuset mems: invalid format: x"),
    ({"CpusetMems": "5"}, "Requested memory nodes are not available - requested 5, available: 0"),
    ({"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 2000}, "cpu real-time runtime cannot be higher than cpu "
     "real-time period"),  # moby's check stays in the validator for when the refusal row goes
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"IOMaximumIOps": 5}, "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"),
    ({"CpuPercent": 5}, "Invalid QoS settings: linux does not support CPU count or CPU percent"),
    ({"KernelMemory": 10 << 20}, "KernelMemory/KernelMemoryTCP: kernel memory limits are deprecated"),
    ({"OomScoreAdj": 2000}, "Invalid value 2000, range for oom score adj is [-1000, 1000]"),
    ({"ShmSize": -1}, "SHM size can not be less than 0"),
    ({"Isolation": "hyperv"}, "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
    ({"StorageOpt": {"size": "1G"}}, "--storage-opt (StorageOpt) is supported only for overlay over xfs with "
     "'pquota' mount option"),
    ({"IpcMode": "x"}, "invalid IPC mode: x"),
    ({"PidMode": "x"}, "invalid PID mode: x"),
    ({"UTSMode": "x"}, "invalid UTS mode: x"),
    ({"CgroupnsMode": "x"}, "invalid cgroup namespace mode: x"),
    ({"BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1}]}, "invalid device path /dev/null: not a block device"),
    ({"BlkioWeightDevice": [{"Path": "/dev/nope", "Weight": 100}]}, "invalid device path /dev/nope: No such file"),
])
def test_create_refuses_with_mobys_text(hc, message):
    with pytest.raises(InvalidParameter) as exc:
        validate_host_config(hc, HOST)
    assert str(exc.value).startswith(message)


@pytest.mark.parametrize(("hc", "option", "fact"), [
    ({"Memory": 64 << 20}, "Memory", "memory_limit"),
    ({"Memory": 64 << 20, "MemorySwap": 128 << 20}, "MemorySwap", "swap_limit"),
    ({"MemorySwappiness": 10}, "MemorySwappiness", "memory_swappiness"),
    ({"MemoryReservation": 64 << 20}, "MemoryReservation", "memory_reservation"),
    ({"OomKillDisable": True}, "OomKillDisable", "oom_kill_disable"), ({"PidsLimit": 10}, "PidsLimit", "pids_limit"),
    ({"CpuShares": 512}, "CpuShares", "cpu_shares"), ({"CpuQuota": 50000}, "CpuPeriod/CpuQuota", "cpu_cfs"),
    ({"CpusetCpus": "0"}, "CpusetCpus/CpusetMems", "cpuset"), ({"BlkioWeight": 100}, "BlkioWeight", "blkio_weight"),
    ({"BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 100}]}, "BlkioWeightDevice", "blkio_weight_device"),
    ({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]}, "BlkioDeviceReadBps", "blkio_read_bps"),
    ({"BlkioDeviceWriteBps": [{"Path": "/dev/sda", "Rate": 1}]}, "BlkioDeviceWriteBps", "blkio_write_bps"),
    ({"BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 1}]}, "BlkioDeviceReadIOps", "blkio_read_iops"),
    ({"BlkioDeviceWriteIOps": [{"Path": "/dev/sda", "Rate": 1}]}, "BlkioDeviceWriteIOps", "blkio_write_iops"),
])
def test_a_limit_the_kernel_cannot_apply_is_refused_naming_it(hc, option, fact):
    validate_resources(hc, HOST)  # the kernel has it: accepted
    with pytest.raises(InvalidParameter) as exc:
        validate_resources(hc, dataclasses.replace(HOST, **{fact: False}))
    assert str(exc.value).startswith(f"{option}: ")


@pytest.mark.parametrize("hc", [{"CpuRealtimeRuntime": 1000}, {"CpuRealtimePeriod": 1000}])
def test_realtime_without_the_kernel_scheduler_is_refused_with_dockerds_text(hc):
    """cgroup v2, or v1 without CONFIG_RT_GROUP_SCHED: dockerd's words exactly (runconfig's validateResources)."""
    validate_resources(hc, HOST)
    for host in (dataclasses.replace(HOST, cpu_realtime=False), dataclasses.replace(HOST, cgroup_v2=True,
                                                                                     cpu_realtime=False)):
        with pytest.raises(InvalidParameter) as exc:
            validate_resources(hc, host)
        assert str(exc.value) == "Your kernel does not support CPU real-time scheduler"


def test_accepted_values():
    validate_host_config({"Memory": 64 << 20, "MemorySwap": -1, "MemorySwappiness": -1, "CpusetCpus": "0,1",
                          "CpusetMems": "0", "NanoCpus": 10**9, "OomScoreAdj": -1000, "IpcMode": "shareable",
                          "PidMode": "container:abc", "Isolation": "default", "CpuQuota": -1}, HOST)


def _tree(root: pathlib.Path, files: list[str]) -> None:
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text("")


def test_probe_v1_both_ways(tmp_path):
    cg, sys = tmp_path / "cg", tmp_path / "sys"
    _tree(cg, ["memory/memory.limit_in_bytes", "cpu/cpu.shares", "cpuset/cpuset.cpus", "cpuset/cpuset.mems"])
    (cg / "cpuset/cpuset.cpus").write_text("0-3\n")
    (cg / "cpuset/cpuset.mems").write_text("0\n")
    info = probe(str(cg), str(sys))
    assert not info.cgroup_v2 and info.memory_limit and info.cpu_shares and info.cpus == "0-3"
    assert not (info.swap_limit or info.blkio_weight or info.blkio_read_bps or info.cpu_realtime or info.pids_limit)
    _tree(cg, ["memory/memory.memsw.limit_in_bytes", "blkio/blkio.weight", "blkio/blkio.throttle.read_bps_device",
               "cpu/cpu.rt_runtime_us", "pids/pids.max"])
    info = probe(str(cg), str(sys))
    assert info.swap_limit and info.blkio_weight and info.blkio_read_bps and info.cpu_realtime and info.pids_limit


def test_probe_v2_both_ways(tmp_path):
    cg, sys = tmp_path / "cg", tmp_path / "sys"
    _tree(cg, ["cgroup.controllers"])
    (sys / "devices/system/node").mkdir(parents=True)
    (sys / "devices/system/node/online").write_text("0-1\n")
    info = probe(str(cg), str(sys))
    assert info.cgroup_v2 and not (info.memory_limit or info.cpu_cfs or info.blkio_read_bps or info.cpuset)
    assert info.mems == "0-1"
    (cg / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    _tree(cg, ["child/io.weight", "cpuset.cpus.effective"])
    (cg / "cpuset.cpus.effective").write_text("0-7\n")
    info = probe(str(cg), str(sys))
    assert info.memory_limit and info.cpu_cfs and info.blkio_read_bps and info.blkio_weight and info.pids_limit
    assert info.cpus == "0-7" and not info.memory_swappiness and not info.cpu_realtime


def test_probe_of_this_host_matches_its_files():
    info = probe()
    v1_weight = pathlib.Path("/sys/fs/cgroup/blkio/blkio.weight").exists()
    if not info.cgroup_v2:
        assert info.blkio_weight == (v1_weight or pathlib.Path("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists())
