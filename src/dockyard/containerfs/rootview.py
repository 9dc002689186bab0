"""The filesystem of a container that is not running: its overlay plus its volumes and binds.

A running container is seen through ``/proc/<pid>/root`` (its own mount
namespace, volumes included).  A stopped one has no namespace, so, as Docker
does for ``docker cp``, its volume and bind sources are bind-mounted onto
the merged overlay in the daemon's namespace for the time of the copy
(private, read-only where the mount point is), and unmounted after.  Nothing
runs in a stopped container, so nothing can swap a path while the mount
targets are resolved (inside the rootfs, with securejoin).
"""

from __future__ import annotations

import ctypes
import os
from types import TracebackType
from typing import Any

from dockyard.errors import os_error
from dockyard.securejoin import secure_join

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2


class StoppedView:
    """Context manager: the mount points' sources bound under ``merged``; undone on exit."""

    def __init__(self, merged: str, mount_points: list[dict[str, Any]]) -> None:
        self.merged = merged
        self.points = [mp for mp in mount_points if mp.get("Type") in ("volume", "bind") and mp.get("Source")]
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._done: list[str] = []

    def _mount(self, src: str | None, target: str, flags: int) -> None:
        rc = self._libc.mount(os.fsencode(src) if src else None, os.fsencode(target), None, flags, None)
        if rc != 0:
            err = ctypes.get_errno()
            raise os_error("bind mount for copy on", target, OSError(err, os.strerror(err)))

    def __enter__(self) -> "StoppedView":
        try:
            for mp in sorted(self.points, key=lambda m: m["Destination"].count("/")):
                target = secure_join(self.merged, mp["Destination"])
                if not os.path.exists(mp["Source"]):
                    continue
                if os.path.isdir(mp["Source"]):
                    os.makedirs(target, exist_ok=True)
                elif not os.path.lexists(target):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    open(target, "a").close()
                self._mount(mp["Source"], target, MS_BIND | MS_REC)
                self._done.append(target)
                self._mount(None, target, MS_PRIVATE | MS_REC)
                if not mp.get("RW", True):
                    self._mount(None, target, MS_BIND | MS_REMOUNT | MS_RDONLY)
        except BaseException:
            self._undo()
            raise
        return self

    def _undo(self) -> None:
        for target in reversed(self._done):
            self._libc.umount2(os.fsencode(target), MNT_DETACH)
        self._done.clear()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._undo()
