"""Routes: /_ping, /version, /info, /events."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from dockyard.api.helpers import json_response, query_filters, query_time_ns, version_less_than
from dockyard.errors import InvalidParameter

NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
            "Builder-Version": "1"}


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    router.add_route("GET", "/_ping", ping)
    router.add_route("HEAD", "/_ping", ping)
    router.add_route("GET", "/version", version)
    router.add_route("GET", "/info", info)
    router.add_route("GET", "/events", events)
    router.add_route("GET", "/system/df", disk_usage)


async def ping(request: web.Request) -> web.Response:
    body = b"" if request.method == "HEAD" else b"OK"
    return web.Response(body=body, content_type="text/plain", charset="utf-8", headers=NO_CACHE)


async def version(request: web.Request) -> web.Response:
    return json_response(request.app["backends"].system.version())


async def info(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    data = await loop.run_in_executor(None, request.app["backends"].system.info)
    return json_response(data)


async def disk_usage(request: web.Request) -> web.Response:
    """``GET /system/df``; ``type`` filters from API 1.42, ``VirtualSize`` below 1.44 (moby's router)."""
    types = None if version_less_than(request, "1.42") else request.query.getall("type", []) or None
    for t in types or []:
        if t not in ("container", "image", "volume", "build-cache"):
            raise InvalidParameter(f"unknown object type: {t}")
    loop = asyncio.get_running_loop()
    data = await loop.run_in_executor(None, request.app["backends"].system.disk_usage, types)
    if version_less_than(request, "1.44"):
        for img in data.get("Images") or []:
            img["VirtualSize"] = img["Size"]
    return json_response(data)


async def events(request: web.Request) -> web.StreamResponse:
    from dockyard.daemon.eventfilter import check_filters, match_event as _matches

    svc = request.app["backends"].events
    filters = query_filters(request)
    bad = check_filters(filters)
    if bad:
        raise InvalidParameter(f"invalid filter '{bad}'")
    since = query_time_ns(request, "since")
    until = query_time_ns(request, "until")
    if since is not None and until is not None and since > until:
        raise InvalidParameter(f"`since` time ({since // 10**9}) cannot be after `until` time ({until // 10**9})")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    queue = svc.subscribe()
    try:
        if since is not None or until is not None:  # --until alone replays from the oldest kept event
            for ev in svc.since(since or 0, until):
                if _matches(ev, filters):
                    await resp.write(json.dumps(ev).encode() + b"\n")
        while True:
            timeout = None if until is None else max(0.0, until / 1e9 - time.time())
            if timeout == 0.0:
                break
            try:
                ev = await asyncio.wait_for(queue.get(), timeout)
            except asyncio.TimeoutError:
                break
            if _matches(ev, filters):
                await resp.write(json.dumps(ev).encode() + b"\n")
    finally:
        svc.unsubscribe(queue)
    return resp
