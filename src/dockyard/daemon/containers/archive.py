"""docker cp, diff and export on the container service's side.

The container's root is a file descriptor: ``/proc/<pid>/root`` while it
runs (its own mount namespace: volumes, binds and tmpfs as the container
sees them), else the merged overlay with its volumes bound on for the time
of the operation (``containerfs/rootview.py``, under the container's lock so
a start cannot interleave).  Every path is resolved from that fd by the
kernel (``containerfs/resolve.py``).  The work runs in a thread; tar data
leaves through ``sink`` in chunks, never whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

from dockyard import errors
from dockyard.containerfs.pathstat import path_stat
from dockyard.containerfs.resolve import not_found, open_in_root, resolved_path, split_container_path

_DIR = os.O_PATH | os.O_DIRECTORY


@contextlib.asynccontextmanager
async def container_root(svc: Any, c: Any, *, volumes: bool = True) -> AsyncIterator[int]:
    """An O_PATH fd of the container's ``/``; with ``volumes`` False, the overlay alone (export)."""
    from dockyard.containerfs.rootview import StoppedView

    if c.State.Running and c.State.Pid:
        # the container's own view, or (export) its overlay, mounted while it runs
        where = f"/proc/{c.State.Pid}/root" if volumes else svc.images.layers.get_rw(c.Id).merged
        fd = os.open(where, _DIR | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)
        return
    async with svc._lock(c.Id):
        from dockyard.daemon.userns import remap_of

        rw = svc.images.layers.get_rw(c.Id)
        rw.mount(remap_of(c, svc.cfg))  # the same view the container has when it runs
        try:
            with StoppedView(rw.merged, c.MountPoints if volumes else []):
                fd = os.open(rw.merged, _DIR | os.O_CLOEXEC)
                try:
                    yield fd
                finally:
                    os.close(fd)
        finally:
            rw.unmount()


def stat_path(rootfd: int, path: str, name: str) -> tuple[int, str, dict[str, Any]]:
    """(fd of the parent directory, entry name in it, Docker's ContainerPathStat) of ``path``.

    The caller closes the fd.  Every component but the last is followed
    inside the root; the last is not (a symlink is reported as one, with
    the path it leads to as ``linkTarget``).
    """
    if not path:
        raise errors.InvalidParameter("Path cannot be empty")
    head, base = split_container_path(path)
    try:
        dirfd = open_in_root(rootfd, head, _DIR)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise not_found(path, name) from None
        raise errors.os_error("resolve", path, exc) from None
    try:
        st = os.stat(base, dir_fd=dirfd, follow_symlinks=False)
    except OSError as exc:
        os.close(dirfd)
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise not_found(path, name) from None
        raise errors.os_error("stat", path, exc) from None
    absolute = "/" + path.lstrip("/")
    # moby names the entry after the path asked for: ``/d/`` (a symlink to a directory too) is
    # ``d``, only ``/d/.`` is ``.`` (the CLI then copies the contents)
    shown = "." if absolute.endswith("/.") else posixpath.basename(absolute.rstrip("/"))
    if absolute.rstrip("/") == "":
        shown = "/"
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = resolved_path(rootfd, absolute)
    return dirfd, base, path_stat(shown or base, st, link)


def close_fd(fd: int) -> None:
    os.close(fd)


def stat_only(rootfd: int, path: str, name: str) -> dict[str, Any]:
    dirfd, _, st = stat_path(rootfd, path, name)
    os.close(dirfd)
    return st


def write_archive(dirfd: int, base: str, st: dict[str, Any], sink: Callable[[bytes], None],
                  id_map: Any = None) -> None:
    """``GET /containers/{id}/archive``: the entry :func:`stat_path` found, as a tar whose top
    entry is named as asked (the same fd: what was stated is what is copied)."""
    from dockyard.containerfs.tarwrite import TarWriter

    w = TarWriter(sink, id_map)
    w.add_tree(dirfd, base, st["name"] if st["name"] != "/" else ".")
    w.close()


def write_export(rootfd: int, sink: Callable[[bytes], None], id_map: Any = None) -> None:
    """``GET /containers/{id}/export``: every entry below ``/``, names without a leading ``./``."""
    from dockyard.containerfs.tarwrite import TarWriter

    fd = open_in_root(rootfd, "/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        w = TarWriter(sink, id_map)
        for entry in sorted(os.listdir(fd)):
            w.add_tree(fd, entry, entry)
        w.close()
    finally:
        os.close(fd)


def _under(path: str, dest: str) -> bool:
    return path == dest or path.startswith(dest.rstrip("/") + "/")


def open_extraction_point(rootfd: int, path: str, c: Any) -> int:
    """The directory a ``PUT /containers/{id}/archive`` unpacks into, checked as moby does."""
    if not path:
        raise errors.InvalidParameter("Path cannot be empty")
    try:
        fd = open_in_root(rootfd, path, _DIR)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise errors.InvalidParameter("extraction point is not a directory") from None
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            raise not_found(path, c.Name) from None
        raise errors.os_error("resolve", path, exc) from None
    try:
        real = resolved_path(rootfd, path)
        point = next((mp for mp in sorted(c.MountPoints, key=lambda m: len(m["Destination"]), reverse=True)
                      if _under(real, mp["Destination"])), None)
        readonly = bool(os.statvfs(fd).f_flag & os.ST_RDONLY)
        if point is not None and (not point.get("RW", True) or readonly):
            raise errors.Forbidden("mounted volume is marked read-only")
        if point is None and (c.HostConfig.get("ReadonlyRootfs") or readonly):
            raise errors.Forbidden("container rootfs is marked read-only")
    except BaseException:
        os.close(fd)
        raise
    return fd


def extract_archive(rootfd: int, path: str, c: Any, stream: IO[bytes], *, no_overwrite_dir_non_dir: bool,
                    copy_uid_gid: bool, id_map: Any = None) -> None:
    """``PUT /containers/{id}/archive``: unpack ``stream`` into the directory ``path``."""
    from dockyard.containerfs.extract import extract

    fd = open_extraction_point(rootfd, path, c)
    try:
        owner = None
        if copy_uid_gid and c.Config.get("User"):
            from dockyard.spec.users import resolve_user

            user = resolve_user(c.rootfs, c.Config["User"])
            owner = (user.uid, user.gid)
        extract(stream, fd, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, owner=owner, id_map=id_map,
                dest_path=path)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise errors.Forbidden("mounted volume is marked read-only") from None
        raise errors.os_error("extract to", path, exc) from None
    finally:
        os.close(fd)
