"""Build OCI image layouts by hand (independently of dockyard), for skopeo to push.

Each image gets its layers compressed as asked (gzip, zstd through the zstd
program, or none), a config whose digest is the expected image ID, and the
DiffIDs tests compare with what dockyard records.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
         "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
         "none": "application/vnd.oci.image.layer.v1.tar"}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(content), 0o644, 1_700_000_000
            tf.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True, check=True).stdout
    return data


@dataclass
class Built:
    manifest_digest: str
    config_digest: str       # the image ID
    diff_ids: list[str]
    blob_digests: list[str]  # the (compressed) layer blobs
    manifest_size: int


class Layout:
    """An OCI layout directory: ``blobs/sha256``, ``oci-layout``, ``index.json``."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        self.refs: list[dict[str, object]] = []

    def blob(self, data: bytes) -> str:
        digest = sha(data)
        with open(os.path.join(self.root, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return digest

    def image(self, layers: list[bytes], compression: list[str], arch: str = "amd64", variant: str = "",
              cmd: list[str] | None = None) -> tuple[dict[str, object], Built]:
        diff_ids, descs, blobs = [], [], []
        for tar, how in zip(layers, compression):
            diff_ids.append(sha(tar))
            packed = compress(tar, how)
            blobs.append(self.blob(packed))
            descs.append({"mediaType": LAYER[how], "digest": blobs[-1], "size": len(packed)})
        config = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
                  "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids},
                  "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                              for i in range(len(layers))]}
        if variant:
            config["variant"] = variant
        cfg = json.dumps(config).encode()
        cfg_digest = self.blob(cfg)
        man = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": cfg_digest, "size": len(cfg)},
                          "layers": descs}).encode()
        man_digest = self.blob(man)
        plat = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        desc = {"mediaType": MANIFEST, "digest": man_digest, "size": len(man), "platform": plat}
        return desc, Built(man_digest, cfg_digest, diff_ids, blobs, len(man))

    def index(self, manifests: list[dict[str, object]]) -> tuple[dict[str, object], str]:
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}).encode()
        digest = self.blob(body)
        return {"mediaType": INDEX, "digest": digest, "size": len(body)}, digest

    def tag(self, desc: dict[str, object], name: str) -> None:
        self.refs.append({**desc, "annotations": {"org.opencontainers.image.ref.name": name}})
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


def skopeo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)}: {p.stderr}")
    return p
