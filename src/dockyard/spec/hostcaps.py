"""The host facts resource validation needs, as data (probed by ``daemon/sysinfo.py``).

Kept apart from the probe so that ``spec`` stays pure: the validator gets a
``SysInfo`` and tests hand it any host they like.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SysInfo:
    cgroup_v2: bool = False
    memory_limit: bool = True
    swap_limit: bool = True
    memory_swappiness: bool = True
    memory_reservation: bool = True
    oom_kill_disable: bool = True
    pids_limit: bool = True
    cpu_shares: bool = True
    cpu_cfs: bool = True
    cpu_realtime: bool = True
    cpuset: bool = True
    blkio_weight: bool = True
    blkio_weight_device: bool = True
    blkio_read_bps: bool = True
    blkio_write_bps: bool = True
    blkio_read_iops: bool = True
    blkio_write_iops: bool = True
    cpus: str = "0"  # the CPUs and memory nodes containers may use, in cpuset syntax
    mems: str = "0"
    ncpu: int = 1
