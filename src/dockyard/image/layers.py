"""The layer store: read-only image layers and the RW layers of containers (overlay2).

On disk, as Docker's overlay2 driver lays it out::

    <data-root>/overlay2/<cache-id>/diff     a layer, unpacked once
    <data-root>/overlay2/<cache-id>/link     its short name
    <data-root>/overlay2/l/<short>           -> ../<cache-id>/diff (keeps mount data small)
    <data-root>/overlay2/<name>/{diff,work,merged}   a container's RW layer
    <data-root>/overlay2/<name>/lower        "l/<short>:l/<short>" topmost first

Layer records (ChainID, DiffID, parent, cache-id, size, refcount) live in the
``layers`` table.  A layer is unpacked into ``tmp-<cache-id>`` and renamed into
place inside the transaction that records it; ``gc()`` at start-up removes
whatever a crash left between the two (temp dirs, unrecorded layer dirs,
records nobody references).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from dockyard.errors import DockyardError, NotFound, os_error
from dockyard.image import overlay, tarsplit
from dockyard.image.unpack import apply_tar
from dockyard.state.db import Database

_LINK_ALPHABET = string.ascii_uppercase + string.digits
_LINK_LEN = 26
_EMPTY = "empty"
_RW_KEY = "rwlayer/"


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


@dataclass
class Layer:
    chain_id: str
    diff_id: str
    parent: str | None
    cache_id: str
    size: int


class IdMapping(Protocol):
    """What an idmapped mount needs of userns-remap (``daemon.userns.Remap``)."""

    root_uid: int
    root_gid: int

    def userns_fd(self) -> int: ...


class RWLayer:
    """A container's writable layer: upper, work and merged dirs over the image's layers."""

    def __init__(self, store: LayerStore, name: str, lower_links: list[str]) -> None:
        self._store = store
        self.name = name
        home = os.path.join(store.root, name)
        self.upper = os.path.join(home, "diff")
        self.work = os.path.join(home, "work")
        self.merged = os.path.join(home, "merged")
        self._links = lower_links  # "l/<short>", topmost first

    @property
    def lower(self) -> list[str]:
        """The image's diff dirs, topmost first."""
        return [os.path.realpath(os.path.join(self._store.root, link)) for link in self._links]

    def _mount_lower(self) -> list[str]:
        if not self._links:  # overlay needs at least one lowerdir
            return [os.path.join(self._store.root, _EMPTY)]
        return [os.path.join(self._store.root, link) for link in self._links]

    def mount(self, remap: IdMapping | None = None) -> str:
        """Mount the overlay at ``merged`` (idempotent) and return ``merged``.

        ``remap`` (userns-remap): the layers are seen through idmapped mounts and
        the upper dir belongs to the container's root on the host.
        """
        if overlay.is_mounted(self.merged):
            return self.merged
        try:
            if remap is None:
                self._store.kernel.mount_overlay(self._mount_lower(), self.upper, self.work, self.merged)
            else:
                # home is 0710: its group lets the container's root through to merged, as Docker's
                os.chown(os.path.dirname(self.upper), 0, remap.root_gid)
                for d in (self.upper, self.work):
                    os.chown(d, remap.root_uid, remap.root_gid)
                self._store.kernel.mount_overlay(self._mount_lower(), self.upper, self.work, self.merged,
                                                 remap.userns_fd(), os.path.join(os.path.dirname(self.upper),
                                                                                 "idmap"))
        except OSError as exc:
            raise os_error("mount overlay on", self.merged, exc) from None
        return self.merged

    def unmount(self) -> None:
        """Unmount ``merged`` if mounted (a busy mount is detached lazily)."""
        try:
            self._store.kernel.unmount(self.merged)
        except OSError as exc:
            raise os_error("unmount", self.merged, exc) from None

    def remove(self) -> None:
        """Unmount, drop the references on the image's layers, delete the directories (idempotent)."""
        self.unmount()
        gone = self._store._release_rw(self.name)
        shutil.rmtree(os.path.join(self._store.root, self.name), ignore_errors=True)
        self._store.remove_dirs(gone)

    def graphdriver_data(self) -> dict[str, str]:
        lower = self.lower
        return {"LowerDir": ":".join(lower) if lower else os.path.join(self._store.root, _EMPTY),
                "MergedDir": self.merged, "UpperDir": self.upper, "WorkDir": self.work}

    def size_rw(self) -> int:
        """Bytes of the files the container changed (its upper dir)."""
        return dir_size(self.upper)


def dir_size(path: str) -> int:
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if not os.path.isdir(os.path.join(dirpath, name)) or os.path.islink(os.path.join(dirpath, name)):
                total += st.st_size
    return total


class LayerStore:
    """Image layers (shared, refcounted) and container RW layers over overlayfs."""

    def __init__(self, data_root: str, db: Database,
                 image_chain: Callable[[str], list[str]] | None = None) -> None:
        self.root = os.path.join(data_root, "overlay2")
        self.db = db
        # image id -> its ChainIDs, bottom first; set by the image service.
        self.image_chain: Callable[[str], list[str]] = image_chain or (lambda image_id: [])
        os.makedirs(os.path.join(self.root, "l"), mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(self.root, _EMPTY), mode=0o755, exist_ok=True)
        self._kernel: overlay.Kernel | None = None
        self._links: dict[str, str] = {}  # chain id -> "l/<short>", cached
        # In-memory holds on layers registered but not yet referenced by an image:
        # a concurrent undo must not delete a layer another import is about to use.
        self._holds: dict[str, int] = {}
        self._holds_lock = threading.Lock()
        # unpacks a layer tar into a directory: the host's applier (unpack_windows on Windows)
        self.apply_tar: Callable[..., Any] = apply_tar
        # a container's RW layer: overlay here (a Windows engine's is a folder the layers are copied into)
        self.rw_layer: type[RWLayer] = RWLayer

    @property
    def kernel(self) -> overlay.Kernel:
        if self._kernel is None:
            self._kernel = overlay.Kernel()
        return self._kernel

    # -- read-only layers ----------------------------------------------------------

    def get(self, chain_id: str) -> Layer:
        row = self.db.query_one("SELECT * FROM layers WHERE chain_id=?", (chain_id,))
        if row is None:
            raise NotFound(f"layer does not exist: {chain_id}")
        return Layer(row["chain_id"], row["diff_id"], row["parent"], row["cache_id"], row["size"])

    def exists(self, chain_id: str) -> bool:
        return self.db.query_one("SELECT 1 FROM layers WHERE chain_id=?", (chain_id,)) is not None

    def diff_dir(self, chain_id: str) -> str:
        return os.path.join(self.root, self.get(chain_id).cache_id, "diff")

    def tar_stream(self, chain_id: str) -> tuple[int, BinaryIO]:
        """The layer's original tar (size, reader), reproduced byte for byte (``docker save``)."""
        layer = self.get(chain_id)
        home = os.path.join(self.root, layer.cache_id)
        record = os.path.join(home, tarsplit.FILENAME)
        if not os.path.exists(record):
            raise NotFound(f"layer {layer.diff_id} has no tar record: it cannot be exported")
        size = tarsplit.tar_size(record)
        reader = tarsplit.ReplayReader(tarsplit.replay(record, os.path.join(home, "diff"), layer.diff_id))
        return size, reader  # type: ignore[return-value]

    def link(self, chain_id: str) -> str:
        """``l/<short>`` of a layer (cached: the hot path of create_rw)."""
        link = self._links.get(chain_id)
        if link is None:
            cache_id = self.get(chain_id).cache_id
            with open(os.path.join(self.root, cache_id, "link")) as f:
                link = "l/" + f.read().strip()
            self._links[chain_id] = link
        return link

    def register(self, stream: BinaryIO, parent: str | None) -> Layer:
        """Unpack an uncompressed layer tar on top of ``parent``; returns the (new or existing) layer.

        The layer is recorded with refcount 0 and held in memory: the caller
        records its image (which takes references) and then calls ``drop_unused``
        with the chain, which releases the holds and removes the layers no image
        took.  On any failure nothing is left on disk.
        """
        cache_id = secrets.token_hex(32)
        tmp = os.path.join(self.root, f"tmp-{cache_id}")
        try:
            os.makedirs(os.path.join(tmp, "diff"), mode=0o755)
            result = self.apply_tar(stream, os.path.join(tmp, "diff"), os.path.join(tmp, tarsplit.FILENAME))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        chain = result.diff_id if parent is None else \
            "sha256:" + hashlib.sha256(f"{parent} {result.diff_id}".encode()).hexdigest()
        with self._holds_lock:
            self._holds[chain] = self._holds.get(chain, 0) + 1
        try:
            return self._commit(tmp, cache_id, chain, result.diff_id, parent, result.size)
        except BaseException:
            self._unhold([chain])
            raise

    def register_dir(self, diff: str, parent: str | None, write_tar: Callable[[object], int]) -> Layer | None:
        """Make the directory ``diff`` (overlay form, on this filesystem) a layer without copying it.

        ``write_tar(sink)`` writes the layer's tar to a sink (see
        ``commit.TarSink``) that hashes it into the DiffID and records it for
        ``docker save``; then ``diff`` is moved into place.  Returns None when
        the tar has no entries (nothing is moved).  A build step's upper dir
        becomes its layer this way: no second copy of its files, nothing to
        delete afterwards.
        """
        from dockyard.image.commit import TarSink

        cache_id = secrets.token_hex(32)
        tmp = os.path.join(self.root, f"tmp-{cache_id}")
        os.makedirs(tmp, mode=0o755)
        recorder = tarsplit.Recorder(os.path.join(tmp, tarsplit.FILENAME))
        try:
            sink = TarSink(recorder)
            entries = write_tar(sink)
            recorder.close()
            if not entries:
                shutil.rmtree(tmp, ignore_errors=True)
                return None
            os.rename(diff, os.path.join(tmp, "diff"))
        except BaseException:
            recorder.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        diff_id = "sha256:" + sink.sha.hexdigest()
        size = dir_size(os.path.join(tmp, "diff"))
        chain = diff_id if parent is None else \
            "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()
        with self._holds_lock:
            self._holds[chain] = self._holds.get(chain, 0) + 1
        try:
            return self._commit(tmp, cache_id, chain, diff_id, parent, size)
        except BaseException:
            self._unhold([chain])
            raise

    def hold(self, chain_id: str) -> None:
        """Keep an existing layer from ``drop_unused`` until the matching ``drop_unused``."""
        with self._holds_lock:
            self._holds[chain_id] = self._holds.get(chain_id, 0) + 1

    def _unhold(self, chain: list[str]) -> set[str]:
        """Release one hold per layer; returns the layers nobody holds any more."""
        free = set()
        with self._holds_lock:
            for cid in chain:
                n = self._holds.get(cid, 0) - 1
                if n > 0:
                    self._holds[cid] = n
                else:
                    self._holds.pop(cid, None)
                    free.add(cid)
        return free

    def _commit(self, tmp: str, cache_id: str, chain: str, diff_id: str, parent: str | None,
                size: int) -> Layer:
        final = os.path.join(self.root, cache_id)
        short = "".join(secrets.choice(_LINK_ALPHABET) for _ in range(_LINK_LEN))
        link_path = os.path.join(self.root, "l", short)
        try:
            with self.db.tx() as cur:
                row = cur.execute("SELECT * FROM layers WHERE chain_id=?", (chain,)).fetchone()
                if row is not None:  # already unpacked once: share it
                    shutil.rmtree(tmp, ignore_errors=True)
                    return Layer(row["chain_id"], row["diff_id"], row["parent"], row["cache_id"], row["size"])
                with open(os.path.join(tmp, "link"), "w") as f:
                    f.write(short)
                cur.execute("INSERT INTO layers(chain_id, diff_id, parent, cache_id, size, refcount) "
                            "VALUES (?,?,?,?,?,0)", (chain, diff_id, parent, cache_id, size))
                os.rename(tmp, final)
                try:
                    os.symlink(f"../{cache_id}/diff", link_path)
                except BaseException:
                    os.rename(final, tmp)
                    raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Layer(chain, diff_id, parent, cache_id, size)

    def acquire(self, cur: object, chain: list[str]) -> None:
        """Take one reference on each layer of ``chain`` (inside the caller's transaction)."""
        for cid in chain:
            cur.execute("UPDATE layers SET refcount=refcount+1 WHERE chain_id=?", (cid,))  # type: ignore[attr-defined]

    def release(self, cur: object, chain: list[str]) -> list[Layer]:
        """Drop one reference on each layer of ``chain``; returns the layers that reached 0.

        Their records are deleted in the caller's transaction; call
        ``remove_dirs`` with the result after it committed.
        """
        gone: list[Layer] = []
        for cid in reversed(chain):
            cur.execute("UPDATE layers SET refcount=refcount-1 WHERE chain_id=?", (cid,))  # type: ignore[attr-defined]
            row = cur.execute("SELECT * FROM layers WHERE chain_id=?", (cid,)).fetchone()  # type: ignore[attr-defined]
            if row is not None and row["refcount"] <= 0:
                cur.execute("DELETE FROM layers WHERE chain_id=?", (cid,))  # type: ignore[attr-defined]
                gone.append(Layer(row["chain_id"], row["diff_id"], row["parent"], row["cache_id"], row["size"]))
        return gone

    def drop_unused(self, chain: list[str]) -> None:
        """Release the holds of ``register``/``hold`` and remove the layers no image references."""
        free = self._unhold(chain)
        gone: list[Layer] = []
        with self.db.tx() as cur:
            for cid in chain:
                if cid not in free:
                    continue
                row = cur.execute("SELECT * FROM layers WHERE chain_id=? AND refcount<=0", (cid,)).fetchone()
                if row is not None:
                    cur.execute("DELETE FROM layers WHERE chain_id=?", (cid,))
                    gone.append(Layer(row["chain_id"], row["diff_id"], row["parent"], row["cache_id"], row["size"]))
        self.remove_dirs(gone)

    def remove_dirs(self, layers: list[Layer]) -> None:
        for layer in layers:
            self._links.pop(layer.chain_id, None)
            self._remove_cache_dir(layer.cache_id)

    def _remove_cache_dir(self, cache_id: str) -> None:
        home = os.path.join(self.root, cache_id)
        try:
            with open(os.path.join(home, "link")) as f:
                short = f.read().strip()
            if short and "/" not in short:
                os.unlink(os.path.join(self.root, "l", short))
        except FileNotFoundError:
            pass
        shutil.rmtree(home, ignore_errors=True)

    def gc(self) -> None:
        """Remove what a crash left: temp dirs, unreferenced records, unrecorded layer dirs."""
        with self.db.tx() as cur:
            cur.execute("DELETE FROM layers WHERE refcount <= 0")
        known = {r["cache_id"] for r in self.db.query("SELECT cache_id FROM layers")}
        for entry in os.listdir(self.root):
            path = os.path.join(self.root, entry)
            if entry.startswith("tmp-"):
                shutil.rmtree(path, ignore_errors=True)
            elif entry not in known and entry not in ("l", _EMPTY) and os.path.isfile(os.path.join(path, "link")) \
                    and not os.path.isdir(os.path.join(path, "work")):
                self._remove_cache_dir(entry)
        for short in os.listdir(os.path.join(self.root, "l")):
            link = os.path.join(self.root, "l", short)
            if not os.path.exists(link):
                os.unlink(link)

    # -- container RW layers ---------------------------------------------------------

    def create_rw(self, name: str, image_id: str | None) -> RWLayer:
        """Create the directories of a container's RW layer (no mount).

        The RW layer holds a reference on each of the image's layers (recorded
        under ``kv`` key ``rwlayer/<name>``), so removing the image while a
        container still uses it keeps its lower directories.
        """
        chain = list(self.image_chain(image_id)) if image_id else []
        links = [self.link(cid) for cid in reversed(chain)]
        home = os.path.join(self.root, name)
        try:
            os.mkdir(home, 0o710)
        except FileExistsError:
            raise DockyardError(f"RW layer {name} already exists") from None
        except OSError as exc:
            raise os_error("create RW layer", home, exc) from None
        try:
            for sub in ("diff", "work", "merged"):
                os.mkdir(os.path.join(home, sub), 0o755)
            with open(os.path.join(home, "lower"), "w") as f:
                f.write(":".join(links))
            with self.db.tx() as cur:
                if chain:
                    marks = ",".join("?" * len(chain))
                    found = cur.execute(f"SELECT count(*) FROM layers WHERE chain_id IN ({marks})",
                                        chain).fetchone()[0]
                    if found != len(set(chain)):
                        raise NotFound(f"No such image: {image_id}")
                cur.execute("INSERT INTO kv(key, value) VALUES (?, ?)",
                            (_RW_KEY + name, json.dumps({"image": image_id, "chain": chain})))
                self.acquire(cur, chain)
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        return self.rw_layer(self, name, links)

    def _release_rw(self, name: str) -> list[Layer]:
        with self.db.tx() as cur:
            row = cur.execute("SELECT value FROM kv WHERE key=?", (_RW_KEY + name,)).fetchone()
            if row is None:
                return []
            cur.execute("DELETE FROM kv WHERE key=?", (_RW_KEY + name,))
            return self.release(cur, list(json.loads(row["value"]).get("chain", [])))

    def rw_names(self) -> list[str]:
        """Every RW layer recorded (for the container service's clean-up of orphans)."""
        rows = self.db.query("SELECT key FROM kv WHERE key LIKE ?", (_RW_KEY + "%",))
        return [r["key"][len(_RW_KEY):] for r in rows]

    def rw_chain(self, name: str) -> list[str]:
        """The ChainIDs (bottom first) the RW layer ``name`` holds, from its record."""
        row = self.db.query_one("SELECT value FROM kv WHERE key=?", (_RW_KEY + name,))
        return list(json.loads(row["value"]).get("chain", [])) if row is not None else []

    def get_rw(self, name: str) -> RWLayer:
        """The RW layer called ``name`` (NotFound if it does not exist)."""
        if "/" in name or name in ("", ".", "..", "l", _EMPTY):
            raise NotFound(f"RW layer {name} does not exist")
        try:
            with open(os.path.join(self.root, name, "lower")) as f:
                text = f.read().strip()
        except FileNotFoundError:
            raise NotFound(f"RW layer {name} does not exist") from None
        return self.rw_layer(self, name, text.split(":") if text else [])
