"""Routes: pull (``POST /images/create?fromImage=``), push, and ``POST /auth`` (docker login).

Pull and push answer with Docker's progress stream.  The work runs as a task
that puts lines into a queue; this handler writes them.  An error before the
first line is a plain HTTP error (dockerd answers a 404 for an unknown
manifest that way); after it, an ``errorDetail`` line, which the CLI prints
and exits 1 on.  A client that goes away cancels the work, whose clean-up
removes what it had written.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.helpers import json_response, read_json
from dockyard.image.distribution import progress as pg

Emit = Callable[[dict[str, Any]], None]


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    router.add_route("POST", "/auth", auth)
    router.add_route("GET", "/distribution/{name:.+}/json", inspect_distribution)


def _svc(request: web.Request) -> Any:
    return request.app["backends"].registry


async def stream_progress(request: web.Request, work: Callable[[Emit], Awaitable[None]]) -> web.StreamResponse:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.ensure_future(work(queue.put_nowait))
    resp: web.StreamResponse | None = None

    async def write(msg: dict[str, Any]) -> None:
        nonlocal resp
        if resp is None:
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await resp.prepare(request)
        await resp.write(json.dumps(msg, separators=(",", ":")).encode() + b"\r\n")

    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await write(getter.result())
                continue
            getter.cancel()
            while not queue.empty():
                await write(queue.get_nowait())
            exc = task.exception()
            if exc is not None:
                if resp is None:
                    raise exc
                message = exc.message if isinstance(exc, errors.DockyardError) else f"{type(exc).__name__}: {exc}"
                await write(pg.error(message))
            break
    except BaseException:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        raise
    if resp is None:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
    await resp.write_eof()
    return resp


async def pull(request: web.Request, name: str, tag: str | None) -> web.StreamResponse:
    svc = _svc(request)
    platform = request.query.get("platform") or None
    header = request.headers.get("X-Registry-Auth")
    return await stream_progress(request, lambda emit: svc.pull(name, tag, platform, header, emit))


async def push(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    name = request.match_info["name"]
    tag = request.query.get("tag") or None
    header = request.headers.get("X-Registry-Auth")
    if request.query.get("platform"):
        raise errors.InvalidParameter("push: the platform option is not supported yet")
    return await stream_progress(request, lambda emit: svc.push(name, tag, header, emit))


async def auth(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await _svc(request).login(body))


async def inspect_distribution(request: web.Request) -> web.Response:
    """``GET /distribution/{name}/json`` (docker-py's ``get_registry_data``, ``docker buildx``, compose)."""
    data = await _svc(request).inspect_distribution(request.match_info["name"],
                                                    request.headers.get("X-Registry-Auth"))
    return json_response(data)
