"""A Docker-format seccomp profile (``--security-opt seccomp=profile.json``) → OCI ``linux.seccomp``.

The docker CLI sends the file's content in SecurityOpt.  Docker's format adds
``archMap`` (arch + sub-architectures) and per-rule ``includes``/``excludes``
conditions (capabilities, arches, minKernel) to the OCI shape; this resolves
them for the container's final capability list.  Pure.
"""

from __future__ import annotations

import json
import platform
from typing import Any

from dockyard.errors import InvalidParameter

_NATIVE = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}


def _applies(cond: dict[str, Any], caps: list[str], arch: str, include: bool) -> bool:
    checks = []
    if cond.get("caps"):
        checks.append([c in caps for c in cond["caps"]])
    if cond.get("arches"):
        checks.append([a == arch for a in cond["arches"]])
    if not checks:
        return include
    if include:
        return all(all(x) for x in checks)  # every listed cap/arch must hold
    return any(any(x) for x in checks)


def docker_to_oci(text: str, caps: list[str], machine: str | None = None) -> dict[str, Any]:
    """Parse and convert; InvalidParameter if the JSON is not a profile."""
    try:
        prof = json.loads(text)
    except ValueError as exc:
        raise InvalidParameter(f"Decoding seccomp profile failed: {exc}") from None
    if not isinstance(prof, dict) or "defaultAction" not in prof:
        raise InvalidParameter("Decoding seccomp profile failed: missing defaultAction")
    arch_name = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine or platform.machine(), "")
    native = _NATIVE.get(machine or platform.machine(), "")
    out: dict[str, Any] = {"defaultAction": prof["defaultAction"]}
    if "defaultErrnoRet" in prof:
        out["defaultErrnoRet"] = prof["defaultErrnoRet"]
    arches: list[str] = list(prof.get("architectures") or [])
    for entry in prof.get("archMap") or []:
        if entry.get("architecture") == native:
            arches = [native, *entry.get("subArchitectures", [])]
    if arches:
        out["architectures"] = arches
    if prof.get("flags"):
        out["flags"] = prof["flags"]
    rules = []
    for sc in prof.get("syscalls") or []:
        if not _applies(sc.get("includes") or {}, caps, arch_name, True):
            continue
        if sc.get("excludes") and _applies(sc["excludes"], caps, arch_name, False):
            continue
        names = list(sc.get("names") or ([sc["name"]] if sc.get("name") else []))
        rule: dict[str, Any] = {"names": names, "action": sc["action"]}
        for key in ("args", "errnoRet"):
            if sc.get(key) is not None:
                rule[key] = sc[key]
        rules.append(rule)
    out["syscalls"] = rules
    return out
