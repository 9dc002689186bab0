"""Docker HostConfig resource fields → OCI ``linux.resources``, with Docker's checks and texts.

Pure: the number of CPUs and whether the kernel accounts swap are passed in.
Used for ``create`` (:func:`build_resources`) and for ``docker update``
(:func:`validate_update` then :func:`build_resources` on the merged config).
"""

from __future__ import annotations

import os
import stat as stat_mod
from typing import Any, Callable

from dockyard.errors import InvalidParameter

MIN_MEMORY = 6 * 1024 * 1024
DEFAULT_CPU_PERIOD = 100000


def cpu_range_text(ncpu: int) -> str:
    return f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"


def _cpuset_ids(spec: str, what: str) -> set[int]:
    """Parse ``0-2,4`` into ids; raise Docker's text on garbage."""
    out: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise InvalidParameter(f"Invalid value {spec} for {what}")
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise InvalidParameter(f"Invalid value {spec} for {what}")
        out.update(range(a, b + 1))
    return out


def validate_resources(hc: dict[str, Any], ncpu: int, swap_limit: bool = True) -> None:
    """Docker's ``verifyPlatformContainerResources`` checks, same messages."""
    memory = hc.get("Memory") or 0
    swap = hc.get("MemorySwap") or 0
    reservation = hc.get("MemoryReservation") or 0
    if memory < 0:
        raise InvalidParameter("Invalid value for memory: must be a non-negative number")
    if 0 < memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    if 0 < reservation < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidParameter(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    nano = hc.get("NanoCpus") or 0
    period = hc.get("CpuPeriod") or 0
    quota = hc.get("CpuQuota") or 0
    if nano and period:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano < 0 or nano > ncpu * 10**9:
        raise InvalidParameter(cpu_range_text(ncpu))
    if 0 < nano < 10**7:
        raise InvalidParameter(cpu_range_text(ncpu))
    if period and not 1000 <= period <= 1000000:
        raise InvalidParameter(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if quota > 0 and quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    shares = hc.get("CpuShares") or 0
    if shares < 0:
        raise InvalidParameter("shares: invalid argument")
    cpus = hc.get("CpusetCpus") or ""
    if cpus:
        ids = _cpuset_ids(cpus, "cpuset cpus")
        if max(ids) >= ncpu:
            avail = "0" if ncpu == 1 else f"0-{ncpu - 1}"
            raise InvalidParameter(
                f"Requested CPUs are not available - requested {cpus}, available: {avail}")
    mems = hc.get("CpusetMems") or ""
    if mems:
        _cpuset_ids(mems, "cpuset mems")
    weight = hc.get("BlkioWeight") or 0
    if weight and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    oom = hc.get("OomScoreAdj") or 0
    if not -1000 <= oom <= 1000:
        raise InvalidParameter(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    pids = hc.get("PidsLimit")
    if pids is not None and pids < -1:
        pass  # Docker treats any negative value as unlimited


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
    """The OCI ``linux.resources`` object for a validated HostConfig."""
    validate_resources(hc, ncpu, swap_limit)
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
