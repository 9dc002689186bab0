"""``docker commit``: a container's RW layer as a layer tar, and the child image's config.

The upper directory of an overlay holds the container's changes in overlayfs
form; a layer tar holds them in the image form (AUFS whiteouts), so:

* a 0/0 character device ``foo`` (a deleted file) → an empty ``.wh.foo``;
* a directory with ``trusted.overlay.opaque=y`` → the directory plus
  ``.wh..wh..opq`` inside it;
* ``trusted.overlay.*`` xattrs (overlay's own bookkeeping) are dropped.

The files Docker keeps in a container's init layer (``/etc/hosts``,
``/etc/hostname``, ``/etc/resolv.conf``, ``/.dockerenv``) are left out, as
Docker leaves them out of a commit.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import posixpath
import stat
import tarfile
from typing import IO, Any

from dockyard.image.unpack import OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX

INIT_LAYER_FILES = {"etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"}


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            out[f"SCHILY.xattr.{name}"] = os.getxattr(path, name, follow_symlinks=False).decode(
                "utf-8", "surrogateescape")
        except OSError:
            continue
    return out


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class TarSink:
    """Where a layer tar is written when its files stay where they are: counted, hashed, recorded."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.sha = hashlib.sha256()
        self.count = 0

    def tell(self) -> int:
        return self.count

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.recorder.feed(data)
        self.count += len(data)
        return len(data)


def drop_init_layer_files(upper: str, lowers: list[str] | None = None) -> None:
    """Remove what ``write_diff_tar`` leaves out, before ``upper`` becomes a layer directory."""
    for rel in INIT_LAYER_FILES:
        path = os.path.join(upper, rel)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
    for rel in copied_up_only(upper, lowers or []):
        os.rmdir(os.path.join(upper, rel))


def copied_up_only(upper: str, lowers: list[str]) -> list[str]:
    """The parents of the init-layer files that overlay only copied up for them (relative paths).

    dockerd keeps /etc/hosts etc. in an init layer, so a RUN (or a container
    committed) that changes nothing has an empty diff: no layer at all. Here
    those files are made in the container's upper dir, which copies /etc up:
    an /etc that holds nothing else, is not opaque and has the mode, owner and
    xattrs of the image's (``lowers``: its layer dirs, top first) is that
    copy-up only.
    """
    out = []
    for rel in sorted({posixpath.dirname(r) for r in INIT_LAYER_FILES} - {""}):
        path = os.path.join(upper, rel)
        if not os.path.isdir(path) or os.path.islink(path) or _is_opaque(path):
            continue
        if any(f"{rel}/{name}" not in INIT_LAYER_FILES for name in os.listdir(path)):
            continue
        st = os.lstat(path)
        for lower in lowers:
            below = os.path.join(lower, rel)
            if os.path.lexists(below):
                lst = os.lstat(below)
                if (lst.st_mode, lst.st_uid, lst.st_gid) == (st.st_mode, st.st_uid, st.st_gid) and \
                        _xattrs(below) == _xattrs(path):
                    out.append(rel)
                break
    return out


def write_diff_tar(upper: str, out: IO[bytes], sink: TarSink | None = None, keep_init_files: bool = False,
                   lowers: list[str] | None = None) -> int:
    """Write the changes in ``upper`` as a layer tar to ``out``; returns the number of entries.

    With ``sink`` (``out`` is that sink) each file's payload is marked in the
    sink's tar-split recorder, so the directory itself can become the layer.
    ``keep_init_files``: a layer no container ran on (a build's COPY/ADD/WORKDIR)
    keeps /etc/hosts etc., as dockerd's does (only a container has an init layer);
    otherwise the directories overlay copied up for them only are left out too
    (``copied_up_only`` against ``lowers``).
    """
    skip = set() if keep_init_files else INIT_LAYER_FILES | set(copied_up_only(upper, lowers or []))
    count = 0
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(upper):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, upper)
            rel_dir = "" if rel_dir == "." else rel_dir
            if rel_dir and _is_opaque(dirpath):
                ti = tarfile.TarInfo(f"{rel_dir}/{WHITEOUT_OPAQUE}")
                tf.addfile(ti)
                count += 1
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if rel in skip:
                    continue
                st = os.lstat(path)
                if _is_whiteout(st):
                    parent = f"{rel_dir}/" if rel_dir else ""
                    ti = tarfile.TarInfo(f"{parent}{WHITEOUT_PREFIX}{name}")
                    ti.mtime = int(st.st_mtime)
                    tf.addfile(ti)
                    count += 1
                    continue
                ti = tf.gettarinfo(path, arcname=rel)
                ti.uname = ti.gname = ""
                ti.pax_headers = _xattrs(path)
                key = (st.st_dev, st.st_ino)
                if ti.isreg() and st.st_nlink > 1:
                    if key in links:
                        ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, links[key], 0
                        tf.addfile(ti)
                        count += 1
                        continue
                    links[key] = rel
                if ti.isreg() and sink is not None:
                    _add_recorded(tf, ti, path, rel, sink)
                elif ti.isreg():
                    with open(path, "rb") as f:
                        tf.addfile(ti, f)
                else:
                    tf.addfile(ti)
                count += 1
    return count


def _add_recorded(tf: tarfile.TarFile, ti: tarfile.TarInfo, path: str, rel: str, sink: TarSink) -> None:
    """A regular file's header and payload, the payload marked in the recorder as coming from ``rel``."""
    header = ti.tobuf(tf.format, tf.encoding, tf.errors)
    sink.write(header)
    tf.offset += len(header)
    if ti.size:
        sink.recorder.payload(sink.count, ti.size, rel)
    left = ti.size
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                raise OSError(f"{path} shrank while it was committed")
            sink.write(chunk)
            left -= len(chunk)
    pad = (-ti.size) % tarfile.BLOCKSIZE
    if pad:
        sink.write(b"\0" * pad)
    tf.offset += ti.size + pad


def child_config(parent: dict[str, Any] | None, container_config: dict[str, Any], diff_id: str | None,
                 *, container_id: str, comment: str, author: str, created: str, docker_version: str,
                 host_os: str, host_arch: str, created_by: str | None = None) -> bytes:
    """The config JSON of the committed image (``diff_id`` None: the commit changed nothing)."""
    base = copy.deepcopy(parent) if parent else {}
    diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
    history = list(base.get("history") or [])
    if diff_id is not None:
        diff_ids.append(diff_id)
    if created_by is None:
        created_by = " ".join(container_config.get("Cmd") or [])
    entry: dict[str, Any] = {"created": created, "created_by": created_by}
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    if diff_id is None:
        entry["empty_layer"] = True
    history.append(entry)
    cfg: dict[str, Any] = {
        "architecture": base.get("architecture") or host_arch,
        "config": container_config,
        "container": container_id,
        "created": created,
        "docker_version": docker_version,
        "history": history,
        "os": base.get("os") or host_os,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if author:
        cfg["author"] = author
    if comment:
        cfg["comment"] = comment
    if base.get("variant"):
        cfg["variant"] = base["variant"]
    return json.dumps(cfg, separators=(",", ":")).encode()
