"""Image records: configs as content-addressed blobs, records and tags in SQLite.

``<data-root>/image/blobs/sha256/<hex>`` holds each image config exactly as
hashed (the image ID is the sha256 of those bytes).  The ``images`` row holds
what we look images up by plus a small JSON document (ChainIDs, size, last tag
time); the ``tags`` table maps full references (``docker.io/library/busybox:latest``
or ``...@sha256:...``) to image IDs.  Everything is mirrored in memory, so
``resolve`` on the ``docker run`` hot path is a couple of dict lookups.

A record and its tags and layer references change in one transaction; the
config blob is written (atomically, by rename) before the transaction, so a
crash leaves at worst an unreferenced blob, which ``gc`` removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import NotFound
from dockyard.image import reference as refmod
from dockyard.image.layers import Layer, LayerStore, chain_ids
from dockyard.state.db import Database, dumps, loads


@dataclass
class Image:
    """An image as the rest of the daemon sees it."""

    id: str                       # "sha256:<hex>"
    config: dict[str, Any]        # the whole image config JSON
    repo_tags: list[str] = field(default_factory=list)     # familiar: "busybox:latest"
    repo_digests: list[str] = field(default_factory=list)  # familiar: "busybox@sha256:..."
    chain: list[str] = field(default_factory=list)         # ChainIDs, bottom first
    size: int = 0
    last_tag_time: str = ""
    parent: str = ""

    @property
    def created(self) -> str:
        return str(self.config.get("created", ""))

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))


class ImageStore:
    """Thread-safe image records with an in-memory mirror of the database."""

    def __init__(self, data_root: str, db: Database, layers: LayerStore) -> None:
        self.db = db
        self.layers = layers
        self.blob_dir = os.path.join(data_root, "image", "blobs", "sha256")
        os.makedirs(self.blob_dir, mode=0o700, exist_ok=True)
        self._lock = threading.RLock()
        self._images: dict[str, Image] = {}
        self._tags: dict[str, str] = {}  # full reference string -> image id
        self._load()

    # -- loading -------------------------------------------------------------------------

    def _load(self) -> None:
        for row in self.db.query("SELECT id, data FROM images"):
            data = loads(row["data"])
            try:
                config = self._read_blob(row["id"])
            except FileNotFoundError:
                continue  # a record whose blob vanished: unusable, skipped
            self._images[row["id"]] = Image(row["id"], config, chain=data.get("chain", []),
                                            size=int(data.get("size", 0)),
                                            last_tag_time=data.get("last_tag_time", ""),
                                            parent=data.get("parent", ""))
        for row in self.db.query("SELECT ref, image_id FROM tags"):
            if row["image_id"] in self._images:
                self._tags[row["ref"]] = row["image_id"]
        self._refresh_refs()

    def _read_blob(self, image_id: str) -> dict[str, Any]:
        with open(os.path.join(self.blob_dir, image_id.split(":", 1)[1]), "rb") as f:
            return json.loads(f.read())

    def _refresh_refs(self, only: set[str] | None = None) -> None:
        """Recompute repo_tags/repo_digests (familiar, sorted by full name as Docker does)."""
        targets = only if only is not None else set(self._images)
        per: dict[str, list[str]] = {i: [] for i in targets}
        for ref, iid in sorted(self._tags.items()):
            if iid in per:
                per[iid].append(ref)
        for iid, refs in per.items():
            img = self._images.get(iid)
            if img is None:
                continue
            parsed = [refmod.parse(r) for r in refs]
            img.repo_tags = [p.familiar() for p in parsed if p.digest is None]
            img.repo_digests = [p.familiar() for p in parsed if p.digest is not None]

    # -- queries -------------------------------------------------------------------------

    def count(self) -> int:
        return len(self._images)

    def all(self) -> list[Image]:
        with self._lock:
            return list(self._images.values())

    def get(self, image_id: str) -> Image | None:
        return self._images.get(image_id)

    def by_ref(self, ref: refmod.Reference) -> Image | None:
        iid = self._tags.get(str(ref))
        return self._images.get(iid) if iid else None

    def search(self, prefix: str) -> list[Image]:
        """Images whose ID starts with ``prefix`` (hex, optionally ``sha256:``-prefixed)."""
        p = prefix[len("sha256:"):] if prefix.startswith("sha256:") else prefix
        if not p or any(c not in "0123456789abcdef" for c in p):
            return []
        with self._lock:
            return [img for iid, img in self._images.items() if iid[7:].startswith(p)]

    def refs_of(self, image_id: str) -> list[refmod.Reference]:
        with self._lock:
            return [refmod.parse(r) for r, i in sorted(self._tags.items()) if i == image_id]

    def children(self, image_id: str) -> list[Image]:
        with self._lock:
            return [img for img in self._images.values() if img.parent == image_id]

    # -- changes -------------------------------------------------------------------------

    def write_blob(self, config_bytes: bytes) -> str:
        """Store a config blob (atomically); returns the image ID it names."""
        hexd = hashlib.sha256(config_bytes).hexdigest()
        path = os.path.join(self.blob_dir, hexd)
        if not os.path.exists(path):
            tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
            with open(tmp, "wb") as f:
                f.write(config_bytes)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        return "sha256:" + hexd

    def add(self, config_bytes: bytes, size: int, now: str, parent: str = "",
            refs: list[refmod.Reference] | None = None) -> tuple[Image, bool]:
        """Record an image (its layers must be registered) and point ``refs`` at it, in one
        transaction; returns (image, created)."""
        image_id = self.write_blob(config_bytes)
        config = json.loads(config_bytes)
        chain = _chain_of(config)
        refs = refs or []
        with self._lock:
            img = self._images.get(image_id)
            created = img is None
            old_ids = {self._tags[str(r)] for r in refs if str(r) in self._tags} - {image_id}
            with self.db.tx() as cur:
                if img is None:
                    data = {"chain": chain, "size": size, "last_tag_time": now if refs else "", "parent": parent}
                    cur.execute("INSERT INTO images(id, created, data) VALUES (?,?,?)",
                                (image_id, str(config.get("created", now)), dumps(data)))
                    self.layers.acquire(cur, chain)
                    img = Image(image_id, config, chain=chain, size=size, parent=parent,
                                last_tag_time=data["last_tag_time"])
                elif refs:
                    img.last_tag_time = now
                    cur.execute("UPDATE images SET data=? WHERE id=?", (dumps(self._data(img)), image_id))
                for r in refs:
                    cur.execute("INSERT INTO tags(ref, image_id) VALUES (?,?) "
                                "ON CONFLICT(ref) DO UPDATE SET image_id=excluded.image_id", (str(r), image_id))
            self._images[image_id] = img
            for r in refs:
                self._tags[str(r)] = image_id
            self._refresh_refs({image_id} | old_ids)
            return img, created

    def set_tag(self, ref: refmod.Reference, image_id: str, now: str) -> str | None:
        """Point ``ref`` at ``image_id``; returns the image it pointed at before (if another)."""
        key = str(ref)
        with self._lock:
            img = self._images[image_id]
            old = self._tags.get(key)
            data = self._data(img)
            data["last_tag_time"] = now
            with self.db.tx() as cur:
                cur.execute("INSERT INTO tags(ref, image_id) VALUES (?,?) "
                            "ON CONFLICT(ref) DO UPDATE SET image_id=excluded.image_id", (key, image_id))
                cur.execute("UPDATE images SET data=? WHERE id=?", (dumps(data), image_id))
            self._tags[key] = image_id
            img.last_tag_time = now
            self._refresh_refs({image_id} | ({old} if old else set()))
            return old if old != image_id else None

    def remove_tag(self, ref: refmod.Reference) -> str:
        key = str(ref)
        with self._lock:
            iid = self._tags.get(key)
            if iid is None:
                raise NotFound(f"No such image: {ref.familiar()}")
            with self.db.tx() as cur:
                cur.execute("DELETE FROM tags WHERE ref=?", (key,))
            del self._tags[key]
            self._refresh_refs({iid})
            return iid

    def delete(self, image_id: str) -> list[Layer]:
        """Delete an image record, its tags and its layer references; returns removed layers."""
        with self._lock:
            img = self._images[image_id]
            with self.db.tx() as cur:
                cur.execute("DELETE FROM tags WHERE image_id=?", (image_id,))
                cur.execute("DELETE FROM images WHERE id=?", (image_id,))
                gone = self.layers.release(cur, img.chain)
            for key in [k for k, v in self._tags.items() if v == image_id]:
                del self._tags[key]
            del self._images[image_id]
        self.layers.remove_dirs(gone)
        try:
            os.unlink(os.path.join(self.blob_dir, image_id.split(":", 1)[1]))
        except FileNotFoundError:
            pass
        return gone

    def _data(self, img: Image) -> dict[str, Any]:
        return {"chain": img.chain, "size": img.size, "last_tag_time": img.last_tag_time, "parent": img.parent}

    def gc(self) -> None:
        """Remove config blobs no record names and temp files (left by a crash)."""
        for name in os.listdir(self.blob_dir):
            if ".tmp-" in name or f"sha256:{name}" not in self._images:
                try:
                    os.unlink(os.path.join(self.blob_dir, name))
                except FileNotFoundError:
                    pass


def _chain_of(config: dict[str, Any]) -> list[str]:
    return chain_ids(list(config.get("rootfs", {}).get("diff_ids", [])))
