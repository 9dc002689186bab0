"""Docker HostConfig resource fields: the one validator (moby's texts) and the OCI ``linux.resources``.

Pure: what the host can limit comes in as a :class:`SysInfo`. Create (and
update) call :func:`validate_resources`; start calls :func:`build_resources`,
which checks only what start alone can know (the blkio block devices).
"""

from __future__ import annotations

import os
import stat as stat_mod
from typing import Any, Callable

from dockyard.errors import InvalidParameter
from dockyard.spec.hostcaps import SysInfo

MIN_MEMORY = 6 * 1024 * 1024
DEFAULT_CPU_PERIOD = 100000


def cpu_range_text(ncpu: int) -> str:
    return f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"


def parse_cpuset(spec: str, what: str) -> set[int]:
    """``0-2,4`` into ids (moby's ``parsers.ParseUintList``); moby's text on anything else."""
    out: set[int] = set()
    if not spec:
        return out
    for part in spec.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()) or (sep and int(hi) < int(lo)):
            raise InvalidParameter(f"Invalid value {spec} for {what}: invalid format: {spec}")
        out.update(range(int(lo), int(hi if sep else lo) + 1))
    return out


def _unsupported(option: str, text: str) -> InvalidParameter:
    """moby discards such a limit with a warning; dockyard refuses it (never accept and ignore)."""
    return InvalidParameter(f"{option}: Your kernel does not support {text} or the cgroup is not mounted")


def validate_resources(hc: dict[str, Any], host: SysInfo, update: bool = False) -> None:
    """moby's ``verifyPlatformContainerResources``, same order and texts, at create (and update).

    Where moby drops a limit the kernel cannot apply (with a warning), this
    refuses it with a 400 naming the option: a limit that is stored and not
    applied is a lie to the user.
    """
    _validate_memory(hc, host, update)
    _validate_cpu(hc, host)
    _validate_blkio(hc, host)


def _validate_memory(hc: dict[str, Any], host: SysInfo, update: bool) -> None:
    memory = hc.get("Memory") or 0
    swap = hc.get("MemorySwap") or 0
    reservation = hc.get("MemoryReservation") or 0
    if memory != 0 and memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if memory > 0 and not host.memory_limit:
        raise _unsupported("Memory", "memory limit capabilities")
    if swap > 0 and not host.swap_limit:
        raise _unsupported("MemorySwap", "swap limit capabilities")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1:
        if not host.memory_swappiness:
            raise _unsupported("MemorySwappiness", "memory swappiness capabilities")
        if not 0 <= swappiness <= 100:
            raise InvalidParameter(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if reservation > 0 and not host.memory_reservation:
        raise _unsupported("MemoryReservation", "memory soft limit capabilities")
    if reservation != 0 and reservation < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    if hc.get("OomKillDisable") and not host.oom_kill_disable:
        raise InvalidParameter("OomKillDisable: Your kernel does not support OomKillDisable")
    if (hc.get("PidsLimit") or 0) > 0 and not host.pids_limit:
        raise _unsupported("PidsLimit", "PIDs limit capabilities")
    if hc.get("KernelMemory") or hc.get("KernelMemoryTCP"):
        raise InvalidParameter("KernelMemory/KernelMemoryTCP: kernel memory limits are deprecated by the kernel "
                               "and not applied (moby ignores them since API 1.42)")


def _validate_cpu(hc: dict[str, Any], host: SysInfo) -> None:
    nano = hc.get("NanoCpus") or 0
    period = hc.get("CpuPeriod") or 0
    quota = hc.get("CpuQuota") or 0
    if nano > 0 and period > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano > 0 and not host.cpu_cfs:
        raise InvalidParameter("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the "
                               "cgroup is not mounted")
    # below 0.01 CPU the quota rounds to 0, which the kernel refuses at start
    if nano != 0 and (nano < 10**7 or nano > host.ncpu * 10**9):
        raise InvalidParameter(cpu_range_text(host.ncpu))
    shares = hc.get("CpuShares") or 0
    if shares < 0:
        raise InvalidParameter("invalid CPU shares: must be positive")
    if shares > 0 and not host.cpu_shares:
        raise _unsupported("CpuShares", "CPU shares")
    if (period or quota) and not host.cpu_cfs:
        raise InvalidParameter("CpuPeriod/CpuQuota: Your kernel does not support CPU CFS scheduler")
    if period != 0 and not 1000 <= period <= 1000000:
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if quota > 0 and quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if hc.get("CpuPercent") or hc.get("CpuCount"):
        raise InvalidParameter("Invalid QoS settings: linux does not support CPU count or CPU percent "
                               "(CpuCount, CpuPercent are Windows options)")
    rt_period, rt_runtime = hc.get("CpuRealtimePeriod") or 0, hc.get("CpuRealtimeRuntime") or 0
    if (rt_period > 0 or rt_runtime > 0) and not host.cpu_realtime:
        # dockerd's text to the letter (clients match on it); it names the scheduler the options are for
        raise InvalidParameter("Your kernel does not support CPU real-time scheduler")
    if rt_period and rt_runtime and rt_runtime > rt_period:
        raise InvalidParameter("cpu real-time runtime cannot be higher than cpu real-time period")
    cpus, mems = hc.get("CpusetCpus") or "", hc.get("CpusetMems") or ""
    if (cpus or mems) and not host.cpuset:
        raise _unsupported("CpusetCpus/CpusetMems", "cpuset")
    if not parse_cpuset(cpus, "cpuset cpus") <= parse_cpuset(host.cpus, "available cpus"):
        raise InvalidParameter(f"Requested CPUs are not available - requested {cpus}, available: {host.cpus}")
    if not parse_cpuset(mems, "cpuset mems") <= parse_cpuset(host.mems, "available mems"):
        raise InvalidParameter(f"Requested memory nodes are not available - requested {mems}, "
                               f"available: {host.mems}")


BLKIO_SUPPORT = (("BlkioWeightDevice", "blkio_weight_device", "Block I/O weight_device"),
                 ("BlkioDeviceReadBps", "blkio_read_bps", "BPS Block I/O read limit"),
                 ("BlkioDeviceWriteBps", "blkio_write_bps", "BPS Block I/O write limit"),
                 ("BlkioDeviceReadIOps", "blkio_read_iops", "IOPS Block read limit"),
                 ("BlkioDeviceWriteIOps", "blkio_write_iops", "IOPS Block write limit"))


def _validate_blkio(hc: dict[str, Any], host: SysInfo) -> None:
    weight = hc.get("BlkioWeight") or 0
    if weight > 0 and not host.blkio_weight:
        raise _unsupported("BlkioWeight", "Block I/O weight")
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    if hc.get("IOMaximumBandwidth") or hc.get("IOMaximumIOps"):
        raise InvalidParameter("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps "
                               "(IOMaximumBandwidth, IOMaximumIOps are Windows options)")
    for option, attr, text in BLKIO_SUPPORT:
        if hc.get(option) and not getattr(host, attr):
            raise _unsupported(option, text)
    for d in hc.get("BlkioWeightDevice") or []:
        if not 10 <= d.get("Weight", 0) <= 1000:
            raise InvalidParameter(f"invalid weight for device: {d.get('Path')}: the weight must be between "
                                   "10 and 1000")


def validate_update(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``docker update``: check the new values against the container's current ones.

    Returns the merged HostConfig (current with the non-zero update fields).
    """
    memory = update.get("Memory") or 0
    swap = update.get("MemorySwap") or 0
    cur_swap = current.get("MemorySwap") or 0
    if memory > 0 and swap == 0 and cur_swap > 0 and memory > cur_swap:
        raise InvalidParameter(
            "Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time")
    merged = dict(current)
    for key, value in update.items():
        if value not in (None, 0, "", []):
            merged[key] = value
    if memory > 0 and swap == 0 and cur_swap == 0 and not current.get("Memory"):
        merged["MemorySwap"] = 0
    return merged


def _device_rule(rule: str) -> dict[str, Any]:
    """``c 1:3 rwm`` (``--device-cgroup-rule``) → an OCI device cgroup entry."""
    parts = rule.split()
    if len(parts) != 3 or parts[0] not in ("a", "b", "c"):
        raise InvalidParameter(f"invalid device cgroup rule format: '{rule}'")
    major, sep, minor = parts[1].partition(":")
    if not sep:
        raise InvalidParameter(f"invalid device cgroup rule format: '{rule}'")
    out: dict[str, Any] = {"allow": True, "type": parts[0], "access": parts[2]}
    for key, val in (("major", major), ("minor", minor)):
        if val == "*":
            continue
        if not val.isdigit():
            raise InvalidParameter(f"invalid device cgroup rule format: '{rule}'")
        out[key] = int(val)
    if set(parts[2]) - set("rwm"):
        raise InvalidParameter(f"invalid device cgroup rule format: '{rule}'")
    return out


def default_device_rules() -> list[dict[str, Any]]:
    """Docker's default device cgroup: deny all, then the usual character devices."""
    rules: list[dict[str, Any]] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "access": "m"},
        {"allow": True, "type": "b", "access": "m"},
    ]
    for major, minor in ((1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 1), (5, 2), (10, 200)):
        rules.append({"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"})
    rules.append({"allow": True, "type": "c", "major": 136, "access": "rwm"})  # /dev/pts/*
    return rules


BLKIO_THROTTLES = (("BlkioDeviceReadBps", "throttleReadBpsDevice"), ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
                   ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
                   ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"))


def block_device(path: str, stat_device: Callable[[str], os.stat_result] = os.stat) -> dict[str, int]:
    """``{"major", "minor"}`` of the block device at ``path`` (the blkio files take numbers)."""
    try:
        st = stat_device(path)
    except OSError as exc:
        raise InvalidParameter(f"invalid device path {path}: {exc.strerror or exc}") from None
    if not stat_mod.S_ISBLK(st.st_mode):
        raise InvalidParameter(f"invalid device path {path}: not a block device")
    return {"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev)}


def block_io(hc: dict[str, Any], stat_device: Callable[[str], os.stat_result] = os.stat) -> dict[str, Any]:
    """OCI ``linux.resources.blockIO`` from BlkioWeight, BlkioWeightDevice and the four throttles."""
    out: dict[str, Any] = {}
    if hc.get("BlkioWeight"):
        out["weight"] = hc["BlkioWeight"]
    for d in hc.get("BlkioWeightDevice") or []:
        out.setdefault("weightDevice", []).append({**block_device(d["Path"], stat_device), "weight": d["Weight"]})
    for key, oci in BLKIO_THROTTLES:
        for d in hc.get(key) or []:
            out.setdefault(oci, []).append({**block_device(d["Path"], stat_device), "rate": d["Rate"]})
    return out


def build_resources(hc: dict[str, Any], ncpu: int, swap_limit: bool = True,
                    privileged: bool = False,
                    extra_device_rules: list[dict[str, Any]] | None = None,
                    stat_device: Callable[[str], os.stat_result] = os.stat) -> dict[str, Any]:
    """The OCI ``linux.resources`` object for a HostConfig that create validated.

    Only what start alone can know is checked here: the block devices named by
    the blkio options must still be block devices.
    """
    res: dict[str, Any] = {}
    memory = hc.get("Memory") or 0
    swap = hc.get("MemorySwap") or 0
    mem: dict[str, Any] = {}
    if memory > 0:
        mem["limit"] = memory
        if swap_limit:
            if swap == 0:
                swap = memory * 2  # Docker: unset swap means "as much swap as memory"
            mem["swap"] = swap
    elif swap == -1 and swap_limit:
        mem["swap"] = -1
    if hc.get("MemoryReservation"):
        mem["reservation"] = hc["MemoryReservation"]
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness >= 0:
        mem["swappiness"] = swappiness
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if hc.get("CpuShares"):
        cpu["shares"] = hc["CpuShares"]
    nano = hc.get("NanoCpus") or 0
    if nano:
        cpu["period"] = DEFAULT_CPU_PERIOD
        cpu["quota"] = nano * DEFAULT_CPU_PERIOD // 10**9
    if hc.get("CpuPeriod"):
        cpu["period"] = hc["CpuPeriod"]
    if hc.get("CpuQuota"):
        cpu["quota"] = hc["CpuQuota"]
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if hc.get("CpuRealtimePeriod"):
        cpu["realtimePeriod"] = hc["CpuRealtimePeriod"]
    if hc.get("CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = hc["CpuRealtimeRuntime"]
    if cpu:
        res["cpu"] = cpu
    pids = hc.get("PidsLimit")
    if pids is not None and pids > 0:
        res["pids"] = {"limit": pids}
    blkio = block_io(hc, stat_device)
    if blkio:
        res["blockIO"] = blkio
    if privileged:
        res["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        rules = default_device_rules()
        rules.extend(extra_device_rules or [])
        rules.extend(_device_rule(r) for r in hc.get("DeviceCgroupRules") or [])
        res["devices"] = rules
    return res
