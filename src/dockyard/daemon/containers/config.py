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
from dockyard.daemon.sysinfo import probe
from dockyard.errors import InvalidParameter
from dockyard.spec.hostcaps import SysInfo
from dockyard.spec.resources import BLKIO_THROTTLES, block_device, validate_resources
from dockyard.volume.mountpoints import host_mount_points


# Every HostConfig field dockerd (API 1.50) shows, with its zero value: Go serializes
# the whole struct, so clients (docker-py, compose) read these keys without checking.
# Fields tagged omitempty in moby (Annotations, StorageOpt, Tmpfs, Sysctls, Runtime,
# Mounts, Init) are left out when empty; see ``OMITEMPTY_HOST_CONFIG``.
HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "default", "PortBindings": None, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0],
    "CapAdd": None, "CapDrop": None, "CgroupnsMode": "", "Dns": None, "DnsOptions": None, "DnsSearch": None,
    "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None,
    "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False,
    "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "",
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": None, "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None,
    "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": None, "DeviceCgroupRules": None,
    "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
    "OomKillDisable": False, "PidsLimit": None, "Ulimits": None, "CpuCount": 0, "CpuPercent": 0,
    "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
}
OMITEMPTY_HOST_CONFIG = ("Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init",
                         "KernelMemory", "KernelMemoryTCP")

# The same for Config (moby's container.Config); omitempty fields are dropped when empty.
CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": {},
}
OMITEMPTY_CONFIG = ("ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress",
                    "StopSignal", "StopTimeout", "Shell")


# omitempty fields that are pointers in Go: left out only when null, so ``StopTimeout: 0``
# and ``Init: false`` still show.
POINTER_FIELDS = frozenset({"StopTimeout", "Init", "Healthcheck"})


def with_defaults(data: dict[str, Any], defaults: dict[str, Any], omitempty: tuple[str, ...]) -> dict[str, Any]:
    """``data`` over a copy of ``defaults``, with empty omitempty fields dropped (Go's JSON shape)."""
    out = copy.deepcopy(defaults)
    out.update(data)
    for key in omitempty:
        if key not in out:
            continue
        value = out[key]
        if value is None or (key not in POINTER_FIELDS and value in ("", 0, False, [], {})):
            del out[key]
    return out


def clean_path(path: str) -> str:
    """Go's ``filepath.Clean`` of an absolute path (normpath keeps a leading ``//``; Clean does not)."""
    cleaned = os.path.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


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
        out["Env"] = list(image.get("Env") or []) or None
    else:
        keys = {_env_key(e) for e in user_env}
        out["Env"] = user_env + [e for e in image.get("Env") or [] if _env_key(e) not in keys]
    labels = dict(image.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    if not out.get("Volumes"):
        out["Volumes"] = None
    if not out.get("Env"):
        out["Env"] = None
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
    from dockyard.daemon.containers.health import merge_healthcheck

    healthcheck = merge_healthcheck(out.get("Healthcheck"), image.get("Healthcheck"))
    if healthcheck:
        out["Healthcheck"] = healthcheck
    return out


def validate_restart_policy(policy: dict[str, Any]) -> None:
    """moby's ``ValidateRestartPolicy``, same messages."""
    name = policy.get("Name") or ""
    count = policy.get("MaximumRetryCount") or 0
    if name in ("always", "unless-stopped", "no"):
        if count != 0:
            msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise InvalidParameter(msg + (" and cannot be negative" if count < 0 else ""))
    elif name == "on-failure":
        if count < 0:
            raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
    elif name:
        raise InvalidParameter(f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
                               "'on-failure', or 'unless-stopped'")


def validate_config(config: dict[str, Any]) -> None:
    """moby's ``validateContainerConfig``: working dir, stop signal, environment."""
    from dockyard.daemon.containers.ops import parse_signal

    workdir = config.get("WorkingDir") or ""
    if workdir and not workdir.startswith("/"):
        raise InvalidParameter(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
    if config.get("StopSignal"):
        parse_signal(config["StopSignal"])
    for entry in config.get("Env") or []:
        if not entry or entry.startswith("="):
            raise InvalidParameter(f"invalid environment variable: {entry}")
    from dockyard.daemon.containers.health import validate_healthcheck

    validate_healthcheck(config.get("Healthcheck"))


def _check_capabilities(hc: dict[str, Any]) -> None:
    """moby's create-time check: every ``--cap-add``/``--cap-drop`` is a Linux capability (or ALL)."""
    from dockyard.capabilities import cap_number, normalize_name

    for key in ("CapAdd", "CapDrop"):
        for cap in hc.get(key) or []:
            name = normalize_name(str(cap))
            if name == "CAP_ALL":
                continue
            try:
                cap_number(name)
            except InvalidParameter:
                raise InvalidParameter(f'invalid {key}: unknown capability: "{name}"') from None


def validate_host_config(hc: dict[str, Any], host: SysInfo | None = None) -> None:
    """Docker's create-time checks on resources and mounts (HTTP 400 on failure).

    The order is moby's: AutoRemove and restart policy (``validateHostConfig``)
    come before the resource limits (``verifyPlatformContainerSettings``).
    Resources have one validator (``spec.resources.validate_resources``), run
    here against what this host's kernel can limit (``host``, probed when not given).
    """
    policy = hc.get("RestartPolicy") or {}
    if hc.get("AutoRemove") and (policy.get("Name") or "no") != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    validate_restart_policy(policy)
    validate_resources(hc, host if host is not None else probe())
    for key in ("BlkioWeightDevice", *(option for option, _ in BLKIO_THROTTLES)):
        for device in hc.get(key) or []:
            block_device(device.get("Path", ""))
    _check_platform(hc)
    _check_capabilities(hc)
    from dockyard.daemon.containers.security import check_security

    check_security(hc)
    host_mount_points(hc, os.path.exists)  # -v and --mount: Docker's messages, before anything is made
    for path in (hc.get("Tmpfs") or {}):
        if not path.startswith("/"):
            raise InvalidParameter(f"invalid mount path: '{path}' mount path must be absolute")  # moby's words


NAMESPACE_MODES = {"IpcMode": ("invalid IPC mode", ("", "private", "shareable", "host")),
                   "PidMode": ("invalid PID mode", ("", "host")),
                   "UTSMode": ("invalid UTS mode", ("", "host")),
                   "CgroupnsMode": ("invalid cgroup namespace mode", ("", "private", "host"))}


def _check_platform(hc: dict[str, Any]) -> None:
    """The rest of moby's ``verifyPlatformContainerSettings``: modes, isolation, oom score, storage opts."""
    for key, (text, valid) in NAMESPACE_MODES.items():
        value = hc.get(key) or ""
        if value not in valid and not (key != "CgroupnsMode" and value.startswith("container:")):
            raise InvalidParameter(f"{text}: {value}")
    if hc.get("ShmSize", 0) < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    oom = hc.get("OomScoreAdj") or 0
    if oom < -1000 or oom > 1000:
        raise InvalidParameter(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    isolation = hc.get("Isolation") or ""
    if isolation not in ("", "default"):
        raise InvalidParameter(f'Invalid isolation: "{isolation}" - linux only supports \'default\'')
    if hc.get("StorageOpt"):
        raise InvalidParameter("--storage-opt (StorageOpt) is supported only for overlay over xfs with 'pquota' "
                               "mount option")


def create_warnings(hc: dict[str, Any]) -> list[str]:
    """The warnings moby's ``verifyPlatformContainerResources`` returns for an accepted HostConfig."""
    if hc.get("OomKillDisable") and not hc.get("Memory"):
        return ["OOM killer is disabled for the container, but no memory limit is set, this can result in the "
                "system running out of resources."]
    return []


def validate_request(config: dict[str, Any], host_config: dict[str, Any] | None) -> dict[str, Any]:
    """The checks dockerd makes before it looks the image up (``verifyContainerSettings``).

    Returns a copy of the HostConfig with the restart policy normalized
    (an empty name is "no", as moby's create does since v25).
    """
    hc = copy.deepcopy(host_config or {})
    policy = dict(hc.get("RestartPolicy") or {})
    if not policy.get("Name"):
        policy["Name"] = "no"
    policy.setdefault("MaximumRetryCount", 0)
    hc["RestartPolicy"] = policy
    validate_config(config)
    validate_host_config(hc)
    if hc.get("UTSMode") == "host" and config.get("Hostname"):  # the host's name would be kept: say so
        raise InvalidParameter("conflicting options: hostname and the UTS mode")
    return hc


def normalize(config: dict[str, Any], host_config: dict[str, Any], image_config: dict[str, Any],
              cfg: DaemonConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Config and HostConfig to store: merged with the image, defaults filled.

    ``host_config`` is what :func:`validate_request` returned: the service checks
    the request before it looks the image up, as dockerd does (a bad ``-m``
    is a 400 even for a missing image).
    """
    hc = host_config
    merged = merge_image_config(config, image_config)
    if merged.get("Entrypoint") == [""]:  # moby: ``--entrypoint ''`` is reset after the merge (inspect: null)
        merged["Entrypoint"] = None
    if merged.get("WorkingDir"):  # moby stores filepath.Clean of it: /tmp/ and /tmp/../etc read /tmp and /etc
        merged["WorkingDir"] = clean_path(merged["WorkingDir"])
    if not merged.get("Entrypoint") and not merged.get("Cmd"):
        raise InvalidParameter("No command specified")
    _check_log_config(hc.get("LogConfig") or {})
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
        merged[key] = bool(merged.get(key))
    merged = with_defaults(merged, CONFIG_DEFAULTS, OMITEMPTY_CONFIG)
    _fill_host_defaults(hc, cfg)
    return merged, with_defaults(hc, HOST_CONFIG_DEFAULTS, OMITEMPTY_HOST_CONFIG)


# The log drivers dockyard has (all stored by the monitor in one file format) and the
# options each takes, with moby's texts for the rest.
LOG_DRIVER_OPTS = {
    "json-file": {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"},
    "local": {"max-file", "max-size", "compress"},
    "none": set(),
}
BUILTIN_LOG_OPTS = {"mode", "max-buffer-size"}


def _check_log_config(log_config: dict[str, Any]) -> None:
    """moby's ``mergeAndVerifyLogConfig``: a known driver, and only the options it takes."""
    driver = log_config.get("Type") or "json-file"
    if driver not in LOG_DRIVER_OPTS:
        raise InvalidParameter(f'error looking up logging plugin {driver}: plugin "{driver}" not found')
    mode = (log_config.get("Config") or {}).get("mode")
    if mode is not None and mode not in ("blocking", "non-blocking"):
        raise InvalidParameter(f"logger: logging mode not supported: {mode}")
    for key in sorted(log_config.get("Config") or {}):
        if key in BUILTIN_LOG_OPTS or key in LOG_DRIVER_OPTS[driver]:
            continue
        if driver == "json-file":
            raise InvalidParameter(f"unknown log opt '{key}' for json-file log driver")
        raise InvalidParameter(f"unknown log opt '{key}' for log driver {driver}")


def _fill_host_defaults(hc: dict[str, Any], cfg: DaemonConfig) -> None:
    """What dockerd's ``adaptContainerSettings`` and create fill in, so inspect shows the same."""
    from dockyard.daemon.system import cgroup_version
    from dockyard.spec.bundle import MASKED_PATHS, READONLY_PATHS

    hc["NetworkMode"] = hc.get("NetworkMode") or "default"
    log_config = dict(hc.get("LogConfig") or {})
    log_config["Type"] = log_config.get("Type") or "json-file"
    opts = dict(log_config.get("Config") or {})
    if log_config["Type"] == "json-file":
        for key, value in cfg.log_opts.items():
            opts.setdefault(key, value)
    log_config["Config"] = opts
    hc["LogConfig"] = log_config
    if (hc.get("Memory") or 0) > 0 and not hc.get("MemorySwap"):
        hc["MemorySwap"] = hc["Memory"] * 2  # dockerd: swap defaults to as much as the memory
    if hc.get("MemorySwappiness") == -1:
        hc["MemorySwappiness"] = None
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] <= 0:
        hc["PidsLimit"] = None  # 0 and -1 both mean "no limit"; dockerd stores null
    if not hc.get("ShmSize"):
        hc["ShmSize"] = cfg.default_shm_size
    if not hc.get("IpcMode"):
        hc["IpcMode"] = "private"
    if not hc.get("CgroupnsMode"):
        hc["CgroupnsMode"] = "private" if cgroup_version() == "2" else "host"
    if hc.get("OomKillDisable") is None:
        hc["OomKillDisable"] = False
    if not hc.get("Privileged"):
        if hc.get("MaskedPaths") is None:
            hc["MaskedPaths"] = list(MASKED_PATHS)
        if hc.get("ReadonlyPaths") is None:
            hc["ReadonlyPaths"] = list(READONLY_PATHS)
    if not hc.get("Runtime"):
        hc["Runtime"] = cfg.default_runtime
    if hc.get("Privileged") or hc.get("IpcMode") == "host" or hc.get("PidMode") == "host":
        # moby's generateSecurityOpt: no SELinux label for a container sharing the host's view
        hc["SecurityOpt"] = [*(hc.get("SecurityOpt") or []), "label=disable"]
