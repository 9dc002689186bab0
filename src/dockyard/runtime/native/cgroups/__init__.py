"""Cgroups for the native runtime and the daemon (stats, top, update).

``new_manager(cgroups_path, container_id)`` picks the implementation by
detection: cgroup v2 when /sys/fs/cgroup is the unified hierarchy
(``cgroup.controllers`` exists there), otherwise v1 (one hierarchy per
controller; this machine's hybrid layout).  The same call re-opens an
existing container's cgroup from another process (``state``, ``ps``,
``update``, ``pause``, ``delete``).

Typical use in the runtime::

    cg = new_manager(spec["linux"].get("cgroupsPath"), container_id)
    cg.create()
    try:
        cg.set(spec["linux"].get("resources"))
        cg.apply(pid)
    except BaseException:
        cg.destroy()
        raise
"""

from __future__ import annotations

import os

from .base import CgroupManager, resolve_path

__all__ = ["CgroupManager", "detect", "load", "new_manager", "resolve_path"]

UNIFIED_MARKER = "/sys/fs/cgroup/cgroup.controllers"


def detect() -> int:
    """2 on a pure cgroup v2 host, 1 otherwise (v1 or hybrid)."""
    return 2 if os.path.exists(UNIFIED_MARKER) else 1


def new_manager(cgroups_path: str | None, container_id: str) -> CgroupManager:
    """The cgroup manager for one container (nothing is created until ``create()``)."""
    path = resolve_path(cgroups_path, container_id)
    if detect() == 2:
        from .v2 import V2Manager
        return V2Manager(path)
    from .v1 import V1Manager
    return V1Manager(path)


def load(cgroups_path: str | None, container_id: str) -> CgroupManager:
    """Re-open an existing container's cgroup; same as :func:`new_manager`."""
    return new_manager(cgroups_path, container_id)
