"""``dockyard-runtime features``: what this runtime supports (runtime-spec features.md)."""

from __future__ import annotations

from dockyard.runtime.native import mounts, spec_defaults

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def features() -> dict[str, Any]:
    from dockyard.runtime.native import caps

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": list(spec_defaults.HOOK_NAMES),
        "mountOptions": sorted(set(mounts._FLAGS) | set(mounts.PROPAGATION)),
        "linux": {
            "namespaces": sorted(k for k in spec_defaults.NAMESPACE_FLAGS),
            "capabilities": list(caps.ALL_CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.dockyard.runtime": "native"},
    }
