"""Container options a Windows engine of job-object containers does not carry.

Each is refused at create with a 400 naming the ``docker`` flag, never
ignored: capabilities, seccomp/AppArmor, namespaces (pid, ipc, uts, user,
cgroup), devices, mounts and volumes, Linux resource knobs without a job
equivalent, terminals and stdin (no ConPTY), networks other than the host's
(a job-object container shares the host's network: no compartments here).
What the job object does carry — ``-m``, ``--cpus``, ``--cpu-shares``,
``--cpu-count``, ``--cpu-percent``, ``--pids-limit`` — is mapped by
``daemon/windows/bundle.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard import errors

Check = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], bool]


def _hc(key: str) -> Check:
    return lambda cfg, hc, net: bool(hc.get(key))


def _cfg(key: str) -> Check:
    return lambda cfg, hc, net: bool(cfg.get(key))


def _hc_not(key: str, *allowed: Any) -> Check:
    return lambda cfg, hc, net: hc.get(key) not in (None, "", *allowed)


def _networks(cfg: dict[str, Any], hc: dict[str, Any], net: dict[str, Any]) -> bool:
    endpoints = (net or {}).get("EndpointsConfig") or {}
    return (hc.get("NetworkMode") or "default") not in ("default", "host") or any(
        name not in ("default", "host", hc.get("NetworkMode") or "default") for name in endpoints)


def _log(cfg: dict[str, Any], hc: dict[str, Any], net: dict[str, Any]) -> bool:
    lc = hc.get("LogConfig") or {}
    return (lc.get("Type") or "json-file") != "json-file"


def _healthcheck(cfg: dict[str, Any], hc: dict[str, Any], net: dict[str, Any]) -> bool:
    test = (cfg.get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


# (flag, test): the first row that matches is the answer
REFUSED: list[tuple[str, Check]] = [
    ("--privileged", _hc("Privileged")),
    ("--cap-add", _hc("CapAdd")),
    ("--cap-drop", _hc("CapDrop")),
    ("--security-opt", _hc("SecurityOpt")),
    ("--pid", _hc("PidMode")),
    ("--ipc", _hc_not("IpcMode", "private")),
    ("--uts", _hc("UTSMode")),
    ("--userns", _hc("UsernsMode")),
    ("--cgroupns", _hc_not("CgroupnsMode", "private")),
    ("--cgroup-parent", _hc("CgroupParent")),
    ("--device", _hc("Devices")),
    ("--gpus", _hc("DeviceRequests")),
    ("--device-cgroup-rule", _hc("DeviceCgroupRules")),
    ("--network", _networks),
    ("--publish", _hc("PortBindings")),
    ("--publish-all", _hc("PublishAllPorts")),
    ("--dns", _hc("Dns")),
    ("--dns-option", _hc("DnsOptions")),
    ("--dns-search", _hc("DnsSearch")),
    ("--add-host", _hc("ExtraHosts")),
    ("--link", _hc("Links")),
    ("--mac-address", _cfg("MacAddress")),
    ("--hostname", _cfg("Hostname")),
    ("--domainname", _cfg("Domainname")),
    ("--volume", lambda cfg, hc, net: bool(hc.get("Binds") or cfg.get("Volumes"))),
    ("--mount", _hc("Mounts")),
    ("--tmpfs", _hc("Tmpfs")),
    ("--volumes-from", _hc("VolumesFrom")),
    ("--volume-driver", _hc("VolumeDriver")),
    ("--read-only", _hc("ReadonlyRootfs")),
    ("--storage-opt", _hc("StorageOpt")),
    ("--sysctl", _hc("Sysctls")),
    ("--ulimit", _hc("Ulimits")),
    ("--oom-score-adj", _hc("OomScoreAdj")),
    ("--oom-kill-disable", _hc("OomKillDisable")),
    ("--memory-swap", _hc_not("MemorySwap", 0)),
    ("--memory-reservation", _hc("MemoryReservation")),
    ("--memory-swappiness", _hc_not("MemorySwappiness", -1)),
    ("--kernel-memory", _hc("KernelMemory")),
    ("--cpuset-cpus", _hc("CpusetCpus")),
    ("--cpuset-mems", _hc("CpusetMems")),
    ("--cpu-period", _hc("CpuPeriod")),
    ("--cpu-quota", _hc("CpuQuota")),
    ("--cpu-rt-period", _hc("CpuRealtimePeriod")),
    ("--cpu-rt-runtime", _hc("CpuRealtimeRuntime")),
    ("--blkio-weight", _hc("BlkioWeight")),
    ("--blkio-weight-device", _hc("BlkioWeightDevice")),
    ("--device-read-bps", _hc("BlkioDeviceReadBps")),
    ("--device-write-bps", _hc("BlkioDeviceWriteBps")),
    ("--device-read-iops", _hc("BlkioDeviceReadIOps")),
    ("--device-write-iops", _hc("BlkioDeviceWriteIOps")),
    ("--io-maxbandwidth", _hc("IOMaximumBandwidth")),
    ("--io-maxiops", _hc("IOMaximumIOps")),
    ("--shm-size", _hc("ShmSize")),
    ("--init", _hc("Init")),
    ("--group-add", _hc("GroupAdd")),
    ("--isolation", _hc_not("Isolation", "default", "process")),
    ("--user", _cfg("User")),
    ("--tty", _cfg("Tty")),
    ("--interactive", _cfg("OpenStdin")),
    ("--health-cmd", _healthcheck),
    ("--log-driver", _log),
    ("--log-opt", lambda cfg, hc, net: bool((hc.get("LogConfig") or {}).get("Config"))),
]


def check(config: dict[str, Any], host_config: dict[str, Any], networking: dict[str, Any] | None) -> None:
    """400 naming the first option of the request a Windows process container cannot have."""
    for flag, test in REFUSED:
        if test(config, host_config, networking or {}):
            raise errors.InvalidParameter(f"{flag} is not supported for Windows process containers")
