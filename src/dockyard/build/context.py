"""The build context: the client's tar stream unpacked to a private directory.

The stream (plain tar, or gzip/bzip2/xz compressed) is read in chunks and
written file by file, never held whole in memory.  While each file is written
its content is hashed, so COPY/ADD can key the cache on content (mode, type and
link target count, the mtime does not — Docker's rule) without reading the
context twice.

Safety: entry names are cleaned and may not climb out (``../``); no entry is
written through a symlink the stream itself made; hard links must point at a
regular file of the context; device nodes are skipped.  A body that is not an
archive at all is taken as the Dockerfile itself (``docker build - <
Dockerfile`` from clients that send it raw).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO

from dockyard import errors
from dockyard.build.dockerignore import Matcher, parse as parse_ignore
from dockyard.image.archive import _read_exact as read_exact, detect_compression

_CHUNK = 1 << 20


class _Prefixed:
    """A reader that first returns ``head`` then the rest of ``raw``.

    With ``pad`` an uncompressed tar that stops right after a member's data
    (no padding, no zero blocks: what the docker CLI sends with ``-f`` outside
    the context, and Go's tar reader accepts) is completed with zeros.
    """

    def __init__(self, head: bytes, raw: BinaryIO, pad: bool = False) -> None:
        self.head = head
        self.raw = raw
        self.pad = pad
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._read(n)
        if not data and self.pad:
            self.pad = False
            data = b"\0" * ((-self.count) % 512 + 1024)
        self.count += len(data)
        return data

    def _read(self, n: int) -> bytes:
        if self.head:
            if n < 0 or n >= len(self.head):
                data, self.head = self.head, b""
                if n < 0:
                    return data + self.raw.read()
                return data + (self.raw.read(n - len(data)) if n > len(data) else b"")
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.raw.read(n)


def _looks_like_archive(head: bytes) -> bool:
    if detect_compression(head) != "none":
        return True
    if len(head) >= 512:
        if head[257:262] == b"ustar":
            return True
        try:
            return tarfile.nti(head[148:156]) in tarfile.calc_chksums(head[:512])
        except (tarfile.InvalidHeaderError, ValueError):
            return False
    return False


def clean_name(name: str) -> str:
    """A tar entry name as a context-relative path; raises on ``../`` escapes."""
    norm = posixpath.normpath(name).lstrip("/")
    if norm == ".." or norm.startswith("../"):
        raise errors.InvalidParameter(f"invalid build context: entry {name!r} points outside the context")
    return "" if norm == "." else norm


@dataclass
class Context:
    """An unpacked context: its directory and a content hash per path."""

    root: str
    hashes: dict[str, str] = field(default_factory=dict)  # rel path -> hash
    dockerfile_name: str = "Dockerfile"
    ignored_specials: list[str] = field(default_factory=list)  # Dockerfile/.dockerignore, if ignored

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.root + "-extra", ignore_errors=True)

    def extra_dir(self) -> str:
        """A private directory beside the context for files a step makes (heredocs, downloads)."""
        os.makedirs(self.root + "-extra", mode=0o700, exist_ok=True)
        return self.root + "-extra"

    def hash_tree(self, rel: str) -> str:
        """The hash of a file, or of a directory with everything below it."""
        if rel in ("", "."):
            items = sorted(self.hashes.items())
        else:
            own = self.hashes.get(rel)
            prefix = rel + "/"
            items = ([("", own)] if own else []) + sorted(
                (k[len(prefix):], v) for k, v in self.hashes.items() if k.startswith(prefix))
        h = hashlib.sha256()
        for k, v in items:
            h.update(f"{k}\0{v}\n".encode())
        return h.hexdigest()

    def apply_dockerignore(self) -> None:
        """Remove what ``.dockerignore`` leaves out (clients already do; this covers raw uploads)."""
        path = os.path.join(self.root, ".dockerignore")
        if not os.path.isfile(path) or os.path.islink(path):
            return
        with open(path, encoding="utf-8", errors="replace") as f:
            patterns = parse_ignore(f.read())
        matcher = Matcher(patterns, always=(self.dockerfile_name, ".dockerignore"))
        plain = Matcher(patterns)
        self.ignored_specials = [p for p in (clean_name(self.dockerfile_name), ".dockerignore")
                                 if p in self.hashes and plain.excluded(p)]
        for rel in sorted(self.hashes, key=lambda p: p.count("/"), reverse=True):
            if matcher.excluded(rel):
                full = os.path.join(self.root, rel)
                del self.hashes[rel]
                if os.path.isdir(full) and not os.path.islink(full):
                    if not os.listdir(full):
                        os.rmdir(full)
                else:
                    os.unlink(full)


def drop_ignored_specials(ctx: Context) -> None:
    """After the Dockerfile was read: remove it and ``.dockerignore`` if ``.dockerignore`` names them.

    The clients always send both (the daemon needs them); dockerd then takes
    them out of the context, so ``COPY . /x`` does not copy them.
    """
    for rel in ctx.ignored_specials:
        ctx.hashes.pop(rel, None)
        try:
            os.unlink(os.path.join(ctx.root, rel))
        except FileNotFoundError:
            pass


def unpack(raw: BinaryIO, dest: str, dockerfile_name: str = "Dockerfile") -> Context:
    """Unpack the context stream into the new directory ``dest``."""
    os.makedirs(dest, mode=0o700)
    ctx = Context(dest, dockerfile_name=dockerfile_name)
    try:
        head = read_exact(raw, 512)
        if not _looks_like_archive(head):
            body = head + raw.read()
            with open(os.path.join(dest, "Dockerfile"), "wb") as f:
                f.write(body)
            ctx.hashes["Dockerfile"] = hashlib.sha256(b"f:420:\0" + body).hexdigest()
            ctx.dockerfile_name = "Dockerfile"
            return ctx
        compressed = detect_compression(head) != "none"
        _extract(tarfile.open(fileobj=_Prefixed(head, raw, pad=not compressed), mode="r|*"), ctx)  # type: ignore[arg-type]
        ctx.apply_dockerignore()
        return ctx
    except tarfile.TarError as exc:
        ctx.remove()
        raise errors.InvalidParameter(f"failed to read the build context: {exc}") from None
    except BaseException:
        ctx.remove()
        raise


def _extract(tf: tarfile.TarFile, ctx: Context) -> None:
    symlinks: set[str] = set()
    regular: set[str] = set()
    dir_modes: list[tuple[str, int, float]] = []
    for m in tf:
        rel = clean_name(m.name)
        if not rel:
            continue
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in symlinks:
                raise errors.InvalidParameter(f"invalid build context: {m.name!r} lies below a symlink")
        full = os.path.join(ctx.root, rel)
        parent = os.path.dirname(full)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o755, exist_ok=True)
        if os.path.lexists(full) and not (m.isdir() and os.path.isdir(full) and rel not in symlinks):
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
            symlinks.discard(rel)
            regular.discard(rel)
        mode = m.mode & 0o7777
        if m.isdir():
            os.makedirs(full, mode=0o755, exist_ok=True)
            dir_modes.append((full, mode, m.mtime))
            ctx.hashes[rel] = hashlib.sha256(f"d:{mode}".encode()).hexdigest()
        elif m.issym():
            os.symlink(m.linkname, full)
            symlinks.add(rel)
            ctx.hashes[rel] = hashlib.sha256(f"l:{m.linkname}".encode()).hexdigest()
        elif m.islnk():
            target = clean_name(m.linkname)
            if target not in regular:
                raise errors.InvalidParameter(f"invalid build context: hard link {m.name!r} to {m.linkname!r}")
            os.link(os.path.join(ctx.root, target), full)
            regular.add(rel)
            ctx.hashes[rel] = ctx.hashes[target]
        elif m.isreg():
            h = hashlib.sha256(f"f:{mode}:\0".encode())
            src = tf.extractfile(m)
            got = 0
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                while True:
                    chunk = src.read(_CHUNK) if src is not None else b""
                    if not chunk:
                        break
                    h.update(chunk)
                    got += len(chunk)
                    _write_all(fd, chunk)
                if got != m.size:
                    raise errors.InvalidParameter(f"failed to read the build context: {m.name} is truncated")
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            os.utime(full, (m.mtime, m.mtime), follow_symlinks=False)
            regular.add(rel)
            ctx.hashes[rel] = h.hexdigest()
        # device nodes and FIFOs are not copied into images by a build: skipped
    for full, mode, mtime in reversed(dir_modes):
        os.chmod(full, mode)
        os.utime(full, (mtime, mtime))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]

