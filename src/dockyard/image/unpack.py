"""Apply a layer tar stream to a directory, safely, in overlayfs form.

Reads with :mod:`tarfile` in stream mode but creates every entry itself:

* every name is resolved inside the root, following symlinks already
  extracted *in scope* (an absolute target means the root, ``..`` stops at the
  root), so ``../x``, ``/etc/x`` and "symlink, then write through it" all land
  inside the root or are refused, never outside it;
* whiteouts become overlayfs whiteouts: ``.wh.foo`` → a 0/0 character device
  ``foo``; ``.wh..wh..opq`` → the ``trusted.overlay.opaque=y`` xattr on its
  directory;
* ownership, modes, times, xattrs, hard links, symlinks, device nodes and
  fifos are kept (we run as root).

The caller unpacks into a fresh temporary directory and renames it into place
only on success, so a corrupt tar leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO
from collections.abc import Callable

from dockyard.tarerrors import tar_error
from dockyard.errors import InvalidParameter
from dockyard.securejoin import secure_join
from dockyard.sparsefile import write_member
from dockyard.image.tarsplit import Recorder

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


class HashingReader:
    """A file object that hashes (sha256) and counts every byte read through it."""

    def __init__(self, raw: BinaryIO, tap: Recorder | None = None) -> None:
        self._raw = raw
        self._tap = tap
        self.sha = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self.sha.update(data)
            self.count += len(data)
            if self._tap is not None:
                self._tap.feed(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


@dataclass
class UnpackResult:
    diff_id: str
    size: int


def _clean_name(name: str) -> str:
    """Docker's ``filepath.Clean`` of a member name, refusing escapes above the root.

    As in dockerd, an absolute name is taken relative to the layer root (where
    ``..`` stops), while a relative name climbing above it is an error.
    """
    rooted = name.startswith("/")
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                if rooted:
                    continue
                raise InvalidParameter(f"invalid tar archive: {name!r} is outside of the layer (path escape)")
            parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _ensure_parent(root: str, rel: str) -> str:
    """Create the parent directories of ``rel`` (in scope) and return the entry's host path."""
    parent_rel, _, base = rel.rpartition("/")
    parent = secure_join(root, parent_rel) if parent_rel else root
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if not os.path.isdir(parent) or os.path.islink(parent):
        raise InvalidParameter(f"invalid tar archive: parent of {rel!r} is not a directory")
    return os.path.join(parent, base)


def _apply_meta(path: str, m: tarfile.TarInfo, is_link: bool) -> None:
    os.lchown(path, m.uid, m.gid)
    if not is_link:
        os.chmod(path, stat.S_IMODE(m.mode))
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise


def _set_time(path: str, m: tarfile.TarInfo) -> None:
    t = int(m.mtime * 1_000_000_000)
    os.utime(path, ns=(t, t), follow_symlinks=False)


def apply_tar(stream: BinaryIO, root: str, record: str | None = None,
              member: MemberApplier | None = None) -> UnpackResult:
    """Unpack the (uncompressed) tar ``stream`` into the existing directory ``root``.

    Returns the DiffID (sha256 of every byte of the stream) and the unpacked size.
    With ``record``, also writes the tar-split record there (see tarsplit.py).
    Raises InvalidParameter for a corrupt or malicious archive; the caller
    removes ``root`` (and the record) then.  ``member`` applies one entry (the
    host's: ``unpack_windows`` on Windows); by default the POSIX one below.
    """
    recorder = Recorder(record) if record else None
    try:
        result = _apply(stream, root, recorder, member or _apply_member)
    except BaseException:
        if recorder is not None:
            recorder.abort()
        raise
    if recorder is not None:
        recorder.close()
    return result


def _apply(stream: BinaryIO, root: str, recorder: Recorder | None, member: MemberApplier) -> UnpackResult:
    reader = HashingReader(stream, recorder)
    first = reader.read(tarfile.BLOCKSIZE)
    if not first:
        return UnpackResult(reader.digest(), 0)  # an empty stream is an empty layer, as in Go
    size = 0
    dir_times: list[tuple[str, tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=_Prefixed(first, reader), mode="r|") as tf:
            for m in tf:
                size += member(tf, m, root, dir_times, recorder)
        reader.drain()  # the end-of-archive blocks and padding belong to the DiffID too
    except (tarfile.TarError, EOFError) as exc:
        raise tar_error(exc) from None
    for path, m in reversed(dir_times):
        _set_time(path, m)
    return UnpackResult(reader.digest(), size)


class _Prefixed:
    """Put back the block read to detect an empty stream."""

    def __init__(self, head: bytes, rest: HashingReader) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += self._rest.read(n - len(data))
            return data
        return self._rest.read(n)


# (tar, member, root, directories whose times to set last, recorder) -> bytes of file data written
MemberApplier = Callable[[tarfile.TarFile, tarfile.TarInfo, str, list[tuple[str, tarfile.TarInfo]], Recorder | None], int]


def _apply_member(tf: tarfile.TarFile, m: tarfile.TarInfo, root: str,
                  dir_times: list[tuple[str, tarfile.TarInfo]], recorder: Recorder | None = None) -> int:
    rel = _clean_name(m.name)
    if not rel:  # the root itself ("./"): take its metadata
        if m.isdir():
            _apply_meta(root, m, False)
            dir_times.append((root, m))
        return 0
    base = rel.rpartition("/")[2]
    if base.startswith(WHITEOUT_PREFIX):
        path = _ensure_parent(root, rel)
        parent = os.path.dirname(path)
        if base == WHITEOUT_OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
        elif not base.startswith(WHITEOUT_META_PREFIX):
            target = os.path.join(parent, base[len(WHITEOUT_PREFIX):])
            _remove(target)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            os.lchown(target, m.uid, m.gid)
        return 0
    path = _ensure_parent(root, rel)
    existing = None
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        pass
    if existing is not None and not (m.isdir() and stat.S_ISDIR(existing.st_mode)):
        _remove(path)
    size = 0
    if m.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(path, 0o700)
        dir_times.append((path, m))
    elif m.isreg():
        if recorder is not None and m.size and not m.issparse():
            # a sparse member's stream bytes are its data regions, not the file: they stay raw
            recorder.payload(m.offset_data, m.size, os.path.relpath(path, root))
        src = tf.extractfile(m)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            assert src is not None
            write_member(fd, src, m)  # holes stay holes
        finally:
            os.close(fd)
        size = m.size
    elif m.issym():
        os.symlink(m.linkname, path)
        size = len(os.fsencode(m.linkname))  # dockerd's layer size counts a link as lstat does
    elif m.islnk():
        target_rel = _clean_name(m.linkname)
        target = secure_join(root, target_rel, follow_last=False)
        if not os.path.lexists(target):
            raise InvalidParameter(f"invalid tar archive: hard link {m.name!r} to missing {m.linkname!r}")
        os.link(target, path, follow_symlinks=False)
        return 0  # a hard link shares the target's inode and metadata
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(path, kind | stat.S_IMODE(m.mode), os.makedev(m.devmajor, m.devminor))
    elif m.isfifo():
        os.mkfifo(path, stat.S_IMODE(m.mode))
    else:
        return 0  # unknown types are skipped, as dockerd does
    _apply_meta(path, m, m.issym())
    if not m.isdir():
        _set_time(path, m)
    return size
