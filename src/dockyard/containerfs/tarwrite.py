"""A tar stream of a tree inside a container, read through directory fds only.

The walk never follows a symlink and never opens a path string: each entry
is ``fstatat``/``openat`` relative to its parent's fd with ``O_NOFOLLOW``, so
a container renaming or swapping entries while it runs can change what is
copied but never make the copy read a file of the host.  Output goes to a
``sink`` in chunks of about a megabyte (the caller streams them: the tree is
never held whole).  Hard links are kept as links; fifos and devices are
written as headers, never opened; sockets are left out (as Docker does).
"""

from __future__ import annotations

import os
import stat
import struct
import tarfile
from collections.abc import Callable

CHUNK = 1 << 20
BLOCK = 512
_FORMAT = tarfile.PAX_FORMAT
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_OCTAL_MAX = {8: 0o7777777, 12: 0o77777777777}


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def ustar_header(name: str, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes,
                 linkname: str = "", devmajor: int = 0, devminor: int = 0) -> bytes | None:
    """A plain ustar header, or None when a field does not fit (the caller writes PAX then).

    The common case (short names, small ids) without tarfile's PAX machinery:
    a header per file is most of the work of a tree of small files.
    """
    raw, link = os.fsencode(name), os.fsencode(linkname)
    if len(raw) > 100 or len(link) > 100 or uid > _OCTAL_MAX[8] or gid > _OCTAL_MAX[8] \
            or size > _OCTAL_MAX[12] or not 0 <= mtime <= _OCTAL_MAX[12]:
        return None
    fields = [raw, _octal(mode, 8), _octal(uid, 8), _octal(gid, 8), _octal(size, 12), _octal(mtime, 12),
              b"        ", kind, link, b"ustar\0", b"00", b"", b"", _octal(devmajor, 8), _octal(devminor, 8), b""]
    header = bytearray(_USTAR.pack(*fields))
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


class TarWriter:
    """Tar members into ``sink``, buffered; :meth:`close` writes the end-of-archive blocks."""

    def __init__(self, sink: Callable[[bytes], None],
                 id_map: Callable[[int, int], tuple[int, int]] | None = None) -> None:
        self._sink = sink
        self._id_map = id_map  # userns-remap: host ids -> the container's, for the headers
        self._parts: list[bytes] = []
        self._size = 0
        self._links: dict[tuple[int, int], str] = {}

    def _put(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._sink(self._parts[0] if len(self._parts) == 1 else b"".join(self._parts))
            self._parts = []
            self._size = 0

    def _header(self, name: str, st: os.stat_result, kind: bytes, *, size: int = 0, linkname: str = "") -> None:
        dev = (os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE) else (0, 0)
        uid, gid = self._id_map(st.st_uid, st.st_gid) if self._id_map is not None else (st.st_uid, st.st_gid)
        fast = ustar_header(name, stat.S_IMODE(st.st_mode), uid, gid, size, int(st.st_mtime), kind,
                            linkname, *dev)
        if fast is not None:
            self._put(fast)
            return
        ti = tarfile.TarInfo(name)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = uid, gid
        ti.mtime = st.st_mtime
        ti.type = kind
        ti.size = size
        ti.linkname = linkname
        if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self._put(ti.tobuf(_FORMAT, "utf-8", "surrogateescape"))

    def add_entry(self, dirfd: int, name: str, arcname: str) -> int | None:
        """Write the entry ``name`` of directory ``dirfd``; returns an fd of it when it is a directory
        (the caller walks it and closes it), else None."""
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return None  # removed meanwhile
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            except (FileNotFoundError, NotADirectoryError, OSError):
                return None
            self._header(arcname.rstrip("/") + "/", os.fstat(fd), tarfile.DIRTYPE)
            return fd
        if stat.S_ISREG(mode):
            self._add_file(dirfd, name, arcname, st)
        elif stat.S_ISLNK(mode):
            try:
                target = os.readlink(name, dir_fd=dirfd)
            except OSError:
                return None
            self._header(arcname, st, tarfile.SYMTYPE, linkname=target)
        elif stat.S_ISFIFO(mode):
            self._header(arcname, st, tarfile.FIFOTYPE)
        elif stat.S_ISCHR(mode):
            self._header(arcname, st, tarfile.CHRTYPE)
        elif stat.S_ISBLK(mode):
            self._header(arcname, st, tarfile.BLKTYPE)
        return None

    def _add_file(self, dirfd: int, name: str, arcname: str, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self._links:
            self._header(arcname, st, tarfile.LNKTYPE, linkname=self._links[key])
            return
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
        except OSError:
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return  # swapped for something else between the stat and the open
            if st.st_nlink > 1:
                self._links[(st.st_dev, st.st_ino)] = arcname
            size = st.st_size
            self._header(arcname, st, tarfile.REGTYPE, size=size)
            left = size
            while left > 0:
                data = os.read(fd, min(CHUNK, left))
                if not data:  # the file shrank meanwhile: pad with zeros, the header said `size`
                    data = bytes(min(CHUNK, left))
                self._put(data)
                left -= len(data)
            pad = -size % BLOCK
            if pad:
                self._put(bytes(pad))
        finally:
            os.close(fd)

    def add_tree(self, dirfd: int, name: str, arcname: str) -> None:
        """``name`` in ``dirfd`` and, for a directory, everything below it (sorted, iteratively)."""
        top = self.add_entry(dirfd, name, arcname)
        if top is None:
            return
        stack: list[tuple[int, str, list[str]]] = [(top, arcname.rstrip("/"), sorted(os.listdir(top), reverse=True))]
        try:
            while stack:
                fd, prefix, names = stack[-1]
                if not names:
                    os.close(fd)
                    stack.pop()
                    continue
                child = names.pop()
                arc = f"{prefix}/{child}" if prefix else child
                sub = self.add_entry(fd, child, arc)
                if sub is not None:
                    try:
                        stack.append((sub, arc, sorted(os.listdir(sub), reverse=True)))
                    except OSError:
                        os.close(sub)
        finally:
            for fd, _, _ in stack:
                os.close(fd)

    def close(self) -> None:
        self._put(bytes(2 * BLOCK))
        self.flush()
