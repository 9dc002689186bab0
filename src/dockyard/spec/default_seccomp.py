"""Docker's default seccomp profile, resolved for one container (OCI ``linux.seccomp``).

The data is moby's ``profiles/seccomp/default.json`` (default_seccomp.json
beside this module); which rules apply depends on the container's
capabilities, the host's architecture and kernel.  The engine writes the
result into config.json; the runtime only compiles what it is given.
"""

from __future__ import annotations

import json
import os

from dockyard.capabilities import DEFAULT_CAPABILITIES, normalize_name

# uname machine -> the Go arch names Docker's profile uses in includes/excludes.
_GO_ARCH = {"x86_64": "amd64", "i686": "x86", "i386": "x86", "aarch64": "arm64", "armv7l": "arm",
            "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
            "mips64": "mips64", "mips64el": "mips64le"}
_NATIVE_SCMP = {"amd64": "SCMP_ARCH_X86_64", "x86": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64",
                "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
                "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64", "mips64le": "SCMP_ARCH_MIPSEL64"}


def _kernel_version(release: str) -> tuple[int, int]:
    parts = release.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return 0, 0


def default_profile(capabilities: list[str] | None = None, machine: str | None = None,
                    kernel: str | None = None) -> dict:
    """Docker's default seccomp profile as OCI ``linux.seccomp``.

    Rules that depend on capabilities are resolved against ``capabilities``
    (the container's bounding set; Docker's default 14 when None), rules for
    other architectures or newer kernels are dropped, and ``architectures``
    is the native one plus its compat sub-architectures (Docker's archMap).
    ``machine`` and ``kernel`` default to this host's ``uname``.  The data is
    default_seccomp.json next to this module.
    """
    if capabilities is None:
        capabilities = DEFAULT_CAPABILITIES
    caps = {normalize_name(c) for c in capabilities}
    uname = os.uname()
    go_arch = _GO_ARCH.get(machine or uname.machine, machine or uname.machine)
    kver = _kernel_version(kernel or uname.release)
    with open(os.path.join(os.path.dirname(__file__), "default_seccomp.json")) as f:
        data = json.load(f)

    def wanted(rule: dict) -> bool:
        inc = rule.get("includes") or {}
        exc = rule.get("excludes") or {}
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            return False
        if inc.get("arches") and go_arch not in inc["arches"]:
            return False
        if inc.get("minKernel") and kver < _kernel_version(inc["minKernel"]):
            return False
        if exc.get("caps") and any(c in caps for c in exc["caps"]):
            return False
        if exc.get("arches") and go_arch in exc["arches"]:
            return False
        return True

    syscalls = []
    for rule in data["syscalls"]:
        if wanted(rule):
            out = {"names": list(rule["names"]), "action": rule["action"]}
            for key in ("errnoRet", "args"):
                if key in rule:
                    out[key] = rule[key]
            syscalls.append(out)
    native = _NATIVE_SCMP.get(go_arch)
    arches = [native] + list(data["archMap"].get(native, [])) if native else []
    return {"defaultAction": data["defaultAction"], "defaultErrnoRet": data["defaultErrnoRet"],
            "architectures": arches, "syscalls": syscalls}
