"""``docker update``: new resource limits and restart policy for a running or stopped container.

moby's ``ContainerUpdate``: the request's resources are checked like a create's
(one validator, ``spec.resources``), then against the container's current
values (``validate_update``: a memory limit above the set memory-swap needs a
new swap too; NanoCpus and CpuPeriod/CpuQuota exclude each other); a running
container gets them live through its OCI runtime's ``update`` (so crun and runc
work too), and only once the runtime took them is the HostConfig saved.  A
refusal changes nothing.  Options ``docker update`` cannot change are refused
by name rather than stored and ignored.
"""

from __future__ import annotations

import os
from typing import Any

from dockyard import errors
from dockyard.daemon.containers.model import Container

RESOURCE_FIELDS = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
                   "Memory", "MemorySwap", "MemoryReservation", "PidsLimit")
# fields docker-py and the CLI send with zero values, which mean "leave as is"
IGNORED_WHEN_EMPTY = ("KernelMemory", "KernelMemoryTCP", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpuCount",
                      "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "MemorySwappiness", "OomKillDisable",
                      "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
                      "BlkioDeviceWriteIOps", "Devices", "DeviceCgroupRules", "DeviceRequests", "Ulimits",
                      "CgroupParent")


def check_fields(body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key in RESOURCE_FIELDS or key == "RestartPolicy":
            continue
        if key in IGNORED_WHEN_EMPTY and value in (None, 0, "", [], False):
            continue
        raise errors.InvalidParameter(f"{key} cannot be changed by docker update in dockyard")


def check_cpu_conflicts(current: dict[str, Any], update: dict[str, Any]) -> None:
    """moby: NanoCpus sets period and quota, so one family excludes the other."""
    texts = (("NanoCpus", "CpuPeriod", "Nano CPUs cannot be updated as CPU Period has already been set"),
             ("NanoCpus", "CpuQuota", "Nano CPUs cannot be updated as CPU Quota has already been set"),
             ("CpuPeriod", "NanoCpus", "CPU Period cannot be updated as NanoCPUs has already been set"),
             ("CpuQuota", "NanoCpus", "CPU Quota cannot be updated as NanoCPUs has already been set"))
    for new, old, text in texts:
        if (update.get(new) or 0) > 0 and (current.get(old) or 0) > 0:
            raise errors.Conflict(f"Conflicting options: {text}")


def merged_host_config(c: Container, body: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig after the update, or a 400/409 with moby's text (nothing changed)."""
    from dockyard.daemon.containers.config import validate_restart_policy
    from dockyard.daemon.sysinfo import probe
    from dockyard.spec.resources import validate_resources, validate_update

    check_fields(body)
    resources = {k: body[k] for k in RESOURCE_FIELDS if k in body}
    validate_resources(resources, probe(), update=True)
    check_cpu_conflicts(c.HostConfig, resources)
    merged = validate_update(c.HostConfig, {k: v for k, v in resources.items() if k != "PidsLimit"})
    swap, memory = merged.get("MemorySwap") or 0, merged.get("Memory") or 0
    if swap > 0 and memory > swap:
        raise errors.InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if resources.get("PidsLimit") is not None:
        # moby's update stores 0 for "unlimited" (-1 and 0 alike); create stores null
        merged["PidsLimit"] = resources["PidsLimit"] if resources["PidsLimit"] > 0 else 0
    policy = body.get("RestartPolicy") or {}
    if policy.get("Name"):
        if c.HostConfig.get("AutoRemove") and policy["Name"] != "no":
            raise errors.InvalidParameter(
                f"Cannot update container {c.Id}: Restart policy cannot be updated because AutoRemove is enabled "
                "for the container")
        policy = {"Name": policy["Name"], "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
        validate_restart_policy(policy)
        merged["RestartPolicy"] = policy
    return merged


def live_resources(hc: dict[str, Any], unlimited_pids: bool) -> dict[str, Any]:
    """The OCI ``linux.resources`` the runtime's ``update`` gets: memory, cpu, pids, blockIO."""
    from dockyard.daemon.system import swap_accounting
    from dockyard.spec.resources import build_resources

    full = build_resources(hc, os.cpu_count() or 1, swap_limit=swap_accounting())
    out = {k: full[k] for k in ("memory", "cpu", "pids") if k in full}
    if hc.get("BlkioWeight"):
        out["blockIO"] = {"weight": hc["BlkioWeight"]}
    if unlimited_pids:
        out["pids"] = {"limit": -1}
    return out


async def update(svc: Any, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    c = svc.get(ref)
    svc.check_update(c, body)
    if c.State.Status in ("removing", "dead"):
        raise errors.Conflict(f"Cannot update container {c.Id}: container is marked for removal")
    async with svc._lock(c.Id):
        merged = merged_host_config(c, body)
        if c.State.Running:
            pids = body.get("PidsLimit")
            resources = live_resources(merged, unlimited_pids=pids is not None and pids <= 0)
            try:
                await svc.runtime_for(c).update(c.Id, resources)
            except errors.DockyardError as exc:
                raise errors.SystemError_(f"Cannot update container {c.Id}: {exc.message}") from None
        c.HostConfig = merged
        svc._save(c)
    svc.events.emit("container", "update", c.Id, svc._event_attrs(c))
    return {"Warnings": None}  # moby: the nil list of warnings verifyContainerSettings made
