"""A Windows container's ``config.json`` for the job-object runtime.

Pure: the container record and its folder in, the OCI config out (a
``windows`` section, no ``linux`` one).  The job limits come from the same
HostConfig fields dockerd on Windows reads:

- ``Memory`` (``-m``) → ``windows.resources.memory.limit``;
- ``NanoCpus`` (``--cpus``) → ``cpu.maximum`` = cpus × 10000 / host processors
  (moby's formula), at least 1;
- ``CpuPercent`` (``--cpu-percent``) → ``cpu.maximum`` = percent × 100;
- ``CpuCount`` (``--cpu-count``) → ``cpu.count``; ``CpuShares`` → ``cpu.shares``;
- ``PidsLimit`` → the runtime's ``io.dockyard.windows.pids-limit`` annotation.
"""

from __future__ import annotations

import ntpath
import os
from typing import Any

from dockyard import errors

CPU_MAXIMUM = 10000
# the job-object runtime's annotation for JOB_OBJECT_LIMIT_ACTIVE_PROCESS (part of its bundle contract)
PIDS_LIMIT_ANNOTATION = "io.dockyard.windows.pids-limit"


def program(arg0: str, folder: str, exists: Any = os.path.isfile) -> str:
    """A bare program name found in the container's folder (``python.exe``, ``python``) as its
    absolute path: ``CreateProcessW`` would search the supervisor's directories, not the container's."""
    if ntpath.isabs(arg0) or ntpath.splitdrive(arg0)[0]:
        return arg0
    for name in (arg0, arg0 + ".exe"):
        path = ntpath.join(folder, name)
        if exists(path):
            return path
    return arg0


def resources(hc: dict[str, Any], host_cpus: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if hc.get("Memory"):
        out["memory"] = {"limit": int(hc["Memory"])}
    cpu: dict[str, int] = {}
    if hc.get("NanoCpus"):
        cpu["maximum"] = max(1, min(CPU_MAXIMUM, int(hc["NanoCpus"]) * CPU_MAXIMUM // (max(1, host_cpus) * 10**9)))
    if hc.get("CpuPercent"):
        if cpu:
            raise errors.InvalidParameter("conflicting options: CPU percent and NanoCPUs cannot both be set")
        cpu["maximum"] = max(1, min(CPU_MAXIMUM, int(hc["CpuPercent"]) * 100))
    if hc.get("CpuCount"):
        cpu["count"] = int(hc["CpuCount"])
    if hc.get("CpuShares"):
        cpu["shares"] = int(hc["CpuShares"])
    if len(cpu) > 1:
        raise errors.InvalidParameter("conflicting options: --cpus, --cpu-percent, --cpu-count and "
                                      "--cpu-shares are mutually exclusive on Windows")
    if cpu:
        out["cpu"] = cpu
    return out


def config_json(c: Any, folder: str, host_cpus: int) -> dict[str, Any]:
    """The container's config.json; ``folder`` is its copy of the image (``root.path``)."""
    if not c.Path:
        raise errors.InvalidParameter("No command specified")
    argv = [program(c.Path, folder), *c.Args]
    wd = c.Config.get("WorkingDir") or ""
    if not wd:
        cwd = folder
    elif ntpath.splitdrive(wd)[0]:
        cwd = wd
    else:  # a path of the image's own (``/app``, ``app``): inside the container's folder
        cwd = ntpath.join(folder, wd.lstrip("/\\").replace("/", "\\"))
    annotations = {str(k): str(v) for k, v in (c.HostConfig.get("Annotations") or {}).items()}
    if (c.HostConfig.get("PidsLimit") or 0) > 0:
        annotations[PIDS_LIMIT_ANNOTATION] = str(c.HostConfig["PidsLimit"])
    cfg: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "process": {"args": argv, "cwd": cwd, "env": list(c.Config.get("Env") or [])},
        "root": {"path": folder},
        "windows": {},
    }
    res = resources(c.HostConfig, host_cpus)
    if res:
        cfg["windows"]["resources"] = res
    if annotations:
        cfg["annotations"] = annotations
    return cfg
