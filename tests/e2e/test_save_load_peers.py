"""docker save / load with skopeo as the peer: our archives read by skopeo (docker-archive and
oci-archive), skopeo's archives and OCI layouts loaded by dockyard with the IDs skopeo computes."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tarfile
import time

import pytest

from tests.support.daemon import docker
from tests.support.ocimaker import Layout, layer_tar, skopeo

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/skopeo"), reason="needs skopeo")


@pytest.fixture
def d(dockyard_daemon):
    return dockyard_daemon


@pytest.fixture
def name(d):
    repo = f"dytest-sl-{secrets.token_hex(3)}"
    yield repo
    for iid in set(docker(d, "images", "-q", "--filter", f"reference=*{repo}*").stdout.split()):
        docker(d, "rmi", "-f", iid)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_save_of_a_big_layer_is_quick_and_skopeo_reads_it(d, name, tmp_path):
    src = tmp_path / "big.tar"
    src.write_bytes(layer_tar({"big.bin": os.urandom(40 << 20)}))
    iid = docker(d, "import", str(src), f"{name}:big", check=True).stdout.strip()
    out = tmp_path / "saved.tar"
    start = time.monotonic()
    docker(d, "save", "-o", str(out), f"{name}:big", check=True)
    assert time.monotonic() - start < 8  # was ~45 s for 40 MB: one copy of the rest of the file per 16 KiB
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= names
    for transport in ("docker-archive", "oci-archive"):
        cfg = skopeo("inspect", "--config", "--raw", f"{transport}:{out}").stdout.encode()
        assert _sha(cfg) == iid, transport
    diff_ids = json.loads(docker(d, "image", "inspect", "--format", "{{json .RootFS.Layers}}", iid,
                                 check=True).stdout)
    seen = json.loads(skopeo("inspect", f"oci-archive:{out}").stdout)
    assert seen["Layers"] == diff_ids  # uncompressed layers: blob digest = DiffID


def test_load_of_skopeo_docker_and_oci_archives_and_an_oci_layout(d, name, tmp_path, busybox_tar):
    layout = Layout(str(tmp_path / "src"))
    desc, built = layout.image([busybox_tar.read_bytes(), layer_tar({"etc/motd": b"loaded\n"})],
                               ["gzip", "none"], cmd=["cat", "/etc/motd"])
    layout.tag(desc, "t")
    da = tmp_path / "da.tar"
    skopeo("copy", f"oci:{layout.root}:t", f"docker-archive:{da}:{name}:da")
    cfg = skopeo("inspect", "--config", "--raw", f"docker-archive:{da}").stdout.encode()
    p = docker(d, "load", "-i", str(da), check=True)
    assert p.stdout.strip() == f"Loaded image: {name}:da"
    info = json.loads(docker(d, "image", "inspect", f"{name}:da", check=True).stdout)[0]
    assert info["Id"] == _sha(cfg) and info["RootFS"]["Layers"] == built.diff_ids
    oa = tmp_path / "oa.tar"
    skopeo("copy", f"oci:{layout.root}:t", f"oci-archive:{oa}:docker.io/library/{name}:oa")
    p = docker(d, "load", "-i", str(oa), check=True)
    assert p.stdout.strip() == f"Loaded image: {name}:oa"
    info = json.loads(docker(d, "image", "inspect", f"{name}:oa", check=True).stdout)[0]
    assert info["Id"] == built.config_digest and info["RootFS"]["Layers"] == built.diff_ids
    assert docker(d, "run", "--rm", f"{name}:oa").stdout == "loaded\n"
    # our own hand-made layout, tarred, with a bare tag: loaded by ID
    plain = tmp_path / "layout.tar"
    with tarfile.open(plain, "w") as tf:
        for entry in os.listdir(layout.root):
            tf.add(os.path.join(layout.root, entry), entry)
    p = docker(d, "load", "-i", str(plain), check=True)
    assert p.stdout.strip() == f"Loaded image ID: {built.config_digest}"
