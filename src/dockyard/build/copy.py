"""COPY and ADD: which files, where they land, and the copy itself.

Sources are looked up in a root (the unpacked context, or the rootfs of a
stage or image for ``--from``) with symlinks resolved inside that root; a
source whose symlinks lead outside the context is refused, as is ``../x``.
Destinations are resolved inside the step's rootfs with ``secure_join``, so
nothing an image's symlinks point at outside the rootfs is written.  ADD of
a local tar archive unpacks it; an entry climbing out with ``../`` fails the
step.  Docker's rules: a directory source copies its contents; several
sources (or a wildcard) need a destination ending in ``/``; a file copied to
an existing directory, or to a path ending in ``/``, keeps its name.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shutil
import stat
import tarfile
from dataclasses import dataclass

from dockyard import errors
from dockyard.image.archive import detect_compression
from dockyard.securejoin import secure_join
from dockyard.sparsefile import write_member

_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Source:
    rel: str  # path in the source root, as matched
    path: str  # resolved path on the host
    remote: bool = False  # downloaded by ADD: never unpacked


def _go_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match``: wildcards never cross ``/``."""
    pp, np_ = pattern.split("/"), name.split("/")
    return len(pp) == len(np_) and all(fnmatch.fnmatchcase(n, p) for p, n in zip(pp, np_))


def resolve_sources(root: str, srcs: list[str], cmd: str, *, from_context: bool,
                    all_paths: list[str] | None = None) -> list[Source]:
    """The sources named by COPY/ADD arguments, in ``root``."""
    out: list[Source] = []
    real_root = os.path.realpath(root)
    for raw in srcs:
        rel = posixpath.normpath(raw).lstrip("/") if raw else "."
        if rel == ".." or rel.startswith("../"):
            raise errors.InvalidParameter(f"{cmd} failed: forbidden path outside the build context: {raw} ()")
        if _WILDCARD.search(rel):
            names = all_paths if all_paths is not None else _walk(root)
            matched = sorted(n for n in names if _go_match(rel, n))
            out.extend(Source(n, _inside(root, real_root, n, raw, cmd, from_context)) for n in matched)
            continue
        path = _inside(root, real_root, rel, raw, cmd, from_context)
        if not os.path.lexists(path):
            where = "build context or excluded by .dockerignore" if from_context else "source image"
            if from_context:
                raise errors.NotFound(f"{cmd} failed: file not found in {where}: stat {raw}: file does not exist")
            raise errors.NotFound(f"{cmd} failed: stat {raw}: file does not exist")
        out.append(Source(rel, path))
    if not out:
        raise errors.InvalidParameter(f"{cmd} failed: no source files were specified")
    return out


def _inside(root: str, real_root: str, rel: str, raw: str, cmd: str, from_context: bool) -> str:
    """``rel`` in ``root``, symlinks followed within it; an escaping symlink of the context is refused."""
    if rel in ("", "."):
        return root
    if from_context:
        real = os.path.realpath(os.path.join(root, rel))
        if not (real == real_root or real.startswith(real_root + "/")):
            raise errors.InvalidParameter(
                f"{cmd} failed: forbidden path outside the build context: {raw} ({real})")
    return secure_join(root, rel)


def _walk(root: str) -> list[str]:
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for n in dirnames + filenames:
            names.append(n if rel == "." else f"{rel}/{n}")
    return names


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def lookup_owner(rootfs: str, spec: str) -> Owner:
    """``--chown=user:group`` with names looked up in the rootfs's /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")

    def from_file(name: str, fname: str, field: int) -> int:
        if name.isdigit():
            return int(name)
        try:
            with open(secure_join(rootfs, f"/etc/{fname}"), encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split(":")
                    if len(parts) > field and parts[0] == name:
                        return int(parts[field])
        except OSError:
            pass
        kind = "user" if fname == "passwd" else "group"
        raise errors.InvalidParameter(f"unable to convert uid/gid chown string to host mapping: "
                                      f"can't find uid for {kind} {name}: no such {kind}: {name}"
                                      if kind == "user" else
                                      f"unable to convert uid/gid chown string to host mapping: "
                                      f"can't find gid for group {name}: no such group: {name}")

    uid = from_file(user, "passwd", 2) if user else 0
    if group:
        gid = from_file(group, "group", 2)
    elif user and not user.isdigit():
        gid = from_file(user, "passwd", 3)
    else:
        gid = uid
    return Owner(uid, gid)


def parse_chmod(text: str | None) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"[0-7]{3,4}", text):
        raise errors.InvalidParameter(f"invalid chmod parameter: {text!r}: only octal modes are supported")
    return int(text, 8)


class Copier:
    """Copies sources into one rootfs (the mounted merged dir of the step's layer)."""

    def __init__(self, rootfs: str, owner: Owner | None, chmod: int | None) -> None:
        self.rootfs = rootfs
        self.owner = owner or Owner(0, 0)
        self.chmod = chmod

    def _finish(self, path: str, st: os.stat_result) -> None:
        os.lchown(path, self.owner.uid, self.owner.gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, self.chmod if self.chmod is not None else _mode_after_chown(st.st_mode))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def mkdirs(self, dest: str, owned: bool = True) -> str:
        """Create the directory ``dest`` (rootfs-absolute) and its parents; returns its host path.

        New directories are 0755, owned by the ``--chown`` owner when ``owned``
        (a file's parents, as dockerd), else by root (a directory's parents, an
        archive's destination). Something not a directory in the way is an error,
        as dockerd's MkdirAll: it is never replaced.
        """
        path = secure_join(self.rootfs, dest)
        if os.path.isdir(path):
            return path
        missing = []
        cur = dest.rstrip("/") or "/"
        while cur != "/" and not os.path.isdir(secure_join(self.rootfs, cur)):
            missing.append(cur)
            cur = posixpath.dirname(cur)
        for d in reversed(missing):
            p = secure_join(self.rootfs, d)
            if os.path.lexists(p):
                raise errors.InvalidParameter(
                    f"failed to copy files: failed to create new directory: mkdir {d}: not a directory")
            os.mkdir(p, 0o755)
            owner = self.owner if owned else Owner(0, 0)
            os.lchown(p, owner.uid, owner.gid)
        return path

    def _replace(self, target: str) -> None:
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.unlink(target)

    def copy_file(self, src: str, target: str, links: dict[tuple[int, int], str] | None = None) -> None:
        """One file, symlink or (with ``links``, a directory's copy) hard link to a file copied before."""
        st = os.lstat(src)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        if links is not None and st.st_nlink > 1 and stat.S_ISREG(st.st_mode):
            first = links.setdefault((st.st_dev, st.st_ino), target)
            if first != target:  # dockerd copies a directory as a tar: hard links stay links
                os.link(first, target)
                return
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), target)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, target, follow_symlinks=False)
        else:
            return  # sockets, devices: not copied
        self._finish(target, st)

    def copy_tree(self, src: str, dest_dir: str) -> None:
        """The contents of the directory ``src`` into ``dest_dir`` (rootfs-absolute).

        dockerd copies what is *in* ``src``: a new ``dest_dir`` is 0755 and gets
        the owner (its parents root's), an existing one keeps its mode and owner.
        """
        top = secure_join(self.rootfs, dest_dir)
        if not os.path.isdir(top):
            self.mkdirs(posixpath.dirname(dest_dir.rstrip("/")) or "/", owned=False)
            top = self.mkdirs(dest_dir)
        links: dict[tuple[int, int], str] = {}
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            here = top if rel == "." else os.path.join(top, rel)
            for name in sorted(dirnames):
                s = os.path.join(dirpath, name)
                t = os.path.join(here, name)
                if os.path.islink(s):
                    self.copy_file(s, t)
                    continue
                if not os.path.isdir(t) or os.path.islink(t):
                    self._replace(t)
                    os.mkdir(t, 0o755)
                self._finish(t, os.lstat(s))
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            for name in filenames:
                self.copy_file(os.path.join(dirpath, name), os.path.join(here, name), links)

    def first_non_dir(self, path: str) -> str | None:
        """The first of ``path`` and its parents that is there but is not a directory."""
        cur = ""
        for part in [p for p in path.split("/") if p and p != "."]:
            cur += "/" + part
            host = secure_join(self.rootfs, cur)
            if not os.path.lexists(host):
                return None
            if not os.path.isdir(host):
                return cur
        return None

    def copy(self, sources: list[Source], dest: str, cmd: str, *, add: bool = False) -> None:
        """Copy ``sources`` to ``dest`` (rootfs-absolute; a trailing ``/`` marks a directory)."""
        is_dir_dest = dest.endswith("/") or dest.endswith("/.")
        if len(sources) > 1 and not is_dir_dest:
            raise errors.InvalidParameter(f"When using {cmd} with more than one source file, "
                                          "the destination must be a directory and end with a /")
        bad = self.first_non_dir(dest)
        if bad is not None and sources:  # dockerd's words (with its host path where we give the image's)
            whole = posixpath.normpath(dest)
            if bad != whole:
                raise errors.InvalidParameter(f"failed to copy files: lstat {whole}: not a directory")
            if os.path.isdir(sources[0].path):
                raise errors.InvalidParameter(
                    f"failed to copy files: failed to copy directory: mkdir {bad}: not a directory")
        for src in sources:
            if os.path.isdir(src.path):
                self.copy_tree(src.path, dest)
                continue
            if add and not src.remote and is_archive(src.path):
                extract_archive(src.path, self.mkdirs(dest, owned=False), self.rootfs)
                continue
            dest_host = secure_join(self.rootfs, dest)
            if is_dir_dest or os.path.isdir(dest_host):
                target = os.path.join(self.mkdirs(dest), posixpath.basename(src.rel) or "file")
            else:
                parent = posixpath.dirname(dest.rstrip("/")) or "/"
                target = os.path.join(self.mkdirs(parent), posixpath.basename(dest.rstrip("/")))
            self.copy_file(src.path, target)


def _mode_after_chown(mode: int) -> int:
    """A copied file's mode once dockerd has chowned it: the kernel drops set-user-ID (and
    set-group-ID with group execute) of a file whose owner is set, so COPY never keeps them."""
    bits = stat.S_IMODE(mode)
    if stat.S_ISDIR(mode):
        return bits
    bits &= ~stat.S_ISUID
    if bits & stat.S_IXGRP:
        bits &= ~stat.S_ISGID
    return bits


def is_archive(path: str) -> bool:
    """ADD unpacks a local file when it is a tar archive, compressed or not (by content, as Docker)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if detect_compression(head) not in ("none", "zstd"):
        return True
    return len(head) == 512 and head[257:262] == b"ustar"


def extract_archive(path: str, dest: str, rootfs: str) -> None:
    """Unpack a tar into ``dest`` (a host dir inside ``rootfs``); ``../`` entries fail the step."""
    rel_dest = "/" + os.path.relpath(dest, rootfs).lstrip(".")
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in tf:
                name = posixpath.normpath(m.name).lstrip("/")
                if name == ".." or name.startswith("../"):
                    raise errors.InvalidParameter(
                        f"ADD failed: archive entry {m.name!r} points outside the destination")
                if name == ".":
                    continue
                target = secure_join(rootfs, posixpath.join(rel_dest, name), follow_last=False)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if m.isdir():
                    if not os.path.isdir(target):
                        if os.path.lexists(target):
                            os.unlink(target)
                        os.mkdir(target, 0o755)
                elif m.issym():
                    if os.path.lexists(target):
                        os.unlink(target)
                    os.symlink(m.linkname, target)
                elif m.islnk():
                    link = posixpath.normpath(m.linkname).lstrip("/")
                    if link == ".." or link.startswith("../"):
                        raise errors.InvalidParameter(f"ADD failed: archive link {m.name!r} points outside")
                    if os.path.lexists(target):
                        os.unlink(target)
                    os.link(secure_join(rootfs, posixpath.join(rel_dest, link)), target)
                    continue
                elif m.isreg():
                    if os.path.lexists(target):
                        os.unlink(target)
                    src = tf.extractfile(m)
                    with open(target, "xb") as out:
                        write_member(out.fileno(), src, m)  # type: ignore[arg-type]  # holes stay holes
                else:
                    continue
                os.lchown(target, m.uid, m.gid)
                if not m.issym():
                    os.chmod(target, m.mode & 0o7777)
                    os.utime(target, (m.mtime, m.mtime))
    except (tarfile.TarError, EOFError) as exc:
        raise errors.InvalidParameter(f"ADD failed: {os.path.basename(path)}: {exc}") from None
