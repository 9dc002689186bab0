"""What this host's kernel can limit: the facts create-time validation needs (moby's ``sysinfo``).

Read from the cgroup file systems (v1: one hierarchy per controller; v2: the
unified tree's ``cgroup.controllers``), each probe a file's existence, so a
limit the kernel cannot apply is refused at create instead of being stored and
dropped, or failing at start. Every probe takes its roots as arguments, so
tests run it against a fake tree both ways.
"""

from __future__ import annotations

import os

from dockyard.spec.hostcaps import SysInfo


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _online(sys_root: str, what: str, fallback: str) -> str:
    return _read(os.path.join(sys_root, f"devices/system/{what}/online")) or fallback


def probe(cgroup_root: str = "/sys/fs/cgroup", sys_root: str = "/sys") -> SysInfo:
    """The host's facts, as moby's ``sysinfo.New`` finds them."""
    ncpu = os.cpu_count() or 1
    default_cpus = f"0-{ncpu - 1}" if ncpu > 1 else "0"
    if os.path.exists(os.path.join(cgroup_root, "cgroup.controllers")):
        return _probe_v2(cgroup_root, sys_root, ncpu, default_cpus)

    def has(controller: str, name: str = "") -> bool:
        return os.path.exists(os.path.join(cgroup_root, controller, name))

    cpuset = has("cpuset", "cpuset.cpus")
    return SysInfo(
        cgroup_v2=False, memory_limit=has("memory", "memory.limit_in_bytes"),
        swap_limit=has("memory", "memory.memsw.limit_in_bytes"),
        memory_swappiness=has("memory", "memory.swappiness"),
        memory_reservation=has("memory", "memory.soft_limit_in_bytes"),
        oom_kill_disable=has("memory", "memory.oom_control"), pids_limit=has("pids", "pids.max") or has("pids"),
        cpu_shares=has("cpu", "cpu.shares"), cpu_cfs=has("cpu", "cpu.cfs_quota_us"),
        cpu_realtime=has("cpu", "cpu.rt_runtime_us"), cpuset=cpuset,
        blkio_weight=has("blkio", "blkio.weight") or has("blkio", "blkio.bfq.weight"),
        blkio_weight_device=has("blkio", "blkio.weight_device") or has("blkio", "blkio.bfq.weight_device"),
        blkio_read_bps=has("blkio", "blkio.throttle.read_bps_device"),
        blkio_write_bps=has("blkio", "blkio.throttle.write_bps_device"),
        blkio_read_iops=has("blkio", "blkio.throttle.read_iops_device"),
        blkio_write_iops=has("blkio", "blkio.throttle.write_iops_device"),
        cpus=(_read(os.path.join(cgroup_root, "cpuset/cpuset.cpus")) if cpuset else "")
        or _online(sys_root, "cpu", default_cpus),
        mems=(_read(os.path.join(cgroup_root, "cpuset/cpuset.mems")) if cpuset else "")
        or _online(sys_root, "node", "0"),
        ncpu=ncpu)


def _probe_v2(root: str, sys_root: str, ncpu: int, default_cpus: str) -> SysInfo:
    controllers = set(_read(os.path.join(root, "cgroup.controllers")).split())
    memory, cpu, io = "memory" in controllers, "cpu" in controllers, "io" in controllers
    weight = io and any(os.path.exists(os.path.join(root, d, f)) for d in _children(root)
                        for f in ("io.weight", "io.bfq.weight"))
    return SysInfo(
        cgroup_v2=True, memory_limit=memory, swap_limit=memory, memory_swappiness=False,
        memory_reservation=memory, oom_kill_disable=False, pids_limit="pids" in controllers,
        cpu_shares=cpu, cpu_cfs=cpu, cpu_realtime=False, cpuset="cpuset" in controllers,
        blkio_weight=weight, blkio_weight_device=weight, blkio_read_bps=io, blkio_write_bps=io,
        blkio_read_iops=io, blkio_write_iops=io,
        cpus=_read(os.path.join(root, "cpuset.cpus.effective")) or _online(sys_root, "cpu", default_cpus),
        mems=_read(os.path.join(root, "cpuset.mems.effective")) or _online(sys_root, "node", "0"),
        ncpu=ncpu)


def _children(root: str) -> list[str]:
    try:
        return [e.name for e in os.scandir(root) if e.is_dir()]
    except OSError:
        return []
