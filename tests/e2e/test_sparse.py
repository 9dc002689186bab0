"""`docker import`, `load` and `cp` of a tar holding a 2 GB sparse file keep its holes (issue 18)."""

from __future__ import annotations

import glob
import os
import subprocess

import pytest

from tests.support.daemon import docker

SIZE = 2 * 1024 ** 3


@pytest.fixture(scope="module")
def sparse_tar(tmp_path_factory, busybox_tar):
    """busybox plus /big: 2 GiB apparent, a few bytes of data (GNU tar --sparse)."""
    d = tmp_path_factory.mktemp("sparse")
    root = d / "root"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", str(busybox_tar)], check=True)
    with open(root / "big", "wb") as f:
        f.seek(SIZE - 5)
        f.write(b"tail\n")
    out = d / "sparse.tar"
    subprocess.run(["tar", "--sparse", "-C", str(root), "-cf", str(out), "."], check=True)
    assert os.path.getsize(out) < 8 * 1024 * 1024
    return out


def _on_disk(d, pattern: str) -> list[os.stat_result]:
    return [os.stat(p) for p in glob.glob(os.path.join(d.data_root, pattern)) if os.path.getsize(p) == SIZE]


def test_import_then_save_and_load_keep_holes(dockyard_daemon, sparse_tar, tmp_path):
    d = dockyard_daemon
    docker(d, "import", str(sparse_tar), "sparse:imported", check=True)
    found = _on_disk(d, "overlay2/*/diff/big")
    assert found and all(st.st_blocks * 512 < 1024 * 1024 for st in found), found
    p = docker(d, "run", "--rm", "sparse:imported", "sh", "-c", "ls -l /big; tail -c 5 /big")
    assert p.returncode == 0 and p.stdout.endswith("tail\n") and str(SIZE) in p.stdout, p.stdout + p.stderr
    saved = tmp_path / "saved.tar"
    docker(d, "save", "-o", str(saved), "sparse:imported", check=True)
    assert os.path.getsize(saved) < 16 * 1024 * 1024
    layers_before = docker(d, "inspect", "-f", "{{json .RootFS.Layers}}", "sparse:imported", check=True).stdout
    docker(d, "rmi", "sparse:imported", check=True)
    assert not _on_disk(d, "overlay2/*/diff/big")
    docker(d, "load", "-i", str(saved), check=True)
    assert docker(d, "inspect", "-f", "{{json .RootFS.Layers}}", "sparse:imported", check=True).stdout \
        == layers_before
    found = _on_disk(d, "overlay2/*/diff/big")
    assert found and all(st.st_blocks * 512 < 1024 * 1024 for st in found), found
    docker(d, "rmi", "sparse:imported", check=True)


def test_cp_of_a_sparse_archive_keeps_holes(dockyard_daemon, busybox_image, tmp_path):
    d = dockyard_daemon
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "holey", "wb") as f:
        f.seek(SIZE - 5)
        f.write(b"tail\n")
    archive = tmp_path / "holey.tar"
    subprocess.run(["tar", "--sparse", "-C", str(src), "-cf", str(archive), "holey"], check=True)
    cid = docker(d, "create", busybox_image, "true", check=True).stdout.strip()
    try:
        with open(archive, "rb") as f:
            p = subprocess.run(["docker", "cp", "-", f"{cid}:/"], stdin=f, env=d.env(), capture_output=True,
                               text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        found = _on_disk(d, f"overlay2/{cid}/diff/holey")
        assert len(found) == 1 and found[0].st_blocks * 512 < 1024 * 1024, found
    finally:
        docker(d, "rm", "-f", cid)
