"""tarsplit replay: a layer's big file is streamed in bounded chunks and read in linear time."""

from __future__ import annotations

import io
import os
import tarfile
import time

from dockyard.image import tarsplit
from dockyard.image.unpack import apply_tar


def test_reader_reads_a_large_single_chunk_in_linear_time():
    big = os.urandom(48 << 20)
    reader = tarsplit.ReplayReader(iter([b"head", big, b"tail"]))
    start = time.monotonic()
    out = bytearray()
    while True:
        data = reader.read(16 * 1024)  # tarfile's copy size
        if not data:
            break
        out += data
    assert time.monotonic() - start < 5  # the quadratic reader took ~50 s here
    assert bytes(out) == b"head" + big + b"tail"
    assert tarsplit.ReplayReader(iter([b"ab", b"cd"])).read() == b"abcd"


def test_replay_streams_a_big_file_in_chunks_and_reproduces_the_tar(tmp_path):
    payload = os.urandom(3 * (1 << 20) + 17)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("big.bin")
        ti.size = len(payload)
        tf.addfile(ti, io.BytesIO(payload))
    raw = buf.getvalue()
    root = tmp_path / "diff"
    root.mkdir()
    record = str(tmp_path / tarsplit.FILENAME)
    result = apply_tar(io.BytesIO(raw), str(root), record)
    chunks = list(tarsplit.replay(record, str(root), result.diff_id))
    assert b"".join(chunks) == raw
    assert max(len(c) for c in chunks) <= 1 << 20
