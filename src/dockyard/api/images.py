"""Routes: /images/... — parse, call the image service, serialize.

Image names may contain ``/`` (``localhost:5000/a/b``), hence the ``{name:.+}``
patterns.  Long operations (import, save, load) run in an executor thread; the
request body reaches them through a small blocking reader.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api import distribution
from dockyard.api.bodies import ContainerConfig
from dockyard.api.helpers import (json_response, query_bool, query_filters, read_json, stream_from_thread,
                                  version_less_than)


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    r = router.add_route
    r("POST", "/images/create", create)
    r("POST", "/commit", commit)
    r("GET", "/images/json", list_)
    r("POST", "/images/prune", prune)
    r("GET", "/images/get", save_many)
    r("POST", "/images/load", load)
    r("GET", "/images/{name:.+}/json", inspect)
    r("GET", "/images/{name:.+}/history", history)
    r("GET", "/images/{name:.+}/get", save_one)
    r("POST", "/images/{name:.+}/tag", tag)
    r("POST", "/images/{name:.+}/push", push)
    r("DELETE", "/images/{name:.+}", remove)


def _svc(request: web.Request) -> Any:
    return request.app["backends"].images


class BodyReader:
    """A blocking ``read(n)`` over the request body, for code running in an executor thread.

    With ``prefetch`` a task keeps reading the body (up to a few MB ahead)
    while the thread works on what it has, so the client's upload and the
    thread's work overlap; call :meth:`close` when done.
    """

    PREFETCH_CHUNKS = 8

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop, *, prefetch: bool = False) -> None:
        self._content = request.content
        self._loop = loop
        self._buf = bytearray()
        self._eof = False
        self._queue: asyncio.Queue[bytearray] | None = None
        self._task: asyncio.Task[None] | None = None
        if prefetch:
            self._queue = asyncio.Queue(maxsize=self.PREFETCH_CHUNKS)
            self._task = loop.create_task(self._pump())

    async def _gather(self, want: int) -> bytearray:
        """What the body has, up to ``want`` bytes at least when it has them (one hop per ~MB);
        a bytearray handed over as it is (no copy on either side of the hop)."""
        got = bytearray()
        while len(got) < want:
            chunk = await self._content.readany()
            if not chunk:
                break
            got += chunk
        return got

    async def _pump(self) -> None:
        assert self._queue is not None
        while True:
            chunk = await self._gather(1 << 20)
            await self._queue.put(chunk)
            if not chunk:
                return

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _fill(self, want: int = 1 << 20) -> bool:
        if self._eof:
            return False
        source = self._queue.get() if self._queue is not None else self._gather(want)
        chunk = asyncio.run_coroutine_threadsafe(source, self._loop).result()
        if not chunk:
            self._eof = True
            return False
        if self._buf:
            self._buf += chunk
        else:
            self._buf = chunk
        return True

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self._buf) < n) and self._fill():
            pass
        if n < 0 or n >= len(self._buf):
            data = bytes(self._buf)
            self._buf.clear()
        else:
            with memoryview(self._buf) as view:  # one copy, not a bytearray slice and then bytes
                data = bytes(view[:n])
            del self._buf[:n]
        return data

    def readable(self) -> bool:
        return True


async def _progress(request: web.Request, messages: list[dict[str, Any]]) -> web.StreamResponse:
    """Docker's progress JSON stream: one object per line."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for m in messages:
        await resp.write(json.dumps(m).encode() + b"\n")
    await resp.write_eof()
    return resp


async def create(request: web.Request) -> web.StreamResponse:
    """``POST /images/create``: import (``fromSrc``) or pull (``fromImage``)."""
    svc = _svc(request)
    q = request.query
    if "fromSrc" in q:
        src = q["fromSrc"]
        if src != "-":
            raise errors.InvalidParameter(f"importing from a URL is not supported: {src}")
        repo, tag = q.get("repo") or None, q.get("tag") or None
        changes, message, platform = q.getall("changes", []), q.get("message", ""), q.get("platform") or None
        svc.check_import(repo, tag, changes, platform)  # fail before reading the body
        loop = asyncio.get_running_loop()
        image_id = await loop.run_in_executor(None, lambda: svc.import_image(
            BodyReader(request, loop), repo, changes, message, platform, tag))
        return await _progress(request, [{"status": image_id}])
    if "fromImage" in q:
        return await _pull(request, q["fromImage"], q.get("tag") or None)
    raise errors.InvalidParameter("either fromSrc or fromImage is required")


async def _pull(request: web.Request, name: str, tag: str | None) -> web.StreamResponse:
    return await distribution.pull(request, name, tag)


async def push(request: web.Request) -> web.StreamResponse:
    return await distribution.push(request)


async def commit(request: web.Request) -> web.Response:
    """``POST /commit``: a container's changes as a new image (the container keeps running)."""
    q = request.query
    containers = request.app["backends"].containers
    c = containers.get(q.get("container", ""))
    body = await read_json(request, schema=ContainerConfig)
    config = dict(c.Config)
    for key, value in body.items():  # the request's config overrides the container's where given
        if value not in (None, "", [], {}):
            config[key] = value
    svc = _svc(request)
    loop = asyncio.get_running_loop()
    image_id = await loop.run_in_executor(None, lambda: svc.commit(
        c.Id, c.Image, config, container_id=c.Id, repo=q.get("repo") or None, tag=q.get("tag") or None,
        comment=q.get("comment", ""), author=q.get("author", ""), changes=q.getall("changes", [])))
    request.app["backends"].events.emit("container", "commit", c.Id, {
        "comment": q.get("comment", ""), "imageID": image_id, "imageRef": q.get("repo", ""), "name": c.Name})
    return json_response({"Id": image_id}, status=201)


async def list_(request: web.Request) -> web.Response:
    filters = query_filters(request)
    legacy = request.query.get("filter")
    if legacy and version_less_than(request, "1.41"):
        filters.setdefault("reference", []).append(legacy)
    items = _svc(request).list_images(all=query_bool(request, "all"), filters=filters,
                                      digests=query_bool(request, "digests"))
    if version_less_than(request, "1.44"):
        for item in items:
            item["VirtualSize"] = item["Size"]
    return json_response(items)


async def inspect(request: web.Request) -> web.Response:
    data = _svc(request).inspect(request.match_info["name"])
    if version_less_than(request, "1.44"):
        data["VirtualSize"] = data["Size"]
    if version_less_than(request, "1.45"):
        data["Container"] = ""
        data["ContainerConfig"] = _svc(request).empty_container_config()
    return json_response(data)


async def history(request: web.Request) -> web.Response:
    return json_response(_svc(request).history(request.match_info["name"]))


async def tag(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    if not repo:
        raise errors.InvalidParameter("repository name must have at least one component")
    _svc(request).tag(request.match_info["name"], repo, request.query.get("tag") or None)
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    """``docker rmi`` on a worker thread: deleting a big image's layers takes seconds (as prune)."""
    svc, name = _svc(request), request.match_info["name"]
    force, noprune = query_bool(request, "force"), query_bool(request, "noprune")
    records = await asyncio.get_running_loop().run_in_executor(None, lambda: svc.delete(name, force, noprune))
    return json_response(records)


async def prune(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    filters = query_filters(request)
    return json_response(await loop.run_in_executor(None, _svc(request).prune, filters))


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    svc = _svc(request)
    plan = svc.save_plan(names)  # resolves every name first: errors before the stream starts
    resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
    await resp.prepare(request)
    await stream_from_thread(request, resp, lambda sink: svc.save(plan, sink))
    await resp.write_eof()
    return resp


async def save_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def save_many(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


async def load(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    loop = asyncio.get_running_loop()
    try:
        lines = await loop.run_in_executor(None, svc.load, BodyReader(request, loop))
    except errors.DockyardError as exc:
        # dockerd answers 200 and puts the error in the progress stream, where docker-py
        # raises ImageLoadError and the CLI prints it and exits 1
        return await _progress(request, [{"errorDetail": {"message": exc.message}, "error": exc.message}])
    # dockerd prints the same lines with or without ?quiet (quiet only drops progress bars)
    return await _progress(request, [{"stream": f"Loaded image: {line}\n"} if not line.startswith("sha256:")
                                     else {"stream": f"Loaded image ID: {line}\n"} for line in lines])
