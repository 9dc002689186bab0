"""Sparse files stay sparse: layer unpacking, docker cp and ADD write data regions only (issue 18)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile

import pytest

from dockyard.image import tarsplit
from dockyard.image.unpack import apply_tar
from dockyard.sparsefile import write_member

SIZE = 2 * 1024 ** 3  # 2 GiB apparent, a few KiB of data


def _sparse_tar(tmp_path, fmt: str) -> bytes:
    src = tmp_path / f"src-{fmt}"
    src.mkdir()
    with open(src / "big", "wb") as f:
        f.write(b"head")
        f.seek(SIZE // 2)
        f.write(b"middle")
        f.truncate(SIZE)
    (src / "small").write_bytes(b"x" * 100)
    out = tmp_path / f"{fmt}.tar"
    subprocess.run(["tar", "--sparse", f"--format={fmt}", "-C", str(src), "-cf", str(out), "big", "small"],
                   check=True)
    data = out.read_bytes()
    assert len(data) < 1024 * 1024
    return data


def _check_big(path) -> None:
    st = os.stat(path)
    assert st.st_size == SIZE
    assert st.st_blocks * 512 < 1024 * 1024, f"{st.st_blocks * 512} bytes on disk"
    with open(path, "rb") as f:
        assert f.read(4) == b"head"
        f.seek(SIZE // 2)
        assert f.read(6) == b"middle"
        f.seek(SIZE - 4)
        assert f.read() == b"\0" * 4


@pytest.mark.parametrize("fmt", ["gnu", "pax"])
def test_layer_unpack_keeps_holes_and_save_replays_the_same_bytes(tmp_path, fmt):
    data = _sparse_tar(tmp_path, fmt)
    root = tmp_path / "diff"
    root.mkdir()
    record = str(tmp_path / tarsplit.FILENAME)
    result = apply_tar(io.BytesIO(data), str(root), record)
    _check_big(root / "big")
    assert (root / "small").read_bytes() == b"x" * 100
    assert result.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert b"".join(tarsplit.replay(record, str(root))) == data  # docker save gives back the same layer


def test_write_member_skips_zero_chunks_of_a_plain_member(tmp_path):
    payload = b"a" + bytes(8 << 20) + b"z"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("f")
        ti.size = len(payload)
        tf.addfile(ti, io.BytesIO(payload))
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r|") as tf:
        for m in tf:
            fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                write_member(fd, tf.extractfile(m), m)
            finally:
                os.close(fd)
    assert (tmp_path / "out").read_bytes() == payload
    assert os.stat(tmp_path / "out").st_blocks * 512 < 4 << 20


def test_truncated_sparse_member_is_an_error(tmp_path):
    data = _sparse_tar(tmp_path, "gnu")
    root = tmp_path / "diff"
    root.mkdir()
    from dockyard.errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        apply_tar(io.BytesIO(data[:1536]), str(root))


def test_write_member_trailing_zero_chunk_keeps_the_size(tmp_path):
    """The last chunk all zeros is a hole left to ftruncate; a file ending in data needs none."""
    for name, payload in (("tail", b"a" + bytes(2 << 20)), ("data", b"abc"), ("empty", b"")):
        ti = tarfile.TarInfo(name)
        ti.size = len(payload)
        fd = os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_member(fd, io.BytesIO(payload), ti)
        finally:
            os.close(fd)
        assert (tmp_path / name).read_bytes() == payload
