"""Write a tar member's data to a file without filling its holes.

A GNU or PAX sparse member (``tar --sparse``) carries only its data regions
and a map of where they go; ``TarFile.extractfile`` would hand back every hole
as zeros, so a 1.9 MB tar holding a 2 GB sparse file wrote 2 GB to disk.  Here
only the data regions are written (each at its offset) and the size is set
with ``ftruncate``, which leaves holes — as Go's ``archive/tar`` does for
dockerd when it writes to a seekable file.  Chunks of a plain member that are
all zeros are skipped the same way (``cp --sparse=auto``), so a file that was
sparse before it was tarred without ``--sparse`` stays sparse too.  The bytes
read back are the same either way.

A leaf module: image unpacking, ``docker cp`` and ``ADD`` use it.
"""

from __future__ import annotations

import os
import tarfile
from typing import BinaryIO

CHUNK = 1 << 20
_ZEROS = bytes(CHUNK)


def write_member(fd: int, src: BinaryIO, member: tarfile.TarInfo, chunk: int = CHUNK) -> None:
    """Write ``member``'s data from ``src`` (``TarFile.extractfile``) to ``fd`` (opened for writing,
    empty), keeping holes.  Raises EOFError when the archive ends inside the member."""
    if member.issparse() and member.sparse:
        # the unbuffered reader under extractfile's BufferedReader: its seek only moves the
        # logical position (the buffered one asks the stream whether it can seek, and a
        # "r|" stream cannot); the map is in order, so the stream is still read forward only
        raw = getattr(src, "raw", src)
        for offset, length in member.sparse:
            if length:
                raw.seek(offset)
                _copy(fd, raw, offset, length, chunk, skip_zeros=False)
        os.ftruncate(fd, member.size)
    elif _copy(fd, src, 0, member.size, chunk, skip_zeros=True) != member.size:
        os.ftruncate(fd, member.size)  # a hole at the end (or an empty file: a no-op)


def _copy(fd: int, src: BinaryIO, pos: int, length: int, chunk: int, skip_zeros: bool) -> int:
    """Where the last byte written ends (the file's size so far)."""
    end = pos + length
    written = 0
    while pos < end:
        data = src.read(min(chunk, end - pos))
        if not data:
            raise EOFError(f"archive ends {end - pos} bytes into a file")
        # startswith compares in place (a slice of _ZEROS would copy it for every chunk)
        if not (skip_zeros and len(data) <= CHUNK and _ZEROS.startswith(data)):
            view = memoryview(data)
            at = pos
            while view:
                n = os.pwrite(fd, view, at)
                view, at = view[n:], at + n
            written = at
        pos += len(data)
    return written
