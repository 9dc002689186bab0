"""Linux capabilities for the container process: parse the OCI sets, apply them.

The OCI spec lists five sets (``process.capabilities``: bounding, effective,
inheritable, permitted, ambient) by name.  :func:`parse_capabilities`
validates every name up front, in the runtime, before anything is forked, so a
typo is one clear error line.  The container process then calls, in this order
(runc's ``standard_init`` order)::

    drop_bounding(c)        # PR_CAPBSET_DROP; needs CAP_SETPCAP, so before setuid
    keep_caps(True)         # keep the permitted set across setuid to non-root
    ... setgroups / setgid / setuid ...
    apply(c)                # capset(effective, permitted, inheritable) + ambient
    keep_caps(False)

All kernel calls go through plain ctypes on libc; nothing heavy is imported.
"""

from __future__ import annotations

import ctypes
import os

from dockyard.capabilities import (ALL_CAPABILITIES, DEFAULT_CAPABILITIES, cap_name, cap_number, from_mask,  # noqa: F401
                                   last_cap, normalize_name, to_mask)
from dockyard.errors import InvalidParameter, SystemError_

_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

# prctl options and capset constants (<linux/prctl.h>, <linux/capability.h>).
_PR_CAPBSET_DROP = 24
_PR_SET_KEEPCAPS = 8
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class CapabilitySets:
    """The five capability sets of a process, as sets of capability numbers.

    A plain class, not a dataclass: importing dataclasses costs the runtime
    ~25 ms of start-up.
    """

    __slots__ = _SETS

    def __init__(self, bounding: set[int] | None = None, effective: set[int] | None = None,
                 inheritable: set[int] | None = None, permitted: set[int] | None = None,
                 ambient: set[int] | None = None) -> None:
        self.bounding: set[int] = set(bounding or ())
        self.effective: set[int] = set(effective or ())
        self.inheritable: set[int] = set(inheritable or ())
        self.permitted: set[int] = set(permitted or ())
        self.ambient: set[int] = set(ambient or ())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CapabilitySets):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in _SETS)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={sorted(cap_name(n) for n in getattr(self, k))}" for k in _SETS)
        return f"CapabilitySets({parts})"


def parse_capabilities(process_caps: dict | None) -> CapabilitySets:
    """Validate OCI ``process.capabilities`` and turn names into numbers.

    Every name in every set is checked, so the first unknown one is reported
    before anything runs.  A known capability that this kernel does not have
    (newer than ``cap_last_cap``) is dropped from the sets, as runc does.
    ``None`` (no ``capabilities`` key) means no capabilities at all.
    """
    result = CapabilitySets()
    if process_caps is None:
        return result
    if not isinstance(process_caps, dict):
        raise InvalidParameter("process.capabilities must be an object")
    top = last_cap()
    for key, names in process_caps.items():
        if key not in _SETS:
            raise InvalidParameter(f"unknown capability set {key!r} in process.capabilities")
        if names is None:
            continue
        if not isinstance(names, list):
            raise InvalidParameter(f"process.capabilities.{key} must be a list of names")
        target: set[int] = getattr(result, key)
        for name in names:
            number = cap_number(name)
            if number <= top:
                target.add(number)
    return result


# --- kernel calls -------------------------------------------------------------

def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg2: int, arg3: int = 0, what: str = "prctl") -> None:
    libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(option, arg2, arg3, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SystemError_(f"{what}: {os.strerror(err)}")


def keep_caps(on: bool) -> None:
    """PR_SET_KEEPCAPS: keep the permitted set when changing from uid 0 to non-zero."""
    _prctl(_PR_SET_KEEPCAPS, 1 if on else 0, what="prctl(PR_SET_KEEPCAPS)")


def drop_bounding(c: CapabilitySets) -> None:
    """Drop every capability not in ``c.bounding`` from the bounding set.

    Needs CAP_SETPCAP in the effective set, so call it before changing user.
    """
    for number in range(last_cap() + 1):
        if number not in c.bounding:
            _prctl(_PR_CAPBSET_DROP, number, what=f"drop {cap_name(number)} from the bounding set")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    libc = _libc()
    rc = libc.capset(ctypes.byref(header), data)  # glibc's thin wrapper of capset(2)
    if rc != 0:
        err = ctypes.get_errno()
        raise SystemError_(f"capset: {os.strerror(err)} (a capability in effective or "
                           "inheritable that is not permitted?)")


def apply(c: CapabilitySets) -> None:
    """Set effective, permitted and inheritable with capset(2), then the ambient set.

    Call after setgid/setuid (with :func:`keep_caps` on if the user is not root).
    An ambient capability must be both permitted and inheritable; otherwise the
    kernel refuses and this raises naming the capability.
    """
    _capset(to_mask(c.effective), to_mask(c.permitted), to_mask(c.inheritable))
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, what="clear the ambient set")
    for number in sorted(c.ambient):
        try:
            _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, number,
                   what=f"raise ambient {cap_name(number)}")
        except SystemError_ as exc:
            raise SystemError_(f"{exc}: an ambient capability must also be permitted "
                               "and inheritable") from None


def current() -> CapabilitySets:
    """The calling process's five sets, read from /proc/self/status."""
    keys = {"CapBnd": "bounding", "CapEff": "effective", "CapInh": "inheritable",
            "CapPrm": "permitted", "CapAmb": "ambient"}
    result = CapabilitySets()
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                setattr(result, keys[key], from_mask(int(value.strip(), 16)))
    return result
