"""Linux capability names and numbers: the table both sides of the OCI contract share.

The engine names capabilities when it writes a spec (``--cap-add``,
``--privileged``, the default set) and the native runtime turns the same names
into numbers when it applies them.  Neither side owns the table, so it sits
here, a leaf module that imports nothing of either side (and nothing heavy:
the runtime imports it on every ``create``).
"""

from __future__ import annotations

from dockyard.errors import InvalidParameter

# Capability numbers from <linux/capability.h>; index = number.
_CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",  # 0
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",  # 5
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",  # 10
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",  # 15
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",  # 20
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",  # 25
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",  # 30
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",  # 35
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",  # 40
)
_CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(_CAP_NAMES)}

def last_cap() -> int:
    """The highest capability number this kernel knows (``cap_last_cap``)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(_CAP_NAMES) - 1


ALL_CAPABILITIES: list[str] = list(_CAP_NAMES[: last_cap() + 1])
"""Every capability name this kernel supports, in number order."""

DEFAULT_CAPABILITIES: list[str] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
"""Docker's default capability set for a container (moby ``caps.DefaultCapabilities``)."""


def normalize_name(name: str) -> str:
    """``net_admin``/``NET_ADMIN``/``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def cap_number(name: str) -> int:
    """The number of a capability name (with or without ``CAP_``).

    Raises InvalidParameter for a name that is not a Linux capability.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"unknown capability {name!r}")
    number = _CAP_NUMBERS.get(normalize_name(name))
    if number is None:
        raise InvalidParameter(f'unknown capability "{name}"')
    return number


def cap_name(number: int) -> str:
    """The name of a capability number (``CAP_<n>`` if newer than this table)."""
    return _CAP_NAMES[number] if 0 <= number < len(_CAP_NAMES) else f"CAP_{number}"


def to_mask(caps: set[int]) -> int:
    """A capability set as the 64-bit mask /proc/<pid>/status shows (CapEff, ...)."""
    mask = 0
    for c in caps:
        mask |= 1 << c
    return mask


def from_mask(mask: int) -> set[int]:
    """The inverse of :func:`to_mask`."""
    return {i for i in range(64) if mask >> i & 1}



def held_bounding() -> set[int]:
    """The calling process's bounding set (``CapBnd`` in /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "CapBnd":
                return from_mask(int(value.strip(), 16))
    return set()


def held_names() -> list[str]:
    """The names of the capabilities in this process's bounding set: what ``--privileged`` grants.

    A sandboxed host may lack some (this VM has no CAP_SYS_RESOURCE); asking a
    runtime for one the engine does not hold fails the start with EPERM.
    """
    held = held_bounding()
    return [name for name in ALL_CAPABILITIES if cap_number(name) in held]
