"""Unpack a layer tar of Windows files into a directory: the Windows host's layer applier.

Windows has no overlay and no POSIX metadata to restore, so a layer is its
files copied into the layer's ``diff`` directory: directories, regular files
and hard links (modification times kept).  What a Windows directory cannot
hold as the tar says — symbolic links (they need a privilege), device nodes,
FIFOs, whiteouts of a lower layer — is refused with the member's name, never
dropped silently.  The DiffID and the tar-split record come from the same
readers as on Linux (``unpack.py``), so ``docker save`` reproduces the tar.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from typing import BinaryIO

from dockyard.errors import InvalidParameter
from dockyard.image.tarsplit import Recorder
from dockyard.image import unpack
from dockyard.image.unpack import WHITEOUT_PREFIX, UnpackResult, _clean_name, _ensure_parent


def apply_tar(stream: BinaryIO, root: str, record: str | None = None) -> UnpackResult:
    """As :func:`dockyard.image.unpack.apply_tar`, for a Windows host."""
    return unpack.apply_tar(stream, root, record, _member)


def _member(tf: tarfile.TarFile, m: tarfile.TarInfo, root: str, dir_times: list[tuple[str, tarfile.TarInfo]],
            recorder: Recorder | None) -> int:
    rel = _clean_name(m.name)
    if not rel:
        return 0
    if rel.rpartition("/")[2].startswith(WHITEOUT_PREFIX):
        raise InvalidParameter(f"layer member {m.name!r}: whiteouts are not supported on Windows")
    path = _ensure_parent(root, rel)
    if m.isdir():
        os.makedirs(path, exist_ok=True)
        return 0
    if os.path.lexists(path):
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    if m.isreg():
        if m.issparse():
            raise InvalidParameter(f"layer member {m.name!r}: sparse files are not supported on Windows")
        if recorder is not None and m.size:
            recorder.payload(m.offset_data, m.size, os.path.relpath(path, root).replace(os.sep, "/"))
        src = tf.extractfile(m)
        assert src is not None
        with open(path, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.utime(path, (m.mtime, m.mtime))
        return m.size
    if m.islnk():
        target = _ensure_parent(root, _clean_name(m.linkname))
        if not os.path.isfile(target):
            raise InvalidParameter(f"invalid tar archive: hard link {m.name!r} to missing {m.linkname!r}")
        os.link(target, path)
        return 0
    kind = "symbolic links" if m.issym() else "device nodes" if (m.ischr() or m.isblk()) else \
        "FIFOs" if m.isfifo() else "this member type"
    raise InvalidParameter(f"layer member {m.name!r}: {kind} are not supported on Windows")
