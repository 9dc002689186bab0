"""The kernel calls of the overlay driver: mount, unmount, is-mounted.

Two ways to mount, chosen by size: the classic ``mount(2)`` when the option
string fits the one page the kernel copies (short ``l/`` links keep it small
for a few dozen layers), and the new mount API (``fsopen``/``fsconfig`` with
one ``lowerdir+`` per layer, Linux ≥ 6.8) when it does not, so the number of
layers has no practical limit.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil

MNT_DETACH = 2
_PAGE_LIMIT = 4095  # the kernel copies at most one page of mount data, NUL included

# new mount API (include/uapi/linux/mount.h)
_FSOPEN_CLOEXEC = 0x1
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
_FSMOUNT_CLOEXEC = 0x1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100
_NR = {"x86_64": {"fsopen": 430, "fsconfig": 431, "fsmount": 432, "move_mount": 429, "open_tree": 428,
                  "mount_setattr": 442},
       "aarch64": {"fsopen": 430, "fsconfig": 431, "fsmount": 432, "move_mount": 429, "open_tree": 428,
                   "mount_setattr": 442}}
_OPEN_TREE_CLONE = 1
_OPEN_TREE_CLOEXEC = 0o2000000
_AT_EMPTY_PATH = 0x1000
_MOUNT_ATTR_IDMAP = 0x00100000


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class Kernel:
    """libc through ctypes, loaded once per store."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.syscall.restype = ctypes.c_long
        self._nr = _NR.get(os.uname().machine, _NR["x86_64"])
        # As Docker: turn the inode index off where the kernel has it, so one lower
        # dir can sit under many uppers whatever the kernel's default.
        self._extra = ["index=off"] if os.path.exists("/sys/module/overlay/parameters/index") else []

    def _check(self, rc: int, op: str, path: str) -> int:
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{op} {path}: {os.strerror(err)}")
        return rc

    def mount_overlay(self, lower: list[str], upper: str, work: str, target: str,
                      userns_fd: int | None = None, scratch: str | None = None) -> None:
        """Mount an overlay at ``target``; ``lower`` is topmost first.

        With ``userns_fd`` (userns-remap) each lower dir is seen through an
        idmapped mount with that namespace's maps, so files of host root look
        owned by the container's root; ``scratch`` holds those helper mounts
        only while the overlay is made (overlayfs keeps private clones of its
        layers, so they are detached right after, and nothing is left mounted).
        """
        if userns_fd is None:
            self._mount_plain(lower, upper, work, target)
            return
        assert scratch is not None
        mapped: list[str] = []
        try:
            for i, d in enumerate(lower):
                path = os.path.join(scratch, str(i))
                os.makedirs(path, exist_ok=True)
                self._idmapped_bind(d, path, userns_fd)
                mapped.append(path)
            self._mount_plain(mapped, upper, work, target)
        finally:
            for path in mapped:
                self._libc.umount2(os.fsencode(path), MNT_DETACH)
            shutil.rmtree(scratch, ignore_errors=True)

    def _idmapped_bind(self, source: str, target: str, userns_fd: int) -> None:
        """open_tree(CLONE) + mount_setattr(MOUNT_ATTR_IDMAP) + move_mount: ``source`` at ``target``, mapped."""
        sys = self._libc.syscall
        fd = self._check(sys(self._nr["open_tree"], _AT_FDCWD, os.fsencode(source),
                             _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC), "open_tree", source)
        try:
            attr = _MountAttr(_MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
            self._check(sys(self._nr["mount_setattr"], fd, b"", _AT_EMPTY_PATH, ctypes.byref(attr),
                            ctypes.sizeof(attr)), "idmap (mount_setattr)", source)
            self._check(sys(self._nr["move_mount"], fd, b"", _AT_FDCWD, os.fsencode(target),
                            _MOVE_MOUNT_F_EMPTY_PATH), "move_mount", target)
        finally:
            os.close(fd)

    def _mount_plain(self, lower: list[str], upper: str, work: str, target: str) -> None:
        data = ",".join([f"lowerdir={':'.join(lower)}", f"upperdir={upper}", f"workdir={work}", *self._extra])
        if len(data) < _PAGE_LIMIT:
            rc = self._libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, data.encode())
            self._check(rc, "mount overlay on", target)
            return
        self._mount_new_api(lower, upper, work, target)

    def _mount_new_api(self, lower: list[str], upper: str, work: str, target: str) -> None:
        sys = self._libc.syscall
        fsfd = self._check(sys(self._nr["fsopen"], b"overlay", _FSOPEN_CLOEXEC), "fsopen overlay for", target)
        try:
            def setstr(key: str, value: str) -> None:
                rc = sys(self._nr["fsconfig"], fsfd, _FSCONFIG_SET_STRING, key.encode(), os.fsencode(value), 0)
                self._check(rc, f"fsconfig {key}={value} for", target)

            setstr("source", "overlay")
            for d in lower:  # "lowerdir+" appends one layer, topmost first
                setstr("lowerdir+", d)
            setstr("upperdir", upper)
            setstr("workdir", work)
            for opt in self._extra:
                key, _, value = opt.partition("=")
                setstr(key, value)
            self._check(sys(self._nr["fsconfig"], fsfd, _FSCONFIG_CMD_CREATE, None, None, 0),
                        "create overlay for", target)
            mfd = self._check(sys(self._nr["fsmount"], fsfd, _FSMOUNT_CLOEXEC, 0), "fsmount overlay for", target)
            try:
                self._check(sys(self._nr["move_mount"], mfd, b"", _AT_FDCWD, os.fsencode(target),
                                _MOVE_MOUNT_F_EMPTY_PATH), "move_mount overlay to", target)
            finally:
                os.close(mfd)
        finally:
            os.close(fsfd)

    def unmount(self, target: str) -> None:
        """Unmount ``target``; not mounted is fine; busy falls back to a lazy detach."""
        path = os.fsencode(target)
        while is_mounted(target):
            if self._libc.umount2(path, 0) == 0:
                continue
            err = ctypes.get_errno()
            if err == errno.EINVAL or err == errno.ENOENT:
                return
            if err == errno.EBUSY:
                if self._libc.umount2(path, MNT_DETACH) == 0:
                    continue
                err = ctypes.get_errno()
            raise OSError(err, f"unmount {target}: {os.strerror(err)}")


def is_mounted(path: str) -> bool:
    """An overlay (or any other filesystem) is mounted at ``path``.

    A stat pair instead of a mountinfo scan: the hot path of ``docker run``
    calls this, and an overlay always has a device number of its own.
    """
    try:
        st = os.lstat(path)
        parent = os.lstat(os.path.dirname(path.rstrip("/")) or "/")
    except FileNotFoundError:
        return False
    return st.st_dev != parent.st_dev
