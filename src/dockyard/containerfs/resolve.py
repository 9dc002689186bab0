"""Paths inside a container's root, resolved by the kernel: openat2(2) with RESOLVE_IN_ROOT.

Every ``docker cp`` path goes through :func:`open_in_root` from a file
descriptor of the container's root: the kernel treats that directory as
``/`` for every symlink and ``..`` on the way, atomically, so a container
that swaps a path component for a symlink to ``/`` meanwhile (the
CVE-2018-15664 race) still lands inside its own root.  Past that first open
every step is relative to a directory fd (``*at`` calls, ``O_NOFOLLOW``),
never a string path on the host.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

from dockyard.errors import NotFound, SystemError_

SYS_OPENAT2 = 437  # the same number on x86_64 and aarch64
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
MAX_LINKS = 255


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """The raw system call; OSError with the errno on failure (EAGAIN retried)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    while True:
        fd = _LIBC.syscall(SYS_OPENAT2, dirfd, raw, ctypes.byref(how), ctypes.sizeof(how))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            raise OSError(err, os.strerror(err), path)


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH, mode: int = 0) -> int:
    """``path`` (absolute or not) opened with ``rootfd`` as ``/``; the last component is followed
    unless ``flags`` has O_NOFOLLOW."""
    rel = path.lstrip("/") or "."
    return openat2(rootfd, rel, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)


def split_container_path(path: str) -> tuple[str, str]:
    """``/a/b/c`` → (``/a/b``, ``c``); a trailing ``/`` or ``/.`` keeps its meaning (base ``.``)."""
    absolute = "/" + path.lstrip("/")
    if absolute.endswith("/.") or absolute.endswith("/"):
        return absolute.rstrip(".").rstrip("/") or "/", "."
    head, _, base = absolute.rpartition("/")
    if base == "..":
        return absolute, "."
    return head or "/", base


def resolved_path(rootfd: int, path: str) -> str:
    """The container path ``path`` leads to with every symlink followed inside the root.

    Only for the answer's ``linkTarget`` (a name to show or to ask for next);
    the files themselves are always opened through :func:`open_in_root`.
    """
    pending = [p for p in path.split("/") if p not in ("", ".")][::-1]
    current: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if current:
                current.pop()
            continue
        parent = "/" + "/".join(current)
        try:
            dirfd = open_in_root(rootfd, parent, os.O_PATH | os.O_DIRECTORY)
        except OSError:
            current.append(part)
            continue
        try:
            st = os.stat(part, dir_fd=dirfd, follow_symlinks=False)
            target = os.readlink(part, dir_fd=dirfd) if stat.S_ISLNK(st.st_mode) else None
        except OSError:
            target = None
        finally:
            os.close(dirfd)
        if target is None:
            current.append(part)
            continue
        links += 1
        if links > MAX_LINKS:
            raise SystemError_(f"too many levels of symbolic links resolving {path}")
        if target.startswith("/"):
            current = []
        pending.extend(p for p in target.split("/")[::-1] if p not in ("", "."))
    return "/" + "/".join(current)


def not_found(path: str, container: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {container}")
