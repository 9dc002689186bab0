"""The create options dockyard refuses until the feature behind them exists.

Users trust what the API accepts: an option that were stored and never acted
on would tell them their container is published, restarted or health-checked
when it is not. So until the issue that builds a feature lands, a create that
uses it is a 400 naming the option; when it lands, its row here is deleted
(one row per option, so that each helper deletes exactly its own).

Each row: the option as the API names it, the docker flag users type, when a
request counts as using it, why it is refused, the issue that builds it, and
a create body that uses it (tests/integration/api/test_refused_options.py
sends every row's, so deleting a row is all it takes to stop refusing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from dockyard.errors import InvalidParameter


@dataclass(frozen=True)
class Request:
    """The parts of a create request the rows look at."""

    config: dict[str, Any]
    host_config: dict[str, Any]
    networking: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    option: str
    flag: str
    used: Callable[[Request], bool]
    reason: str | Callable[[], str]
    issue: int  # 0: no issue plans it yet
    example: dict[str, Any]  # a create body that uses the option (the tests send each)




def _security_opt(prefix: str, harmless: tuple[str, ...]) -> Callable[[Request], bool]:
    def used(r: Request) -> bool:
        for opt in r.host_config.get("SecurityOpt") or []:
            key, _, value = opt.replace(":", "=", 1).partition("=")
            if key == prefix and value not in harmless:
                return True
        return False
    return used


def lsm_enabled(name: str, sys_root: str = "/sys") -> bool:
    """Whether the kernel runs SELinux or AppArmor (what moby checks before applying labels)."""
    if name == "selinux":
        return os.path.exists(os.path.join(sys_root, "fs/selinux/enforce"))
    try:
        with open(os.path.join(sys_root, "module/apparmor/parameters/enabled"), encoding="ascii") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def lsm_reason(name: str, label: str, sys_root: str = "/sys") -> str:
    """Why a label/profile option is refused: dockyard applies none, or the kernel has no such LSM."""
    if lsm_enabled(name, sys_root):
        return f"dockyard does not apply {label} profiles or labels yet"
    return f"this kernel has no {label} (the LSM is not enabled), so there is nothing to apply it to"


REFUSED: tuple[Refused, ...] = (
    Refused("HostConfig.Cgroup", "API only", lambda r: bool(r.host_config.get("Cgroup")),
            "sharing another container's cgroup is not built", 0,
            {"HostConfig": {"Cgroup": "container:other"}}),
    Refused("HostConfig.DeviceRequests", "--gpus", lambda r: bool(r.host_config.get("DeviceRequests")),
            "device requests (GPUs) need a device driver plugin, which dockyard does not have", 16,
            {"HostConfig": {"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]}}),
    Refused("HostConfig.SecurityOpt label=", "--security-opt label=…",
            _security_opt("label", ("disable", "")), lambda: lsm_reason("selinux", "SELinux"), 0,
            {"HostConfig": {"SecurityOpt": ["label=type:svirt_t"]}}),
    Refused("HostConfig.SecurityOpt apparmor=", "--security-opt apparmor=…",
            _security_opt("apparmor", ("unconfined", "")), lambda: lsm_reason("apparmor", "AppArmor"), 0,
            {"HostConfig": {"SecurityOpt": ["apparmor=docker-default"]}}),
)


def check_refused(config: dict[str, Any], host_config: dict[str, Any],
                  networking: dict[str, Any] | None = None) -> None:
    """Raise a 400 naming the first option of the request that dockyard refuses."""
    request = Request(config, host_config, networking or {})
    for row in REFUSED:
        if row.used(request):
            reason = row.reason if isinstance(row.reason, str) else row.reason()
            issue = f"issue {row.issue}" if row.issue else "no issue plans it yet"
            raise InvalidParameter(f"{row.option} ({row.flag}) is not supported by dockyard yet: {reason} ({issue})")
