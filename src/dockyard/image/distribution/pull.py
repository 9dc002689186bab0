"""``docker pull``: a manifest, its config and layers from a registry into the stores.

The order of events and the progress lines are dockerd's: the manifest
(resolved through an index for the wanted platform), then ``Pulling from``;
one line per layer (``Already exists`` or ``Pulling fs layer``, ``Waiting``
beyond the download limit); downloads run concurrently (at most
``max-concurrent-downloads``), each streamed into a temp file while hashed,
then verified; layers are unpacked in order, each as soon as it and its
parent are ready, decompressing from the file on the fly; the image is
recorded last, in one transaction with its tags.  Nothing is recorded for a
failed or cancelled pull: temp files go, registered layers no image took are
removed (``drop_unused``), and the temp dir is emptied at the next start.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.errors import InvalidParameter
from dockyard.image import reference as refmod
from dockyard.image.archive import open_layer_stream, rfc3339_nano
from dockyard.image.distribution import manifest as mf
from dockyard.image.distribution import metadata
from dockyard.image.distribution import progress as pg
from dockyard.image.distribution.client import RepoClient
from dockyard.image.layers import Layer, LayerStore, chain_ids
from dockyard.image.store import ImageStore
from dockyard.state.db import Database

Emit = Callable[[dict[str, Any]], None]


@dataclass
class PullTarget:
    """Where a pull lands: the stores, their lock, a temp dir, the download limit."""

    layers: LayerStore
    store: ImageStore
    db: Database
    lock: threading.RLock
    tmp_dir: str
    max_downloads: int = 3


@dataclass
class Resolved:
    """A manifest fetched for a reference: what RepoDigests will name, and the image manifest."""

    digest: str            # the digest of what the tag pointed at (an index or a manifest)
    manifest: mf.Manifest


async def resolve(client: RepoClient, ref: refmod.Reference, platform: mf.Platform,
                  explicit_platform: bool) -> Resolved:
    """Fetch the manifest for ``ref`` (through an index when there is one) and verify digests."""
    wanted = ref.digest or ref.tag or refmod.DEFAULT_TAG
    body, ctype = await client.get_manifest(wanted)
    top_digest = mf.sha256_digest(body)
    if ref.digest is not None and top_digest != ref.digest:
        raise InvalidParameter(f"manifest verification failed for digest {ref.digest}")
    parsed = mf.parse(body, ctype)
    if isinstance(parsed, mf.Index):
        desc = mf.select_platform(parsed, platform)
        body, ctype = await client.get_manifest(desc.digest)
        if mf.sha256_digest(body) != desc.digest:
            raise InvalidParameter(f"manifest verification failed for digest {desc.digest}")
        parsed = mf.parse(body, ctype)
        if isinstance(parsed, mf.Index):
            raise InvalidParameter(f"manifest {desc.digest} is an index inside an index")
    return Resolved(top_digest, parsed)


class _Throttle:
    """dockerd's progress rate: a line per 1% of the total and at most one per 100 ms, plus the last."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.last_n = 0
        self.last_t = 0.0

    def due(self, n: int) -> bool:
        now = time.monotonic()
        if n >= self.total > self.last_n or (n - self.last_n >= self.total / 100 and now - self.last_t >= 0.1):
            self.last_n, self.last_t = n, now
            return True
        return False


class _CountingReader:
    """Counts the compressed bytes the unpacker consumed, for the ``Extracting`` bar."""

    def __init__(self, raw: BinaryIO, report: Callable[[int], None]) -> None:
        self._raw = raw
        self._report = report
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.count += len(data)
        self._report(self.count)
        return data

    def readable(self) -> bool:
        return True


async def pull(target: PullTarget, client: RepoClient, ref: refmod.Reference, resolved: Resolved,
               emit: Emit) -> str:
    """Download and record the image; returns its ID.  ``emit`` gets the progress lines."""
    loop = asyncio.get_running_loop()
    man = resolved.manifest
    wanted = ref.digest or ref.tag or refmod.DEFAULT_TAG
    emit(pg.message(f"Pulling from {ref.path}", wanted))
    config_bytes = await client.get_blob_bytes(man.config)
    try:
        config = json.loads(config_bytes)
        diff_ids = list(config["rootfs"]["diff_ids"])
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter(f"invalid image config {man.config.digest}: no rootfs.diff_ids") from None
    if len(diff_ids) != len(man.layers):
        raise InvalidParameter(f"invalid image {man.config.digest}: {len(man.layers)} layers for "
                               f"{len(diff_ids)} diff IDs")
    chain = chain_ids(diff_ids)
    held: list[str] = []
    missing: list[int] = []
    for i, cid in enumerate(chain):
        target.layers.hold(cid)
        held.append(cid)
        if target.layers.exists(cid):
            emit(pg.status("Already exists", pg.short(man.layers[i].digest)))
        else:
            missing.append(i)
            emit(pg.status("Pulling fs layer", pg.short(man.layers[i].digest)))
    for n, i in enumerate(missing):
        if n >= target.max_downloads:
            emit(pg.status("Waiting", pg.short(man.layers[i].digest)))
    os.makedirs(target.tmp_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pull-", dir=target.tmp_dir)
    sem = asyncio.Semaphore(max(1, target.max_downloads))
    downloads: dict[int, asyncio.Task[str]] = {}
    registered: list[str] = []
    try:
        for i in missing:
            downloads[i] = asyncio.ensure_future(_download(client, man.layers[i], work, sem, emit))
        parent: str | None = None
        size = 0
        for i, cid in enumerate(chain):
            if i not in downloads:
                layer = target.layers.get(cid)
            else:
                path = await downloads[i]
                layer = await _extract(loop, target.layers, path, parent, man.layers[i], emit, registered)
                if layer.diff_id != diff_ids[i]:
                    raise InvalidParameter(f"layer {man.layers[i].digest}: diff ID mismatch: the config says "
                                           f"{diff_ids[i]}, the layer is {layer.diff_id}")
                os.unlink(path)
                emit(pg.status("Pull complete", pg.short(man.layers[i].digest)))
            parent = layer.chain_id
            size += layer.size
        refs = [refmod.Reference(ref.domain, ref.path, None, resolved.digest)]
        if ref.digest is None:
            refs.insert(0, ref.with_default_tag())
        image_id = await loop.run_in_executor(None, _record, target, config_bytes, size, refs)
        for i, layer_desc in enumerate(man.layers):
            metadata.add(target.db, diff_ids[i], metadata.BlobSource(layer_desc.digest, ref.domain, ref.path))
        return image_id
    finally:
        for task in downloads.values():
            task.cancel()
        await asyncio.gather(*downloads.values(), return_exceptions=True)
        shutil.rmtree(work, ignore_errors=True)
        await loop.run_in_executor(None, target.layers.drop_unused, held + registered)


def _record(target: PullTarget, config_bytes: bytes, size: int, refs: list[refmod.Reference]) -> str:
    with target.lock:
        img, _ = target.store.add(config_bytes, size, rfc3339_nano(), refs=refs)
    return img.id


async def _download(client: RepoClient, desc: mf.Descriptor, work: str, sem: asyncio.Semaphore,
                    emit: Emit) -> str:
    short = pg.short(desc.digest)
    async with sem:
        path = os.path.join(work, desc.digest.split(":", 1)[1])
        throttle = _Throttle(desc.size)

        async def progress(n: int) -> None:
            if throttle.due(n):
                emit(pg.progress("Downloading", short, n, desc.size))

        with open(path, "wb") as f:
            await client.download(desc, f, progress)
            emit(pg.status("Verifying Checksum", short))
        emit(pg.status("Download complete", short))
        return path


async def _extract(loop: asyncio.AbstractEventLoop, layers: LayerStore, path: str, parent: str | None,
                   desc: mf.Descriptor, emit: Emit, registered: list[str]) -> Layer:
    """Unpack one downloaded layer in a worker thread (decompressed on the fly from the file)."""
    short = pg.short(desc.digest)
    throttle = _Throttle(desc.size)

    def report(n: int) -> None:
        if throttle.due(n):
            loop.call_soon_threadsafe(emit, pg.progress("Extracting", short, min(n, desc.size), desc.size))

    def run() -> Layer:
        with open(path, "rb") as f:
            stream = open_layer_stream(_CountingReader(f, report), threaded=True)  # type: ignore[arg-type]
            try:
                return layers.register(stream, parent)
            finally:
                stream.close()

    fut = loop.run_in_executor(None, run)
    try:
        layer = await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait([fut])  # the thread cannot be stopped: let it finish, then undo
        if not fut.cancelled() and fut.exception() is None:
            registered.append(fut.result().chain_id)
        raise
    registered.append(layer.chain_id)
    return layer

