"""The image service: import, list, inspect, history, tag, delete, prune.

The rules of ``docker rmi`` (which reference goes, when an image is kept,
which conflicts can be forced) follow moby's ``daemon/images/image_delete.go``
so clients see the same records and the same 409 texts.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from dockyard.daemon.config import DaemonConfig
from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.image import reference as refmod
from dockyard.image import saveload
from dockyard.image.archive import (apply_changes, empty_container_config, host_platform, import_config,
                                    open_layer_stream, parse_platform, rfc3339_nano)
from dockyard.image.commit import child_config, drop_init_layer_files, write_diff_tar
from dockyard.image.layers import LayerStore
from dockyard.image.reference import Reference, short_id
from dockyard.image.store import Image, ImageStore
from dockyard.state.db import Database

__all__ = ["Image", "ImageService"]

DOCKER_VERSION = "28.2.2"
ZERO_TIME = "0001-01-01T00:00:00Z"
ContainerLookup = Callable[[str], list[tuple[str, bool]]]


def _created_ns(created: str) -> int:
    """An RFC 3339 (nano) timestamp as nanoseconds since the epoch (0 when unset or invalid)."""
    if not created or created.startswith("0001-"):
        return 0
    text = created.strip()
    offset = 0
    if text.endswith("Z"):
        text = text[:-1]
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        sign = 1 if text[-6] == "+" else -1
        offset = sign * (int(text[-5:-3]) * 3600 + int(text[-2:]) * 60)
        text = text[:-6]
    base, _, frac = text.partition(".")
    try:
        dt = datetime.datetime.strptime(base[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return 0
    nanos = int((frac + "000000000")[:9]) if frac.isdigit() else 0
    return (int(dt.timestamp()) - offset) * 1_000_000_000 + nanos


def _created_unix(created: str) -> int:
    return _created_ns(created) // 1_000_000_000


class ImageInUse(Conflict):
    """A delete conflict caused by a container using the image (moby's ``conflict.used``)."""


class ImageService:
    """Images and their layers; thread-safe (import runs in an executor thread)."""

    def __init__(self, cfg: DaemonConfig, db: Database, events: Any) -> None:
        self.cfg = cfg
        self.db = db
        self.events = events
        self.layers = LayerStore(cfg.data_root, db)
        self.store = ImageStore(cfg.data_root, db, self.layers)
        self.layers.image_chain = self._chain
        self._tmp_dir = os.path.join(cfg.data_root, "image", "tmp")
        self.layers.gc()
        self.store.gc()
        shutil.rmtree(self._tmp_dir, ignore_errors=True)  # half-read `docker load`s
        self._containers: ContainerLookup = lambda image_id: []
        self._lock = threading.RLock()
        # the engine's (os, arch) when it is not this Linux machine's: set by the Windows host parts
        self.host: tuple[str, str] | None = None

    def _chain(self, image_id: str) -> list[str]:
        img = self.store.get(image_id)
        if img is None:
            raise NotFound(f"No such image: {image_id}")
        return img.chain

    def set_container_lookup(self, fn: ContainerLookup) -> None:
        """``fn(image_id)`` → [(container id, running)] of the containers using the image."""
        self._containers = fn

    def count(self) -> int:
        return self.store.count()

    # -- lookup ---------------------------------------------------------------------------

    def resolve(self, ref_or_id: str) -> Image:
        """The image named by a reference, a full or short ID, or ``sha256:``-prefixed ID."""
        parsed = refmod.parse_any(ref_or_id)
        if isinstance(parsed, str):
            img = self.store.get(parsed)
            if img is None:
                raise NotFound(f"No such image: {parsed}")
            return img
        img = self.store.by_ref(parsed.with_default_tag() if parsed.digest is None else parsed)
        if img is not None:
            return img
        matches = self.store.search(ref_or_id)
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"No such image: {parsed.with_default_tag().familiar()}")

    # -- import ---------------------------------------------------------------------------

    def check_import(self, repo: str | None, tag: str | None, changes: list[str],
                     platform: str | None) -> tuple[Reference | None, dict[str, Any]]:
        """Validate the arguments of an import before its body is read."""
        ref = refmod.normalize_repo_tag(repo, tag) if repo else None
        if ref is not None and ref.digest is not None:
            raise InvalidParameter("cannot import digest reference")
        parse_platform(platform, self.host)
        return ref, apply_changes(None, changes)

    def import_image(self, stream: BinaryIO, repo_tag: str | None, changes: list[str] | None = None,
                     message: str = "", platform: str | None = None, tag: str | None = None) -> str:
        """``docker import``: one layer from a (compressed) tar; returns the image ID.

        A corrupt archive raises InvalidParameter and leaves nothing behind.
        """
        ref, container_config = self.check_import(repo_tag, tag, list(changes or []), platform)
        layer = self.layers.register(open_layer_stream(stream), None)
        now = rfc3339_nano()
        config = import_config(layer.diff_id, container_config, message, platform, now, DOCKER_VERSION, self.host)
        try:
            with self._lock:
                img, _ = self.store.add(config, layer.size, now, refs=[ref] if ref is not None else [])
        finally:
            self.layers.drop_unused([layer.chain_id])  # releases the hold; removes it only if unused
        self.events.emit("image", "import", img.id, {"name": img.id})
        if ref is not None:
            self.events.emit("image", "tag", img.id, {"name": ref.familiar()})
        return img.id

    @staticmethod
    def empty_container_config() -> dict[str, Any]:
        """Go's zero container config (``ContainerConfig`` of images for API < 1.45)."""
        return empty_container_config()

    # -- list / inspect / history ---------------------------------------------------------

    def summary(self, img: Image) -> dict[str, Any]:
        """One entry of ``GET /images/json``."""
        return {
            "Containers": -1,
            "Created": _created_unix(img.created),
            "Id": img.id,
            "Labels": (img.config.get("config") or {}).get("Labels"),
            "ParentId": img.parent,
            "RepoDigests": list(img.repo_digests),
            "RepoTags": list(img.repo_tags),
            "SharedSize": -1,
            "Size": img.size,
        }

    def list_images(self, all: bool = False, filters: dict[str, list[str]] | None = None,
                    digests: bool = False) -> list[dict[str, Any]]:
        filters = filters or {}
        for key in filters:
            if key not in ("dangling", "label", "before", "since", "reference", "until"):
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling: bool | None = None
        for v in filters.get("dangling", []):
            if v.lower() in ("true", "1"):
                dangling = True
            elif v.lower() in ("false", "0"):
                dangling = False
            else:
                raise InvalidParameter(f"invalid filter 'dangling={v}'")
        before = min((_created_ns(self.resolve(r).created) for r in filters.get("before", [])), default=None)
        since = max((_created_ns(self.resolve(r).created) for r in filters.get("since", [])), default=None)
        out = []
        for img in sorted(self.store.all(), key=lambda i: _created_ns(i.created), reverse=True):
            created = _created_ns(img.created)
            if before is not None and created >= before:
                continue
            if since is not None and created <= since:
                continue
            if dangling is True and img.repo_tags:
                continue
            if dangling is False and not img.repo_tags:
                continue
            if not all and not img.repo_tags and not img.repo_digests and self.store.children(img.id):
                continue  # an intermediate image
            if not _labels_match((img.config.get("config") or {}).get("Labels") or {}, filters.get("label", [])):
                continue
            summary = self.summary(img)
            if "reference" in filters:
                refs = self.store.refs_of(img.id)
                matched = [r for r in refs if any(refmod.familiar_match(p, r) for p in filters["reference"])]
                if not matched:
                    continue
                summary["RepoTags"] = [r.familiar() for r in matched if r.digest is None]
            if "until" in filters:
                limit = min(_parse_until(u) for u in filters["until"])
                if created // 1_000_000_000 >= limit:
                    continue
            out.append(summary)
        return out

    def inspect(self, ref: str) -> dict[str, Any]:
        img = self.resolve(ref)
        cfg = img.config
        data = {
            "Id": img.id,
            "RepoTags": list(img.repo_tags),
            "RepoDigests": list(img.repo_digests),
            "Parent": img.parent,
            "Comment": cfg.get("comment", ""),
            "Created": cfg.get("created", ""),
            "DockerVersion": cfg.get("docker_version", ""),
            "Author": cfg.get("author", ""),
            "Config": cfg.get("config"),
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Size": img.size,
            "GraphDriver": {"Data": self._graph_data(img), "Name": "overlay2"},
            "RootFS": {"Type": "layers", "Layers": img.diff_ids},
            "Metadata": {"LastTagTime": img.last_tag_time or ZERO_TIME},
        }
        if cfg.get("variant"):
            data["Variant"] = cfg["variant"]
        return data

    def _graph_data(self, img: Image) -> dict[str, str] | None:
        if not img.chain:
            return None
        dirs = [os.path.join(self.layers.root, self.layers.get(c).cache_id) for c in reversed(img.chain)]
        data = {"MergedDir": os.path.join(dirs[0], "merged"), "UpperDir": os.path.join(dirs[0], "diff"),
                "WorkDir": os.path.join(dirs[0], "work")}
        if len(dirs) > 1:
            data["LowerDir"] = ":".join(os.path.join(d, "diff") for d in dirs[1:])
        return data

    def history(self, ref: str) -> list[dict[str, Any]]:
        img = self.resolve(ref)
        layers = iter(reversed(img.chain))
        entries = []
        for h in reversed(img.config.get("history") or []):
            size = 0
            if not h.get("empty_layer"):
                cid = next(layers, None)
                if cid is not None:
                    try:
                        size = self.layers.get(cid).size
                    except NotFound:
                        size = 0
            entries.append({"Comment": h.get("comment", ""), "Created": _created_unix(h.get("created", "")),
                            "CreatedBy": h.get("created_by", ""), "Id": "<missing>", "Size": size, "Tags": None})
        # each row, newest first, is the image of that step while its parents are here (a build's
        # intermediate images, a commit's base), as dockerd walks .Parent; the rest stay <missing>
        cur: Any = img
        for entry in entries:
            entry["Id"] = cur.id
            entry["Tags"] = list(cur.repo_tags) or None
            cur = self.store.get(cur.parent) if cur.parent else None
            if cur is None:
                break
        return entries

    # -- tag / delete / prune -------------------------------------------------------------

    def tag(self, src: str, repo: str, tag: str | None = None) -> None:
        img = self.resolve(src)
        ref = refmod.normalize_repo_tag(repo, tag)
        if ref.digest is not None:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        if ref.path == "library/sha256" or ref.familiar_name == "sha256":
            raise InvalidParameter("refusing to create an ambiguous tag using digest algorithm as name")
        with self._lock:
            self.store.set_tag(ref, img.id, rfc3339_nano())
        self.events.emit("image", "tag", img.id, {"name": ref.familiar()})

    def delete(self, ref: str, force: bool = False, noprune: bool = False) -> list[dict[str, str]]:
        """``docker rmi``: the Untagged/Deleted records, or a 409 Conflict."""
        with self._lock:
            return self._delete(ref, force, noprune)

    def _delete(self, ref_text: str, force: bool, noprune: bool = False) -> list[dict[str, str]]:
        img = self.resolve(ref_text)
        image_id = img.id
        records: list[dict[str, str]] = []
        repo_refs = self.store.refs_of(image_id)
        using = self._containers(image_id)
        removed_repo_ref = False
        if not _is_id_prefix(image_id, ref_text):
            if not force and _is_single_reference(repo_refs) and using:
                raise Conflict(f"conflict: unable to remove repository reference \"{ref_text}\" (must force) - "
                               f"container {short_id(using[0][0])} is using its referenced image "
                               f"{short_id(image_id)}")
            parsed = refmod.parse_normalized(ref_text)
            parsed = parsed if parsed.digest is not None else parsed.with_default_tag()
            self.store.remove_tag(parsed)
            records.append({"Untagged": parsed.familiar()})
            self.events.emit("image", "untag", image_id, {"name": image_id})
            repo_refs = self.store.refs_of(image_id)
            if parsed.digest is None and not any(r.digest is None and r.name == parsed.name for r in repo_refs):
                for r in [r for r in repo_refs if r.digest is not None and r.name == parsed.name]:
                    self.store.remove_tag(r)
                    records.append({"Untagged": r.familiar()})
                    self.events.emit("image", "untag", image_id, {"name": image_id})
                repo_refs = self.store.refs_of(image_id)
            if repo_refs:
                return records
            removed_repo_ref = True
        elif _is_single_reference(repo_refs):
            self._check_conflict(img, using, hard=True, stopped=not force, active=False)
            for r in repo_refs:
                self.store.remove_tag(r)
                records.append({"Untagged": r.familiar()})
                self.events.emit("image", "untag", image_id, {"name": image_id})
        try:
            self._check_conflict(img, using, hard=True, stopped=not force, active=not force)
        except Conflict as exc:
            dangling = not self.store.refs_of(image_id) and not self.store.children(image_id)
            if removed_repo_ref and (isinstance(exc, ImageInUse) or not dangling):
                return records  # the tag went; the image stays (for its containers or child images)
            raise
        for r in self.store.refs_of(image_id):
            records.append({"Untagged": r.familiar()})
            self.events.emit("image", "untag", image_id, {"name": image_id})
        self._remove_image(img, records)
        parent = self.store.get(img.parent) if img.parent else None
        while parent is not None and not noprune:
            # moby prunes parents left dangling and unused (what --no-prune turns off)
            if self.store.refs_of(parent.id) or self.store.children(parent.id) or self._containers(parent.id):
                break
            self._remove_image(parent, records)
            parent = self.store.get(parent.parent) if parent.parent else None
        return records

    def _remove_image(self, img: Image, records: list[dict[str, str]]) -> None:
        gone = self.store.delete(img.id)
        self.events.emit("image", "delete", img.id, {"name": img.id})
        records.append({"Deleted": img.id})
        records.extend({"Deleted": layer.chain_id} for layer in gone)

    def _check_conflict(self, img: Image, using: list[tuple[str, bool]], *, hard: bool, stopped: bool,
                        active: bool) -> None:
        short = short_id(img.id)
        if hard and self.store.children(img.id):
            raise Conflict(f"conflict: unable to delete {short} (cannot be forced) - image has dependent child images")
        running = [cid for cid, run in using if run]
        if hard and running:
            raise ImageInUse(f"conflict: unable to delete {short} (cannot be forced) - "
                             f"image is being used by running container {short_id(running[0])}")
        if active and self.store.refs_of(img.id):
            raise Conflict(f"conflict: unable to delete {short} (must be forced) - "
                           f"image is referenced in multiple repositories")
        stopped_ids = [cid for cid, run in using if not run]
        if stopped and stopped_ids:
            raise ImageInUse(f"conflict: unable to delete {short} (must be forced) - "
                             f"image is being used by stopped container {short_id(stopped_ids[0])}")

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """``docker image prune``: dangling images (all unused ones with dangling=false)."""
        filters = filters or {}
        for key in filters:
            if key not in ("dangling", "label", "label!", "until"):
                raise InvalidParameter(f"invalid filter '{key}'")
        only_dangling = not any(v.lower() in ("false", "0") for v in filters.get("dangling", []))
        until = min((_parse_until(u) for u in filters.get("until", [])), default=None)
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        with self._lock:
            for img in self.store.all():
                if only_dangling and img.repo_tags:
                    continue
                if self._containers(img.id) or self.store.children(img.id):
                    continue
                if until is not None and _created_unix(img.created) >= until:
                    continue
                labels = (img.config.get("config") or {}).get("Labels") or {}
                if not _labels_match(labels, filters.get("label", [])):
                    continue
                if filters.get("label!") and _labels_match(labels, filters["label!"], any_of=True):
                    continue
                for r in self.store.refs_of(img.id):
                    deleted.append({"Untagged": r.familiar()})
                    self.events.emit("image", "untag", img.id, {"name": img.id})
                gone = self.store.delete(img.id)
                self.events.emit("image", "delete", img.id, {"name": img.id})
                deleted.append({"Deleted": img.id})
                deleted.extend({"Deleted": layer.chain_id} for layer in gone)
                reclaimed += sum(layer.size for layer in gone)
        self.events.emit("image", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # -- commit ---------------------------------------------------------------------------

    def commit(self, rw_name: str | None, image_id: str | None, container_config: dict[str, Any], *,
               container_id: str, repo: str | None = None, tag: str | None = None, comment: str = "",
               author: str = "", changes: list[str] | None = None, created_by: str | None = None,
               move_upper: bool = False, keep_init_files: bool = False) -> str:
        """``docker commit``: the RW layer ``rw_name`` on top of ``image_id`` as a new image.

        Without ``rw_name`` (a build's config-only step) the image has no new layer.
        With ``move_upper`` (a build step, whose layer is removed next) the upper
        directory itself becomes the layer, instead of a copy unpacked from a tar.
        """
        ref = refmod.normalize_repo_tag(repo, tag) if repo else None
        if ref is not None and ref.digest is not None:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        config = apply_changes(container_config, list(changes or []))
        parent = self.store.get(image_id) if image_id else None
        if image_id and parent is None:
            raise NotFound(f"No such image: {image_id}")
        rw = self.layers.get_rw(rw_name) if rw_name else None
        os.makedirs(self._tmp_dir, exist_ok=True)
        chain: list[str] = []
        with tempfile.TemporaryFile(dir=self._tmp_dir) as tmp:
            # the image's layer dirs, top first: what overlay copied up only is left out of the diff
            lowers = [os.path.join(self.layers.root, self.layers.get(c).cache_id, "diff")
                      for c in reversed(parent.chain if parent else [])]
            entries = write_diff_tar(rw.upper, tmp, lowers=lowers) if rw is not None and not move_upper else 0
            tmp.seek(0)
            top = parent.chain[-1] if parent and parent.chain else None
            if top is not None:
                self.layers.hold(top)
                chain.append(top)
            try:
                diff_id = None
                size = parent.size if parent else 0
                if move_upper and rw is not None:
                    if not keep_init_files:
                        drop_init_layer_files(rw.upper, lowers)
                    layer = self.layers.register_dir(rw.upper, top, lambda sink: write_diff_tar(
                        rw.upper, sink, sink, keep_init_files, lowers))
                    if layer is not None:
                        chain.append(layer.chain_id)
                        diff_id, size = layer.diff_id, size + layer.size
                elif entries:
                    layer = self.layers.register(tmp, top)  # type: ignore[arg-type]
                    chain.append(layer.chain_id)
                    diff_id, size = layer.diff_id, size + layer.size
                os_, arch = host_platform()
                now = rfc3339_nano()
                raw = child_config(parent.config if parent else None, config, diff_id, container_id=container_id,
                                   comment=comment, author=author, created=now, docker_version=DOCKER_VERSION,
                                   host_os=os_, host_arch=arch, created_by=created_by)
                with self._lock:
                    img, _ = self.store.add(raw, size, now, parent=parent.id if parent else "",
                                            refs=[ref] if ref is not None else [])
            finally:
                self.layers.drop_unused(chain)
        if ref is not None:
            self.events.emit("image", "tag", img.id, {"name": ref.familiar()})
        return img.id

    # -- save / load ----------------------------------------------------------------------

    def save_plan(self, names: list[str]) -> list[saveload.SaveItem]:
        """Resolve what ``docker save NAME...`` exports (errors before any byte is sent).

        ``repo:tag`` exports that tag, a bare ``repo`` every tag of the repository,
        an ID the image without tags.
        """
        if not names:
            raise InvalidParameter("no images specified")
        items: dict[str, saveload.SaveItem] = {}

        def item_for(img: Image) -> saveload.SaveItem:
            if img.id not in items:
                items[img.id] = saveload.SaveItem(img.id, self.config_bytes(img.id), list(img.chain), img.diff_ids)
            return items[img.id]

        for name in names:
            parsed = refmod.parse_any(name)
            if isinstance(parsed, refmod.Reference) and parsed.tag is None and parsed.digest is None:
                # a bare repository: every tag of it (moby's tarexport), else maybe a short ID
                found = [(img, r) for img in self.store.all() for r in self.store.refs_of(img.id)
                         if r.name == parsed.name and r.tag is not None]
                if found:
                    for img, r in found:
                        item_for(img).refs.append(r)
                    continue
            img = self.resolve(name)
            item = item_for(img)
            if isinstance(parsed, refmod.Reference) and parsed.tag is not None and parsed.digest is None \
                    and not _is_id_prefix(img.id, name) and parsed not in item.refs:
                item.refs.append(parsed)
        return list(items.values())

    def save(self, plan: list[saveload.SaveItem], put: Callable[[bytes], None]) -> None:
        saveload.save(plan, self.layers, put)
        for item in plan:
            self.events.emit("image", "save", item.image_id, {"name": item.image_id})

    def load(self, stream: BinaryIO) -> list[str]:
        """``docker load``: returns what was loaded ("busybox:latest", or "sha256:..." without tags)."""
        tmp = saveload.extract_archive(stream, self._tmp_dir)
        try:
            entries = saveload.read_manifest(tmp)
            loaded: list[str] = []
            for entry in entries:
                refs = [refmod.normalize_repo_tag(t, None) for t in entry.repo_tags]
                chain: list[str] = []
                try:
                    size = saveload.register_layers(self.layers, entry, chain)
                    now = rfc3339_nano()
                    with self._lock:
                        img, _ = self.store.add(entry.config, size, now, refs=refs)
                finally:
                    self.layers.drop_unused(chain)  # releases the holds; removes what no image took
                self.events.emit("image", "load", img.id, {"name": img.id})
                loaded.extend([r.familiar() for r in refs] or [img.id])
            return loaded
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def config_bytes(self, image_id: str) -> bytes:
        with open(os.path.join(self.store.blob_dir, image_id.split(":", 1)[1]), "rb") as f:
            return f.read()


def _labels_match(labels: dict[str, str], wanted: list[str], any_of: bool = False) -> bool:
    results = []
    for want in wanted:
        k, sep, v = want.partition("=")
        results.append(k in labels and (not sep or labels[k] == v))
    if not wanted:
        return True
    return any(results) if any_of else all(results)


def _parse_until(text: str) -> int:
    """Docker's ``until``/``since`` timestamps: unix seconds, RFC 3339, or a Go duration ago."""
    try:
        return int(float(text))
    except ValueError:
        pass
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)", text)
    if m:
        return int(time.time() - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)])
    t = _created_unix(text if "T" in text else text + "T00:00:00Z")
    if t == 0:
        raise InvalidParameter(f"invalid filter 'until={text}'")
    return t


def _is_id_prefix(image_id: str, text: str) -> bool:
    return image_id.startswith(text) or image_id[len("sha256:"):].startswith(text)


def _is_single_reference(refs: list[Reference]) -> bool:
    """moby's isSingleReference: at most one tag, and all references in one repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for r in refs:
        if r.digest is not None:
            canonical.add(r.name)
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    return len(canonical) == 1 and single.name in canonical
