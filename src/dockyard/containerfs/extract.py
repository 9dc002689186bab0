"""Unpacking a ``docker cp`` tar into a directory of a container, from that directory's fd.

The extraction point is the root for every member: each member's parent is
opened with openat2(RESOLVE_IN_ROOT) from the extraction point's fd, and the
member itself is made with ``*at`` calls on that parent fd (``O_NOFOLLOW``,
``O_EXCL``), its owner, mode and times set through its own fd.  A name with
``..`` that climbs out is refused (moby's breakout error); an absolute name
counts from the extraction point; a symlink in the tar, or one the container
makes meanwhile, cannot lead a later member out, because the kernel resolves
it inside the extraction point.  Link targets are taken as they are (a
symlink is only a string to the container).
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from dockyard.containerfs.resolve import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2
from dockyard.errors import InvalidParameter
from dockyard.tarerrors import tar_error
from dockyard.containerfs.filewriter import SMALL, FileWriter
from dockyard.sparsefile import write_member

_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY
CHUNK = 1 << 20


def _clean(name: str) -> str:
    norm = posixpath.normpath("/" + name).lstrip("/")
    raw = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if raw == ".." or raw.startswith("../"):
        raise InvalidParameter(f'invalid tar member "{name}": it is outside of the extraction point')
    return norm or "."


class Extractor:
    """Members of a tar stream into the directory ``destfd`` (an O_PATH fd is enough)."""

    def __init__(self, destfd: int, *, no_overwrite_dir_non_dir: bool = False,
                 owner: tuple[int, int] | None = None,
                 id_map: Callable[[int, int], tuple[int, int]] | None = None, dest_path: str = "/") -> None:
        self.dest = destfd
        self.dest_path = posixpath.normpath("/" + dest_path.lstrip("/"))  # the container's path, for errors
        self.no_overwrite = no_overwrite_dir_non_dir
        self.owner = owner
        self.id_map = id_map  # userns-remap: container ids -> the host ids that stand for them
        self._dirs: list[tuple[str, tarfile.TarInfo]] = []
        self._cache: tuple[str, int] | None = None  # (directory, its fd) of the last member
        self._writer = FileWriter(self._file)

    def _parent(self, rel: str) -> int:
        """An fd of ``rel``'s parent directory, created (0755) as needed, inside the extraction point.

        ``mkdir -p`` with the extraction point as ``/``: a symlink on the way
        (even one to a directory that does not exist) is followed inside it.
        """
        parent = posixpath.dirname(rel) or "."
        try:
            return openat2(self.dest, parent, _DIR_FLAGS, 0, _RESOLVE)
        except FileNotFoundError:
            pass
        parts = [p for p in parent.split("/") if p not in ("", ".")]
        done: list[str] = []
        links = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            fd = openat2(self.dest, "/".join(done) or ".", _DIR_FLAGS, 0, _RESOLVE)
            try:
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    done.append(part)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > 40:
                        raise InvalidParameter(f"too many levels of symbolic links under {rel}")
                    target = os.readlink(part, dir_fd=fd)
                    if target.startswith("/"):
                        done = []
                    parts[:0] = [p for p in target.split("/") if p not in ("", ".")]
                elif stat.S_ISDIR(st.st_mode):
                    done.append(part)
                else:
                    raise InvalidParameter(f'cannot extract "{rel}": "{part}" is not a directory')
            finally:
                os.close(fd)
        return openat2(self.dest, "/".join(done) or ".", _DIR_FLAGS, 0, _RESOLVE)

    def _clear(self, parentfd: int, base: str, ti: tarfile.TarInfo, rel: str) -> bool:
        """Make room for the member; True when an existing directory is kept for a directory member."""
        try:
            st = os.stat(base, dir_fd=parentfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        is_dir = stat.S_ISDIR(st.st_mode)
        if self.no_overwrite and is_dir != ti.isdir():
            # dockerd's untar helper: the member's path and the extraction point's, in the container
            kinds = ("directory", "non-directory") if is_dir else ("non-directory", "directory")
            raise InvalidParameter(f'Error processing tar file(exit status 1): cannot overwrite {kinds[0]} '
                                   f'"{posixpath.join(self.dest_path, rel)}" with {kinds[1]} "{self.dest_path}"')
        if is_dir and ti.isdir():
            return True
        if is_dir:
            shutil.rmtree(base, dir_fd=parentfd)
        else:
            os.unlink(base, dir_fd=parentfd)
        return False

    def _ids(self, ti: tarfile.TarInfo) -> tuple[int, int]:
        ids = self.owner if self.owner is not None else (ti.uid, ti.gid)
        return self.id_map(*ids) if self.id_map is not None else ids

    def member(self, tf: Any, ti: tarfile.TarInfo) -> None:
        rel = _clean(ti.name)
        if rel == ".":
            return  # the extraction point itself keeps its owner and mode (as moby)
        small = ti.isreg() and not ti.issparse() and ti.size <= SMALL
        if not (small and self._cache is not None and self._cache[0] == (posixpath.dirname(rel) or ".")):
            self._writer.barrier()  # the tree as the members before this one left it
        parentfd = self._cached_parent(rel)
        try:
            base = posixpath.basename(rel)
            uid, gid = self._ids(ti)
            if small:  # the common case, on the writer thread: its data read here, in one piece
                src = tf.extractfile(ti)
                data = _read_all(src, ti.size) if src is not None else b""
                self._writer.submit(parentfd, io.BytesIO(data), ti, base, rel, uid, gid)
                return
            if ti.isreg():  # create first, make room only when the name is taken
                self._file(parentfd, tf.extractfile(ti), ti, base, rel, uid, gid)
                return
            kept = self._clear(parentfd, base, ti, rel)
            if ti.isdir():
                if not kept:
                    os.mkdir(base, 0o700, dir_fd=parentfd)
                fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parentfd)
                try:
                    os.fchown(fd, uid, gid)
                    os.fchmod(fd, ti.mode & 0o7777)
                finally:
                    os.close(fd)
                self._dirs.append((rel, ti))
            elif ti.issym():
                os.symlink(ti.linkname, base, dir_fd=parentfd)
                os.chown(base, uid, gid, dir_fd=parentfd, follow_symlinks=False)
                os.utime(base, (ti.mtime, ti.mtime), dir_fd=parentfd, follow_symlinks=False)
            elif ti.islnk():
                target = _clean(ti.linkname)
                srcfd = openat2(self.dest, posixpath.dirname(target) or ".", _DIR_FLAGS, 0, _RESOLVE)
                try:
                    os.link(posixpath.basename(target), base, src_dir_fd=srcfd, dst_dir_fd=parentfd,
                            follow_symlinks=False)
                finally:
                    os.close(srcfd)
            elif ti.ischr() or ti.isblk() or ti.isfifo():
                kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK if ti.isblk() else stat.S_IFIFO
                os.mknod(base, kind | 0o600, os.makedev(ti.devmajor, ti.devminor), dir_fd=parentfd)
                fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parentfd)
                try:  # through the fd's /proc link: the very node made above, never a swapped path
                    os.chown(f"/proc/self/fd/{fd}", uid, gid)
                    os.chmod(f"/proc/self/fd/{fd}", ti.mode & 0o7777)
                    os.utime(f"/proc/self/fd/{fd}", (ti.mtime, ti.mtime))
                finally:
                    os.close(fd)
        finally:
            if self._cache is None or self._cache[1] != parentfd:
                os.close(parentfd)

    def _cached_parent(self, rel: str) -> int:
        """The parent's fd, kept while members go into the same directory (a tree's files come
        together); a member at or above the kept directory's path drops it first (it may
        replace that directory)."""
        parent = posixpath.dirname(rel) or "."
        if self._cache is not None:
            kept, fd = self._cache
            if kept == rel or kept.startswith(rel + "/") or kept != parent:
                self._cache = None
                os.close(fd)
            else:
                return fd
        fd = self._parent(rel)
        if parent != rel:
            self._cache = (parent, fd)
        return fd

    def close(self) -> None:
        self._writer.close()
        if self._cache is not None:
            os.close(self._cache[1])
            self._cache = None

    def _file(self, parentfd: int, src: Any, ti: tarfile.TarInfo, base: str, rel: str, uid: int, gid: int) -> None:
        """A regular file: O_EXCL never opens what is there (nor follows a symlink in its place);
        an existing name is cleared (or refused) and the create tried once more."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(base, flags, 0o600, dir_fd=parentfd)
        except FileExistsError:
            self._clear(parentfd, base, ti, rel)
            fd = os.open(base, flags, 0o600, dir_fd=parentfd)
        try:
            if src is not None:
                write_member(fd, src, ti)  # holes stay holes
            os.fchown(fd, uid, gid)
            os.fchmod(fd, ti.mode & 0o7777)
            os.utime(fd, (ti.mtime, ti.mtime))
        finally:
            os.close(fd)

    def finish(self) -> None:
        """Directory times last (their entries changed them), deepest first."""
        self._writer.barrier()
        self.close()
        for rel, ti in sorted(self._dirs, key=lambda d: d[0].count("/"), reverse=True):
            try:
                fd = openat2(self.dest, rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, 0, _RESOLVE)
            except OSError:
                continue
            try:
                os.utime(fd, (ti.mtime, ti.mtime))
            finally:
                os.close(fd)


def _read_all(src: Any, size: int) -> bytes:
    parts = []
    while size > 0:
        got = src.read(size)
        if not got:
            raise EOFError(f"archive ends {size} bytes into a file")
        parts.append(got)
        size -= len(got)
    return b"".join(parts)


class _Prefixed:
    """``read(n)`` over bytes already read, then the stream."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._stream = stream
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        got = self._read(n)
        self._pos += len(got)
        return got

    def _read(self, n: int) -> bytes:
        if self._prefix:
            if n < 0 or n >= len(self._prefix):
                head, self._prefix = self._prefix, b""
                rest = self._stream.read(n - len(head) if n >= 0 else -1) if n != len(head) else b""
                return head + rest
            head, self._prefix = self._prefix[:n], self._prefix[n:]
            return head
        return self._stream.read(n)


class PlainTar:
    """An uncompressed tar read straight from the stream: tarfile's header parsing (ustar, PAX,
    GNU long names), but member data read in large pieces without tarfile's stream buffer,
    which copies what it holds on every read."""

    def __init__(self, stream: Any) -> None:
        # the attributes TarInfo.fromtarfile uses
        self.fileobj = stream
        self.encoding = "utf-8"
        self.errors = "surrogateescape"
        self.pax_headers: dict[str, str] = {}
        self.offset = 0
        self._left = 0  # data (and padding) of the current member not read yet

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        while True:
            self._skip()
            try:
                ti = tarfile.TarInfo.fromtarfile(self)  # type: ignore[arg-type]
            except tarfile.EOFHeaderError:
                return
            except tarfile.HeaderError as exc:
                if self.offset == 0:
                    raise tarfile.ReadError(str(exc)) from None
                return
            # everything up to the next header (tarfile computed it: data, padding, a sparse
            # member's stored regions); the member's own bytes are its regions for a sparse one
            self._left = max(0, self.offset - self.fileobj.tell())
            self._data = sum(n for _, n in ti.sparse) if ti.issparse() and ti.sparse else \
                ti.size if ti.isreg() else 0
            yield ti

    def _skip(self) -> None:
        while self._left:
            got = self.fileobj.read(min(self._left, CHUNK))
            if not got:
                raise tarfile.ReadError("unexpected end of data")
            self._left -= len(got)

    def extractfile(self, ti: tarfile.TarInfo) -> "PlainTar":
        return self

    def seek(self, pos: int, whence: int = 0) -> int:
        """A sparse member's regions are stored one after the other in map order: reading on is
        reading the region ``write_member`` seeks to."""
        return pos

    def read(self, n: int) -> bytes:
        """Data of the current member (``extractfile`` returns the reader itself)."""
        n = min(n, self._data)
        if n <= 0:
            return b""
        got = self.fileobj.read(n)
        if not got:
            raise tarfile.ReadError("unexpected end of data")
        self._data -= len(got)
        self._left -= len(got)
        return got


_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def extract(stream: IO[bytes], destfd: int, *, no_overwrite_dir_non_dir: bool = False,
            owner: tuple[int, int] | None = None,
            id_map: Callable[[int, int], tuple[int, int]] | None = None, dest_path: str = "/") -> int:
    """Unpack a (possibly compressed) tar stream into ``destfd``; returns the number of members."""
    ex = Extractor(destfd, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, owner=owner, id_map=id_map,
                   dest_path=dest_path)
    count = 0
    head = stream.read(tarfile.BLOCKSIZE)
    source = _Prefixed(head, stream)
    try:
        if head.startswith(_COMPRESSED):
            with tarfile.open(fileobj=source, mode="r|*", bufsize=CHUNK) as tf:  # type: ignore[call-overload]
                for ti in tf:
                    ex.member(tf, ti)
                    count += 1
        else:
            plain = PlainTar(source)
            for ti in plain:
                ex.member(plain, ti)
                count += 1
        ex.finish()
    except (tarfile.TarError, EOFError) as exc:
        raise tar_error(exc) from None
    finally:
        ex.close()  # the writer thread stopped, whatever happened
    return count
