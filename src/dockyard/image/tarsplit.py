"""Reproduce a layer tar byte for byte from its unpacked files (for ``docker save``).

A layer's DiffID is the sha256 of its tar stream, and an unpacked directory
cannot be re-tarred to the same bytes.  So while unpacking we record the
stream with the file payloads cut out — headers, padding and end blocks kept
raw, each payload replaced by a reference to the file it was written to —
the idea of the tar-split format Docker uses.  Exporting replays the record,
reading the payloads back from the layer's ``diff`` directory, and yields
the original bytes, hence the original DiffID.

Record format: gzip'd JSON lines, ``{"r": "<base64>"}`` (raw bytes),
``{"f": "<path in diff>", "n": size}`` (a payload), last ``{"end": total}``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from typing import IO

from dockyard.errors import DockyardError

FILENAME = "tar-split.json.gz"
_RAW_CHUNK = 1 << 16
_FILE_CHUNK = 1 << 20


class Recorder:
    """Fed every byte of the tar stream (in order) plus the payload positions."""

    def __init__(self, path: str) -> None:
        self._out: IO[bytes] = gzip.open(path, "wb", compresslevel=1)
        self.seen = 0
        self._pending = bytearray()
        self._pending_start = 0
        self._skip_until = 0

    def feed(self, data: bytes) -> None:
        start = self.seen
        self.seen += len(data)
        if self.seen <= self._skip_until:
            return
        if start < self._skip_until:
            data = data[self._skip_until - start:]
            start = self._skip_until
        self._pending += data  # raw bytes are written out at the next payload or at the end

    def _raw(self, data: bytes) -> None:
        for i in range(0, len(data), _RAW_CHUNK):
            self._line({"r": base64.b64encode(data[i:i + _RAW_CHUNK]).decode()})

    def _line(self, obj: dict[str, object]) -> None:
        self._out.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def payload(self, offset: int, size: int, relpath: str) -> None:
        """The member whose data starts at ``offset`` (``size`` bytes) was written to ``relpath``."""
        upto = offset - self._pending_start
        self._raw(bytes(self._pending[:upto]))
        del self._pending[:upto]
        self._line({"f": relpath, "n": size})
        have = min(size, len(self._pending))
        del self._pending[:have]
        self._pending_start = offset + size
        if have < size:
            self._skip_until = offset + size

    def close(self) -> None:
        self._raw(bytes(self._pending))
        self._pending.clear()
        self._line({"end": self.seen})
        self._out.close()

    def abort(self) -> None:
        self._out.close()


def _records(path: str) -> Iterator[dict[str, object]]:
    with gzip.open(path, "rb") as f:
        for line in f:
            yield json.loads(line)


def tar_size(path: str) -> int:
    """The size of the reproduced tar (from the record's last line)."""
    size = -1
    for rec in _records(path):
        if "end" in rec:
            size = int(rec["end"])  # type: ignore[call-overload]
    if size < 0:
        raise DockyardError(f"layer record {path} is incomplete")
    return size


def replay(record: str, diff_dir: str, diff_id: str | None = None) -> Iterator[bytes]:
    """The original layer tar, in chunks of at most ``_FILE_CHUNK`` bytes; checks the DiffID at the end."""
    sha = hashlib.sha256()
    for rec in _records(record):
        if "r" in rec:
            chunk = base64.b64decode(rec["r"])  # type: ignore[arg-type]
            sha.update(chunk)
            yield chunk
        elif "f" in rec:
            remaining = int(rec["n"])  # type: ignore[call-overload]
            if not remaining:
                continue
            with open(os.path.join(diff_dir, str(rec["f"])), "rb") as f:
                while remaining:
                    chunk = f.read(min(remaining, _FILE_CHUNK))
                    if not chunk:
                        raise DockyardError(f"layer file {rec['f']} changed since it was unpacked")
                    remaining -= len(chunk)
                    sha.update(chunk)
                    yield chunk
    if diff_id is not None and "sha256:" + sha.hexdigest() != diff_id:
        raise DockyardError(f"layer {diff_id} cannot be reproduced: its files changed since it was unpacked")


class ReplayReader:
    """``replay`` as a file object (for tarfile.addfile).

    Reads cost what they return: the buffer holds at most one chunk plus the
    rest of the previous one (a 50 MB file once cost a copy of the whole
    remainder per 16 KiB read, so ``docker save`` of one such layer took
    ~55 s instead of well under a second).
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            data = self._buf[self._pos:] + b"".join(self._chunks)
            self._buf, self._pos = b"", 0
            return data
        while len(self._buf) - self._pos < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            rest = self._buf[self._pos:]
            self._buf, self._pos = (rest + chunk if rest else chunk), 0
        data = self._buf[self._pos:self._pos + n]
        self._pos += len(data)
        return data
