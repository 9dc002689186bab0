"""The build service: ``POST /build`` from context stream to tagged image.

It unpacks the context (``build.context``), reads the Dockerfile, runs the
classic builder (``build.builder``) and tags the result.  It is the
builder's :class:`~dockyard.build.builder.BuildBackend`: RUN steps are
containers made, started, attached to and waited on through the container
service — the same path, and so the same security defaults, as ``docker
run`` — and every step is committed through the image service from the
step's overlay upper directory.  The cache is a table of
(parent image, step) → image in the ``kv`` table, checked against the image
store on every hit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar

from dockyard import errors
from dockyard.build.builder import Builder, BuildOptions, short
from dockyard.build.context import Context, drop_ignored_specials, unpack
from dockyard.daemon.names import new_id
from dockyard.image import reference as refmod
from dockyard.securejoin import secure_join

log = logging.getLogger("dockyard.build")

_CACHE_KEY = "buildcache/"
_LAYER_PREFIX = "build-"
T = TypeVar("T")


async def in_thread(fn: Callable[[], T]) -> T:
    """Run blocking work in a thread; if we are cancelled, let it finish first (its undo follows)."""
    fut = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        try:
            await fut
        except Exception:  # noqa: BLE001 - the cancellation is what we report
            pass
        raise


@dataclass
class BuildRequest:
    """Everything ``POST /build`` asked for, checked by the API layer."""

    options: BuildOptions
    tags: list[refmod.Reference] = field(default_factory=list)
    host_config: dict[str, Any] = field(default_factory=dict)


class BuildService:
    """Builds images; implements the builder's backend on top of the daemon's services."""

    def __init__(self, data_root: str, db: Any, images: Any, containers: Any, events: Any,
                 registry: Any = None) -> None:
        self.db = db
        self.registry = registry
        self.images = images
        self.containers = containers
        self.events = events
        self.tmp = os.path.join(data_root, "build", "tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp, mode=0o700, exist_ok=True)
        self._host_config: dict[str, Any] = {}
        for name in self.images.layers.rw_names():  # what a crash mid-step left
            if name.startswith(_LAYER_PREFIX):
                try:
                    self.images.layers.get_rw(name).remove()
                except (errors.DockyardError, OSError) as exc:
                    log.warning("removing build layer %s: %s", name, exc)

    # -- the build ------------------------------------------------------------------------
    async def build(self, body: BinaryIO, req: BuildRequest,
                    emit: Callable[[dict[str, Any]], Awaitable[None]]) -> str:
        """Run one build; messages go to ``emit``; returns the image ID."""
        dest = os.path.join(self.tmp, new_id())
        quiet = req.options.quiet
        held: list[dict[str, Any]] = []

        async def out(message: dict[str, Any]) -> None:
            if quiet:  # dockerd holds a quiet build's output and shows it only if the build fails
                held.append(message)
            else:
                await emit(message)

        ctx = await in_thread(lambda: unpack(body, dest, req.options.dockerfile))
        try:
            text = await in_thread(lambda: self._dockerfile_text(ctx, req.options.dockerfile))
            drop_ignored_specials(ctx)
            builder = Builder(_Backend(self, req.host_config), ctx, req.options, out)
            try:
                image_id = await builder.run(text)
            except Exception:
                for message in held:
                    await emit(message)
                raise
            unused = builder.unused_args()
            if unused:
                await out({"stream": f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"})
            await out({"stream": f"Successfully built {short(image_id)}\n"})
            for ref in req.tags:
                await in_thread(lambda r=ref: self.images.tag(image_id, r.name, r.tag))
                await out({"stream": f"Successfully tagged {ref.familiar()}\n"})
            if quiet:
                await emit({"stream": f"{image_id}\n"})
            return image_id
        finally:
            await in_thread(ctx.remove)

    @staticmethod
    def _dockerfile_text(ctx: Context, name: str) -> str:
        rel = os.path.normpath(name).lstrip("/")
        path = secure_join(ctx.root, rel)
        if not os.path.isfile(path):
            raise errors.InvalidParameter(
                f"Cannot locate specified Dockerfile: {name}")
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # -- cache ---------------------------------------------------------------------------
    def cache_get(self, key: str) -> str | None:
        row = self.db.query_one("SELECT value FROM kv WHERE key=?", (_CACHE_KEY + key,))
        if row is None:
            return None
        image_id = row["value"]
        return image_id if self.images.store.get(image_id) is not None else None

    def cache_put(self, key: str, image_id: str) -> None:
        with self.db.tx() as cur:
            cur.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (_CACHE_KEY + key, image_id))

    def cache_from(self, refs: list[str], parent: str, created_by: str, config: dict[str, Any]) -> str | None:
        """A ``--cache-from`` image (or one of its local parents) that continues the parent with this step.

        dockerd's rule: the candidate's history starts with the parent's (entry
        for entry) and its layers with the parent's, and its next history entry
        is this step.  When the candidate goes on past this step (an image
        loaded without its intermediate images), the image of this step is made
        again from the candidate's layers.
        """
        parent_img = self.images.store.get(parent) if parent else None
        parent_hist = list((parent_img.config.get("history") or []) if parent_img else [])
        parent_diffs = parent_img.diff_ids if parent_img else []
        n = len(parent_hist)
        for ref in refs:
            try:
                img = self.images.resolve(ref)
            except errors.NotFound:
                continue
            for candidate in self._ancestry(img):
                hist = candidate.config.get("history") or []
                if len(hist) <= n or hist[:n] != parent_hist or hist[n].get("created_by") != created_by:
                    continue
                if candidate.diff_ids[:len(parent_diffs)] != parent_diffs:
                    continue
                if len(hist) == n + 1:
                    return candidate.id
                return self._restore(parent_img, candidate, n, config)
        return None

    def _restore(self, parent: Any, candidate: Any, n: int, config: dict[str, Any]) -> str | None:
        """The image of step ``n`` of ``candidate``: its history and layers up to there, on ``parent``."""
        from dockyard.image.archive import rfc3339_nano
        from dockyard.image.layers import chain_ids

        entry = candidate.config["history"][n]
        diffs = list(parent.diff_ids if parent else [])
        if not entry.get("empty_layer"):
            if len(candidate.diff_ids) <= len(diffs):
                return None
            diffs.append(candidate.diff_ids[len(diffs)])
        chain = chain_ids(diffs)
        size = sum(self.images.layers.get(c).size for c in chain) if chain else 0
        cfg = {key: candidate.config[key] for key in ("architecture", "os", "variant", "docker_version")
               if key in candidate.config}
        cfg.update({"config": config, "created": entry.get("created", ""),
                    "history": candidate.config["history"][:n + 1],
                    "rootfs": {"type": "layers", "diff_ids": diffs}})
        img, _ = self.images.store.add(json.dumps(cfg, separators=(",", ":")).encode(), size, rfc3339_nano(),
                                       parent=parent.id if parent else "")
        return img.id

    def _ancestry(self, img: Any) -> list[Any]:
        out = []
        while img is not None:
            out.append(img)
            img = self.images.store.get(img.parent) if getattr(img, "parent", "") else None
        return out

    def prune(self, all_: bool = False) -> dict[str, Any]:
        """``docker builder prune``: forget the cache records (the images stay until image prune)."""
        rows = self.db.query("SELECT key, value FROM kv WHERE key LIKE ?", (_CACHE_KEY + "%",))
        with self.db.tx() as cur:
            cur.execute("DELETE FROM kv WHERE key LIKE ?", (_CACHE_KEY + "%",))
        return {"CachesDeleted": sorted({r["key"][len(_CACHE_KEY):] for r in rows}) or None, "SpaceReclaimed": 0}


class _Backend:
    """The builder's view of the daemon for one build (it carries the build's HostConfig)."""

    def __init__(self, svc: BuildService, host_config: dict[str, Any]) -> None:
        self.svc = svc
        self.host_config = host_config

    def image(self, ref: str) -> tuple[str, dict[str, Any]]:
        img = self.svc.images.resolve(ref)
        return img.id, img.config

    def has_image(self, ref: str) -> bool:
        try:
            self.svc.images.resolve(ref)
        except errors.NotFound:
            return False
        return True

    async def fetch(self, url: str, dest: str) -> str:
        """ADD <url>: download to ``dest`` (mode 0600, mtime from Last-Modified, as dockerd); its sha256."""
        import email.utils
        import hashlib

        import aiohttp

        sha = hashlib.sha256()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
                async with session.get(url) as resp:
                    if resp.status >= 400:
                        raise errors.InvalidParameter(
                            f"failed to GET {url} with status {resp.status} {resp.reason}")
                    with open(dest, "wb") as f:
                        async for chunk in resp.content.iter_chunked(1 << 20):
                            sha.update(chunk)
                            f.write(chunk)
                    modified = resp.headers.get("Last-Modified")
        except aiohttp.ClientError as exc:
            raise errors.InvalidParameter(f"failed to GET {url}: {exc}") from None
        os.chmod(dest, 0o600)
        if modified:
            try:
                ts = email.utils.parsedate_to_datetime(modified).timestamp()
                os.utime(dest, (ts, ts))
            except (TypeError, ValueError):
                pass
        return sha.hexdigest()

    async def pull(self, ref: str) -> list[dict[str, Any]]:
        """Pull ``ref`` from its registry (FROM of an image not here, or ``--pull``); the progress messages."""
        if self.svc.registry is None:
            raise errors.NotFound(f"No such image: {ref}")
        messages: list[dict[str, Any]] = []
        parsed = refmod.parse_normalized(ref)
        if parsed.tag is None and parsed.digest is None:
            parsed = parsed.with_default_tag()  # FROM busybox is busybox:latest (no tag would pull every tag)
        await self.svc.registry.pull(str(parsed), None, None, None, messages.append)
        return messages

    def new_id(self) -> str:
        return new_id()

    async def run(self, image_id: str, config: dict[str, Any],
                  output: Callable[[int, bytes], Awaitable[None]],
                  started: Callable[[str], Awaitable[None]], volumes: list[str]) -> tuple[str, int]:
        containers = self.svc.containers
        cfg = dict(config)
        cfg.update({"Image": image_id, "AttachStdout": True, "AttachStderr": True, "Tty": False,
                    "OpenStdin": False, "StdinOnce": False})
        c = await containers.create(None, cfg, dict(self.host_config))
        try:
            if volumes:  # where dockerd would mount the anonymous volumes: the directories exist
                upper = self.svc.images.layers.get_rw(c.Id).upper
                for path in volumes:
                    os.makedirs(secure_join(upper, path), 0o755, exist_ok=True)
            await started(c.Id)
            attach = asyncio.ensure_future(containers.wait_for_attach(c.Id))
            await asyncio.sleep(0)
            await containers.start(c.Id)
            sub = await attach
            try:
                while True:
                    item = await sub.read()
                    if item is None:
                        break
                    for stream, data in _coalesce([item] + sub.take_ready()):
                        await output(stream, data)
            finally:
                sub.close()
            result = await containers.wait(c.Id)
            return c.Id, int(result["StatusCode"])
        except BaseException:
            await asyncio.shield(self.remove_container(c.Id))
            raise

    async def remove_container(self, cid: str) -> None:
        try:
            await self.svc.containers.remove(cid, force=True)
        except errors.NotFound:
            pass

    async def with_layer(self, image_id: str, work: Callable[[str, dict[str, str]], None],
                         sources: tuple[str, ...] = ()) -> str:
        layers = self.svc.images.layers

        def go() -> str:
            made = []
            try:
                name = _LAYER_PREFIX + new_id()
                rw = layers.create_rw(name, image_id or None)
                made.append(rw)
                rw.mount()
                roots = {}
                for src in sources:
                    srw = layers.create_rw(_LAYER_PREFIX + new_id(), src or None)
                    made.append(srw)
                    roots[src] = srw.mount()
                work(rw.merged, roots)
                rw.unmount()
                for other in made[1:]:
                    other.remove()
                return name
            except BaseException:
                for other in made:
                    other.remove()
                raise

        return await in_thread(go)

    async def drop_layer(self, name: str) -> None:
        await in_thread(lambda: self.svc.images.layers.get_rw(name).remove())

    async def commit(self, rw_name: str | None, parent: str, config: dict[str, Any], created_by: str,
                     author: str = "", discard: list[str] | None = None, keep_init_files: bool = False) -> str:
        def go() -> str:
            if rw_name:
                rw = self.svc.images.layers.get_rw(rw_name)
                rw.unmount()  # the step is over; its upper dir becomes the layer (move_upper)
                if discard:
                    _discard_below(rw.upper, discard)
            return self.svc.images.commit(rw_name, parent or None, config, container_id=rw_name or "",
                                          author=author, created_by=created_by, move_upper=bool(rw_name),
                                          keep_init_files=keep_init_files)

        return await in_thread(go)

    def cache_get(self, key: str) -> str | None:
        return self.svc.cache_get(key)

    def cache_put(self, key: str, image_id: str) -> None:
        self.svc.cache_put(key, image_id)

    def cache_from(self, images: list[str], parent: str, created_by: str, config: dict[str, Any]) -> str | None:
        return self.svc.cache_from(images, parent, created_by, config)



def _discard_below(upper: str, paths: list[str]) -> None:
    """Drop a step's changes below the VOLUME paths from its upper dir (the directories stay)."""
    for path in paths:
        target = secure_join(upper, path)
        if os.path.isdir(target) and not os.path.islink(target):
            for name in os.listdir(target):
                child = os.path.join(target, name)
                if os.path.isdir(child) and not os.path.islink(child):
                    shutil.rmtree(child)
                else:
                    os.unlink(child)


def _coalesce(items: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Join neighbouring chunks of one stream: dockerd reads the output in large reads, so a
    program's small writes that arrive together reach the client as one message."""
    out: list[tuple[int, bytes]] = []
    for stream, data in items:
        if out and out[-1][0] == stream:
            out[-1] = (stream, out[-1][1] + data)
        else:
            out.append((stream, data))
    return out
