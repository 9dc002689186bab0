"""Which parts of an OCI config.json belong to which platform.

The runtime spec splits ``config.json`` into a common part and per-platform
parts (``linux``, ``windows``, ``solaris``, ``vm``, ``zos``, ``freebsd``), and
marks a few ``process`` fields as POSIX-only or Windows-only.  A runtime that
silently ignores the other platform's part would run a container without the
limits or isolation its author asked for, so both dockyard runtimes refuse
such a config up front, naming the section.  Pure data and one function: no
I/O, importable on every platform, and no ``typing`` import (the Linux runtime
imports this on every ``create``, where each millisecond of start-up counts).
"""

from __future__ import annotations

from dockyard.errors import InvalidParameter

# Sections (dotted paths) that only make sense on one platform.  ``vm`` is
# neutral (it configures a VM-based runtime on any host) and stays out.
_LINUX_ONLY = (
    "linux",
    "process.capabilities",
    "process.rlimits",
    "process.apparmorProfile",
    "process.selinuxLabel",
    "process.noNewPrivileges",
    "process.oomScoreAdj",
    "process.scheduler",
    "process.ioPriority",
    "process.execCPUAffinity",
    "process.user.uid",  # 0 (what Go engines write for Windows) counts as unset
    "process.user.gid",
    "process.user.umask",
    "process.user.additionalGids",
)
_WINDOWS_ONLY = (
    "windows",
    "process.commandLine",
    "process.user.username",
)
_OTHER_OS = ("solaris", "zos", "freebsd")

_ONLY = {"linux": _LINUX_ONLY, "windows": _WINDOWS_ONLY}


def _lookup(config: dict[str, object], dotted: str) -> object:
    node: object = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _is_set(value: object) -> bool:
    # JSON encoders of some engines write empty values for unset fields
    # (Go structs without omitempty); those declare nothing.
    return value not in (None, False, "", [], {})


def check_platform_sections(config: dict[str, object], platform: str) -> None:
    """Refuse a config that carries another platform's sections.

    ``platform`` is the runtime's own platform, ``"linux"`` or ``"windows"``.
    Raises :class:`InvalidParameter` naming the first offending section.
    """
    if platform not in _ONLY:
        raise InvalidParameter(f"unknown runtime platform {platform!r} (want linux or windows)")
    foreign: list[tuple[str, str]] = []
    for other, sections in _ONLY.items():
        if other != platform:
            foreign.extend((section, other) for section in sections)
    foreign.extend((section, section) for section in _OTHER_OS)
    for section, owner in foreign:
        if _is_set(_lookup(config, section)):
            owner_name = {"linux": "Linux", "windows": "Windows"}.get(owner, owner)
            own_name = {"linux": "Linux", "windows": "Windows"}[platform]
            raise InvalidParameter(
                f'config.json section "{section}" is for {owner_name} containers only; '
                f"the {own_name} runtime cannot honour it: remove it or use a {owner_name} runtime"
            )
