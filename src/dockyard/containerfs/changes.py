"""``docker diff``: a container's changes read from its overlay upper directory.

moby's ``OverlayChanges``: a 0/0 character device is a deleted file (D), and
so is an opaque directory that hides a lower one (its new entries follow); an
entry that exists in a lower layer is a change (C) — a directory only when
its size, mode or mtime differ, or something below it changed; anything
else was added (A).  The parent of an added or deleted entry is listed as
changed.  The files of Docker's init layer (``/etc/hosts`` and friends,
the mount points the runtime makes) are left out, as Docker keeps them out
of the container's layer.  ``os.fwalk`` reads the upper directory through
fds, so a container swapping a directory for a symlink meanwhile cannot
send the walk onto the host.
"""

from __future__ import annotations

import os
import stat
from typing import Any

MODIFY, ADD, DELETE = 0, 1, 2
INIT_LAYER = frozenset({"/dev", "/dev/pts", "/dev/shm", "/dev/console", "/proc", "/sys", "/.dockerenv",
                        "/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/etc/mtab"})


def _lower_stat(lower: list[str], path: str) -> os.stat_result | None:
    for layer in lower:
        try:
            return os.stat(layer + path)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def _opaque(dirfd: int, name: str) -> bool:
    """overlayfs's mark of a directory that hides everything below it (``rm -rf d; mkdir d``)."""
    try:
        return os.getxattr(f"/proc/self/fd/{dirfd}/{name}", "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _only_init_files(dirfd: int, name: str, path: str, skip: frozenset[str]) -> bool:
    """The directory is in the upper dir only for the init layer's files (/etc for /etc/hosts)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:
        return False
    try:
        return all(f"{path}/{entry}" in skip for entry in os.listdir(fd))
    finally:
        os.close(fd)


def changes(upper: str, lower: list[str], skip: frozenset[str] = INIT_LAYER) -> list[dict[str, Any]]:
    """The change list of ``GET /containers/{id}/changes`` (``lower`` topmost first)."""
    out: list[dict[str, Any]] = []
    changed_dirs: set[str] = set()
    for dirpath, dirnames, filenames, dirfd in os.fwalk(upper):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, upper)
        prefix = "" if rel_dir == "." else "/" + rel_dir
        for name in sorted(dirnames + filenames):
            path = f"{prefix}/{name}"
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if path in skip:
                if stat.S_ISDIR(st.st_mode):
                    changed_dirs.add(path)
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = DELETE
            elif is_dir and _opaque(dirfd, name) and _lower_stat(lower, path) is not None:
                kind = DELETE  # moby: an opaque directory over a lower one is listed as deleted
            else:
                below = _lower_stat(lower, path)
                if below is None:
                    kind = ADD
                elif is_dir and stat.S_ISDIR(below.st_mode) and (
                        (below.st_size == st.st_size and below.st_mode == st.st_mode
                         and int(below.st_mtime) == int(st.st_mtime)) or _only_init_files(dirfd, name, path, skip)):
                    continue  # only on the way to a change below it
                else:
                    kind = MODIFY
            if is_dir:
                changed_dirs.add(path)
            if kind in (ADD, DELETE):
                parent = os.path.dirname(path)
                if parent != "/" and parent not in changed_dirs:
                    out.append({"Path": parent, "Kind": MODIFY})
                    changed_dirs.add(parent)
            out.append({"Path": path, "Kind": kind})
    out.sort(key=lambda c: c["Path"].split("/"))  # filepath.Walk's depth-first order, as moby lists them
    return out
