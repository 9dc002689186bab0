"""``docker push``: an image's layers, config and a schema2 manifest to a registry.

Per layer, as dockerd: a blob this layer is known to have in this repository
(``metadata``) and that the registry still has (HEAD) is ``Layer already
exists``; one in another repository of the same registry is mounted
(``Mounted from …``); otherwise the layer tar is reproduced (tarsplit),
gzip-compressed (ISA-L) and hashed in a worker thread and streamed to the registry
as it is produced (POST, PATCH with the body, PUT ?digest=), at most
``max-concurrent-uploads`` at a time.  The manifest is Docker's schema2
(gzip layers), so the registry's digest is the one dockerd would get for
the same blobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from isal import isal_zlib

from dockyard.image import reference as refmod
from dockyard.image.distribution import manifest as mf
from dockyard.image.distribution import metadata
from dockyard.image.distribution import progress as pg
from dockyard.image.distribution.client import RepoClient
from dockyard.image.layers import LayerStore
from dockyard.image.store import Image
from dockyard.state.db import Database

Emit = Callable[[dict[str, Any]], None]
# ISA-L's default level: about the ratio of zlib/Go level 6 at 10-20x the speed (docs/decisions.md)
GZIP_LEVEL = isal_zlib.ISAL_DEFAULT_COMPRESSION


@dataclass
class PushSource:
    layers: LayerStore
    db: Database
    max_uploads: int = 5


@dataclass
class Pushed:
    digest: str
    size: int


async def push(src: PushSource, client: RepoClient, ref: refmod.Reference, img: Image, config_bytes: bytes,
               emit: Emit) -> Pushed:
    """Push ``img`` as ``ref`` (a tagged reference); returns the manifest's digest and size."""
    diff_ids = img.diff_ids
    ids = [pg.short(d) for d in diff_ids]
    for i in reversed(range(len(diff_ids))):
        emit(pg.status("Preparing", ids[i]))
    sem = asyncio.Semaphore(max(1, src.max_uploads))
    for n, i in enumerate(reversed(range(len(diff_ids)))):
        if n >= src.max_uploads:
            emit(pg.status("Waiting", ids[i]))
    tasks = [asyncio.ensure_future(_push_layer(src, client, ref, img.chain[i], diff_ids[i], sem, emit))
             for i in range(len(diff_ids))]
    try:
        descs = await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    config_desc = mf.Descriptor(mf.DOCKER_CONFIG, img.id, len(config_bytes))
    if not await client.blob_exists(img.id):
        await client.upload(img.id, config_bytes)
    body = mf.schema2_manifest(config_desc, list(descs))
    await client.put_manifest(ref.tag or refmod.DEFAULT_TAG, body, mf.DOCKER_MANIFEST)
    return Pushed(mf.sha256_digest(body), len(body))


async def _push_layer(src: PushSource, client: RepoClient, ref: refmod.Reference, chain_id: str, diff_id: str,
                      sem: asyncio.Semaphore, emit: Emit) -> mf.Descriptor:
    short = pg.short(diff_id)
    async with sem:
        sources = [s for s in metadata.lookup(src.db, diff_id) if s.registry == ref.domain]
        for s in sorted(sources, key=lambda s: s.repository != ref.path):
            size = await client.blob_size(s.digest) if s.repository == ref.path else None
            if size is not None:
                emit(pg.status("Layer already exists", short))
                return mf.Descriptor(mf.DOCKER_LAYER, s.digest, size)
        for s in sources:
            if s.repository == ref.path:
                continue
            location = await client.mount(s.digest, s.repository)
            if location is None:
                size = await client.blob_size(s.digest)
                if size is not None:
                    emit(pg.status(f"Mounted from {s.repository}", short))
                    metadata.add(src.db, diff_id, metadata.BlobSource(s.digest, ref.domain, ref.path))
                    return mf.Descriptor(mf.DOCKER_LAYER, s.digest, size)
        desc = await _upload(src.layers, client, chain_id, short, emit)
        metadata.add(src.db, diff_id, metadata.BlobSource(desc.digest, ref.domain, ref.path))
        emit(pg.status("Pushed", short))
        return desc


async def _upload(layers: LayerStore, client: RepoClient, chain_id: str, short: str, emit: Emit) -> mf.Descriptor:
    """Compress the layer in a thread while the registry receives it; the digest is known at the end."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)
    result: dict[str, Any] = {}
    stop = threading.Event()

    def produce() -> None:
        sha = hashlib.sha256()
        out_size = 0
        total, reader = layers.tar_stream(chain_id)
        comp = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
        done = 0
        last_t = 0.0

        def put(chunk: bytes | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()

        try:
            while not stop.is_set():
                data = reader.read(1 << 20)
                if not data:
                    break
                done += len(data)
                out = comp.compress(data)
                if out:
                    sha.update(out)
                    out_size += len(out)
                    put(out)
                now = time.monotonic()
                if now - last_t >= 0.1 or done >= total:
                    last_t = now
                    loop.call_soon_threadsafe(emit, pg.progress("Pushing", short, done, total))
            out = comp.flush()
            sha.update(out)
            out_size += len(out)
            put(out)
            result["digest"], result["size"] = "sha256:" + sha.hexdigest(), out_size
        finally:
            put(None)

    async def body() -> AsyncIterator[bytes]:
        while True:
            chunk = await queue.get()
            if chunk is None:
                return
            yield chunk

    fut = loop.run_in_executor(None, produce)
    try:
        location = await client.start_upload()
        location = await client.patch(location, body())
        await fut
        await client.finish_upload(location, result["digest"])
    finally:
        stop.set()
        while not fut.done():
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                await asyncio.sleep(0.01)
        await asyncio.wait([fut])
    return mf.Descriptor(mf.DOCKER_LAYER, result["digest"], result["size"])
