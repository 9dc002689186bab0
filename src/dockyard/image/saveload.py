"""``docker save`` / ``docker load``: Docker's image archive (manifest.json + OCI layout).

Save writes what dockerd ≥ 25 writes: ``blobs/sha256/<hex>`` for the config,
the (uncompressed) layers and an OCI manifest per image, ``index.json``,
``oci-layout`` and the classic ``manifest.json`` that every loader reads.
Layers are reproduced byte for byte (tarsplit.py), so DiffIDs and image IDs
survive the round trip.

Load reads ``manifest.json`` (classic ``<id>/layer.tar`` archives and OCI
ones alike), registers each layer (plain or compressed) on its parent and
checks it against the config's DiffIDs before recording the image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dockyard.tarerrors import tar_error
from dockyard.errors import InvalidParameter
from dockyard.image import reference as refmod
from dockyard.image.archive import open_layer_stream
from dockyard.image.layers import LayerStore

MANIFEST_V1 = "application/vnd.oci.image.manifest.v1+json"
CONFIG_V1 = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
INDEX_V1 = "application/vnd.oci.image.index.v1+json"
_PUT_SIZE = 1 << 20


@dataclass
class SaveItem:
    image_id: str
    config: bytes
    chain: list[str]
    diff_ids: list[str]
    refs: list[refmod.Reference] = field(default_factory=list)


class _Writer:
    """A write-only file object handing chunks of about ``_PUT_SIZE`` bytes to ``put``.

    Every ``put`` is a hand-over to the event loop, so tarfile's many small
    writes (512-byte headers, 16 KiB copies) are gathered first.
    """

    def __init__(self, put: Callable[[bytes], None]) -> None:
        self._put = put
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        if not self._buf and len(data) >= _PUT_SIZE:  # tarfile's full blocks go as they are
            self._put(data if isinstance(data, bytes) else bytes(data))
            return len(data)
        self._buf += data
        if len(self._buf) >= _PUT_SIZE:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buf:
            self._put(bytes(self._buf))
            self._buf.clear()


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(data))


def _add_dir(tf: tarfile.TarFile, name: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    tf.addfile(ti)


def save(items: list[SaveItem], layers: LayerStore, put: Callable[[bytes], None]) -> None:
    """Stream the archive of ``items`` through ``put`` (chunks of bytes)."""
    writer = _Writer(put)
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                      copybufsize=_PUT_SIZE, bufsize=_PUT_SIZE) as tf:
        _add_dir(tf, "blobs")
        _add_dir(tf, "blobs/sha256")
        written: set[str] = set()
        manifest: list[dict[str, Any]] = []
        index: list[dict[str, Any]] = []
        repositories: dict[str, dict[str, str]] = {}
        for item in items:
            layer_descs = []
            for chain_id, diff_id in zip(item.chain, item.diff_ids):
                size, reader = layers.tar_stream(chain_id)
                hexd = diff_id.split(":", 1)[1]
                if hexd not in written:
                    ti = tarfile.TarInfo(f"blobs/sha256/{hexd}")
                    ti.size, ti.mode = size, 0o644
                    tf.addfile(ti, reader)
                    written.add(hexd)
                layer_descs.append({"mediaType": LAYER_TAR, "digest": diff_id, "size": size})
            cfg_hex = item.image_id.split(":", 1)[1]
            if cfg_hex not in written:
                _add_bytes(tf, f"blobs/sha256/{cfg_hex}", item.config)
                written.add(cfg_hex)
            oci_manifest = json.dumps({
                "schemaVersion": 2, "mediaType": MANIFEST_V1,
                "config": {"mediaType": CONFIG_V1, "digest": item.image_id, "size": len(item.config)},
                "layers": layer_descs}, separators=(",", ":")).encode()
            man_hex = hashlib.sha256(oci_manifest).hexdigest()
            if man_hex not in written:
                _add_bytes(tf, f"blobs/sha256/{man_hex}", oci_manifest)
                written.add(man_hex)
            tags = [r for r in item.refs if r.tag is not None]
            manifest.append({"Config": f"blobs/sha256/{cfg_hex}", "RepoTags": [r.familiar() for r in tags] or None,
                             "Layers": [f"blobs/sha256/{d.split(':', 1)[1]}" for d in item.diff_ids]})
            descriptor: dict[str, Any] = {"mediaType": MANIFEST_V1, "digest": f"sha256:{man_hex}",
                                          "size": len(oci_manifest)}
            if tags:
                for r in tags:
                    index.append({**descriptor, "annotations": {"io.containerd.image.name": str(r),
                                                                "org.opencontainers.image.ref.name": r.tag}})
                    repositories.setdefault(r.familiar_name, {})[r.tag or "latest"] = \
                        item.diff_ids[-1].split(":", 1)[1] if item.diff_ids else cfg_hex
            else:
                index.append(descriptor)
        _add_bytes(tf, "index.json", json.dumps({"schemaVersion": 2, "mediaType": INDEX_V1,
                                                 "manifests": index}).encode())
        _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
        _add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if repositories:
            _add_bytes(tf, "repositories", json.dumps(repositories).encode())
    writer.flush()


@dataclass
class LoadedImage:
    config: bytes
    layer_paths: list[str]
    repo_tags: list[str]


def extract_archive(stream: BinaryIO, tmp_root: str) -> str:
    """Unpack a save archive into a fresh temp dir (Python's "data" filter refuses escapes)."""
    os.makedirs(tmp_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="load-", dir=tmp_root)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tf:  # type: ignore[call-overload]
            tf.extractall(tmp, filter="data")
    except (tarfile.TarError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if str(exc) == "empty file":
            raise InvalidParameter("invalid image archive: empty file") from None
        raise tar_error(exc) from None
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidParameter(f"invalid image archive: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def read_manifest(tmp: str) -> list[LoadedImage]:
    path = os.path.join(tmp, "manifest.json")
    try:
        with open(path, "rb") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        if os.path.isfile(os.path.join(tmp, "index.json")):
            return read_oci_layout(tmp)
        raise InvalidParameter("invalid image archive: no manifest.json or index.json "
                               "(is this the output of docker save, or an OCI layout?)") from None
    except ValueError as exc:
        raise InvalidParameter(f"invalid image archive: manifest.json: {exc}") from None
    if not isinstance(manifest, list):
        raise InvalidParameter("invalid image archive: manifest.json is not a list")
    out = []
    for entry in manifest:
        try:
            config = _read_inside(tmp, entry["Config"])
            layers = [_inside(tmp, p) for p in entry.get("Layers") or []]
        except (KeyError, TypeError):
            raise InvalidParameter("invalid image archive: malformed manifest.json entry") from None
        out.append(LoadedImage(config, layers, list(entry.get("RepoTags") or [])))
    return out


def read_oci_layout(tmp: str) -> list[LoadedImage]:
    """An OCI image layout (``oci-archive:`` of skopeo, buildah, ``docker save`` ≥ 25 without
    manifest.json): each image named in ``index.json``, an index resolved for the host platform.

    Tags come from the ``io.containerd.image.name`` annotation, or from
    ``org.opencontainers.image.ref.name`` when it is a whole reference; a bare
    tag (``latest``) names no repository, so that image loads untagged.
    """
    from dockyard.image.archive import host_platform
    from dockyard.image.distribution import manifest as mf

    try:
        index = json.loads(_read_inside(tmp, "index.json"))
        entries = list(index["manifests"])
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter("invalid image archive: index.json is not an OCI index") from None
    out: list[LoadedImage] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise InvalidParameter("invalid image archive: malformed index.json entry")
        notes = entry.get("annotations") or {}
        name = notes.get("io.containerd.image.name") or ""
        ref_name = notes.get("org.opencontainers.image.ref.name") or ""
        if not name and ("/" in ref_name or ":" in ref_name):
            name = ref_name
        digest = mf.check_digest(str(entry.get("digest", "")))
        parsed = mf.parse(_read_inside(tmp, f"blobs/sha256/{digest[7:]}"), str(entry.get("mediaType", "")))
        if isinstance(parsed, mf.Index):
            os_, arch = host_platform()
            chosen = mf.select_platform(parsed, mf.Platform(os_, arch))
            parsed = mf.parse(_read_inside(tmp, f"blobs/sha256/{chosen.digest[7:]}"), chosen.media_type)
            if isinstance(parsed, mf.Index):
                raise InvalidParameter("invalid image archive: an index inside an index")
        config = _read_inside(tmp, f"blobs/sha256/{parsed.config.digest[7:]}")
        layers = [_inside(tmp, f"blobs/sha256/{d.digest[7:]}") for d in parsed.layers]
        tags = [name] if name else []
        existing = next((e for e in out if e.config == config), None)
        if existing is not None:
            existing.repo_tags.extend(t for t in tags if t not in existing.repo_tags)
        else:
            out.append(LoadedImage(config, layers, tags))
    return out


def _inside(tmp: str, rel: str) -> str:
    path = os.path.realpath(os.path.join(tmp, rel))
    if not path.startswith(os.path.realpath(tmp) + os.sep):
        raise InvalidParameter(f"invalid image archive: {rel!r} is outside of the archive")
    if not os.path.isfile(path):
        raise InvalidParameter(f"invalid image archive: {rel} is missing")
    return path


def _read_inside(tmp: str, rel: str) -> bytes:
    with open(_inside(tmp, rel), "rb") as f:
        return f.read()


def register_layers(layers: LayerStore, loaded: LoadedImage, chain: list[str]) -> int:
    """Register the layers of one image, appending to ``chain``; returns the unpacked size.

    Every DiffID is checked against the config.  On failure ``chain`` holds the
    layers registered so far, for the caller's undo.
    """
    try:
        config = json.loads(loaded.config)
        diff_ids = list(config["rootfs"]["diff_ids"])
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter("invalid image archive: the image config has no rootfs.diff_ids") from None
    if len(diff_ids) != len(loaded.layer_paths):
        raise InvalidParameter(f"invalid image archive: {len(loaded.layer_paths)} layers for "
                               f"{len(diff_ids)} diff IDs")
    parent: str | None = None
    size = 0
    for i, (path, want) in enumerate(zip(loaded.layer_paths, diff_ids)):
        expected_chain = want if parent is None else \
            "sha256:" + hashlib.sha256(f"{parent} {want}".encode()).hexdigest()
        layers.hold(expected_chain)  # before the lookup: a concurrent undo must not remove it
        if layers.exists(expected_chain):
            chain.append(expected_chain)
            layer = layers.get(expected_chain)
        else:
            layers.drop_unused([expected_chain])  # just the hold: nothing is recorded under it
            with open(path, "rb") as f:
                layer = layers.register(open_layer_stream(f), parent)
            chain.append(layer.chain_id)
            if layer.diff_id != want:
                raise InvalidParameter(f"invalid diffID for layer {i}: expected {want!r}, got {layer.diff_id!r}")
        parent = layer.chain_id
        size += layer.size
    return size
