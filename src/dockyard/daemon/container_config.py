"""Checking and completing a container's Config and HostConfig at create time.

What Docker does in ``daemon/create.go`` (merge with the image's config) and
``verifyContainerSettings`` (reject bad limits with a 400 before anything is
made), so that ``docker inspect`` shows the same merged config as Docker.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from dockyard.daemon.config import DaemonConfig
from dockyard.errors import InvalidParameter

MIN_MEMORY = 6 * 1024 * 1024


def _env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def merge_image_config(config: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """Fill the container's Config from the image's, as Docker's ``merge`` does."""
    out = copy.deepcopy(config)
    if not out.get("User"):
        out["User"] = image.get("User") or ""
    if image.get("ExposedPorts"):
        ports = dict(image["ExposedPorts"])
        ports.update(out.get("ExposedPorts") or {})
        out["ExposedPorts"] = ports
    user_env = list(out.get("Env") or [])
    if not user_env:
        out["Env"] = list(image.get("Env") or [])
    else:
        keys = {_env_key(e) for e in user_env}
        out["Env"] = user_env + [e for e in image.get("Env") or [] if _env_key(e) not in keys]
    labels = dict(image.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = image.get("Cmd")
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = image.get("Entrypoint")
    if not out.get("WorkingDir"):
        out["WorkingDir"] = image.get("WorkingDir") or ""
    if not out.get("StopSignal") and image.get("StopSignal"):
        out["StopSignal"] = image["StopSignal"]
    if image.get("Volumes"):
        vols = dict(image["Volumes"])
        vols.update(out.get("Volumes") or {})
        out["Volumes"] = vols
    if image.get("Healthcheck") and not out.get("Healthcheck"):
        out["Healthcheck"] = image["Healthcheck"]
    return out


def validate_host_config(hc: dict[str, Any]) -> None:
    """Docker's create-time checks on resources and mounts (HTTP 400 on failure)."""
    memory = hc.get("Memory") or 0
    swap = hc.get("MemorySwap") or 0
    if memory and memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if swap > 0 and not memory:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    if memory and swap > 0 and swap < memory:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    reservation = hc.get("MemoryReservation") or 0
    if reservation and reservation < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if memory and reservation and memory < reservation:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    nano = hc.get("NanoCpus") or 0
    if nano:
        if hc.get("CpuQuota") or hc.get("CpuPeriod"):
            raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
        ncpu = os.cpu_count() or 1
        if nano < 10_000_000 or nano > ncpu * 1_000_000_000:
            raise InvalidParameter(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs "
                                   "available")
    if hc.get("CpuShares", 0) and hc["CpuShares"] < 0:
        raise InvalidParameter("invalid CPU shares: must be positive")
    period = hc.get("CpuPeriod") or 0
    if period and (period < 1000 or period > 1_000_000):
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second "
                               "(i.e. 1000000)")
    quota = hc.get("CpuQuota") or 0
    if quota and quota > 0 and quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    cpuset = hc.get("CpusetCpus") or ""
    if cpuset:
        _check_cpuset(cpuset)
    weight = hc.get("BlkioWeight") or 0
    if weight and (weight < 10 or weight > 1000):
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    oom = hc.get("OomScoreAdj") or 0
    if oom < -1000 or oom > 1000:
        raise InvalidParameter(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    policy = (hc.get("RestartPolicy") or {}).get("Name") or "no"
    if policy not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise InvalidParameter(f"invalid restart policy '{policy}'")
    if hc.get("AutoRemove") and policy not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    for bind in hc.get("Binds") or []:
        _check_bind(bind)
    for m in hc.get("Mounts") or []:
        if m.get("Type") == "bind" and not os.path.exists(m.get("Source", "")):
            raise InvalidParameter(f'invalid mount config for type "bind": bind source path does not exist: '
                                   f'{m.get("Source", "")}')
        if not (m.get("Target") or "").startswith("/"):
            raise InvalidParameter(f"invalid mount config for type \"{m.get('Type')}\": invalid mount path: "
                                   f"'{m.get('Target', '')}' mount path must be absolute")
    for path in (hc.get("Tmpfs") or {}):
        if not path.startswith("/"):
            raise InvalidParameter(f"invalid mount config for type \"tmpfs\": invalid mount path: '{path}' "
                                   "mount path must be absolute")


def _check_cpuset(cpuset: str) -> None:
    ncpu = os.cpu_count() or 1
    try:
        cpus: set[int] = set()
        for part in cpuset.split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise InvalidParameter(f"Invalid value {cpuset} for cpuset cpus") from None
    bad = sorted(c for c in cpus if c >= ncpu)
    if bad:
        raise InvalidParameter(f"Requested CPUs are not available - requested {cpuset}, available: 0-{ncpu - 1}")


def _check_bind(bind: str) -> None:
    parts = bind.split(":")
    if len(parts) < 2 or len(parts) > 3:
        raise InvalidParameter(f"invalid volume specification: '{bind}'")
    dest = parts[1]
    if not dest.startswith("/"):
        raise InvalidParameter(f"invalid volume specification: '{bind}': invalid mount config for type "
                               f"\"bind\": invalid mount path: '{dest}' mount path must be absolute")
    if dest == "/":
        raise InvalidParameter(f"invalid volume specification: '{bind}': invalid mount config for type "
                               "\"bind\": invalid specification: destination can't be '/'")
    if len(parts) == 3:
        for opt in parts[2].split(","):
            if opt not in ("ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private",
                           "rprivate", "nocopy", "consistent", "cached", "delegated"):
                raise InvalidParameter(f"invalid mode: {opt}")


def normalize(config: dict[str, Any], host_config: dict[str, Any], image_config: dict[str, Any],
              cfg: DaemonConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Config and HostConfig to store: validated, merged with the image, defaults filled."""
    hc = dict(host_config or {})
    validate_host_config(hc)
    merged = merge_image_config(config, image_config)
    merged.setdefault("Hostname", "")
    merged.setdefault("Domainname", "")
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
        merged[key] = bool(merged.get(key))
    hc.setdefault("NetworkMode", "default")
    hc.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    hc.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    hc.setdefault("Binds", None)
    if not hc.get("ShmSize"):
        hc["ShmSize"] = cfg.default_shm_size
    if not hc.get("Runtime"):
        hc["Runtime"] = cfg.default_runtime
    return merged, hc
