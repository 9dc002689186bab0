"""Routes: a container's files — ``docker cp`` (archive), ``docker diff`` (changes), ``docker export``."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.helpers import json_response, query_bool, stream_from_thread
from dockyard.api.images import BodyReader
from dockyard.containerfs.pathstat import encode_header
from dockyard.daemon.containers import archive as arch

STAT_HEADER = "X-Docker-Container-Path-Stat"
TAR = "application/x-tar"


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    r = router.add_route
    r("HEAD", "/containers/{id}/archive", stat_path)
    r("GET", "/containers/{id}/archive", get_archive)
    r("PUT", "/containers/{id}/archive", put_archive)
    r("GET", "/containers/{id}/export", export)
    r("GET", "/containers/{id}/changes", changes)


def _svc(request: web.Request) -> Any:
    return request.app["backends"].containers


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise errors.InvalidParameter("Path cannot be empty")
    return path


async def stat_path(request: web.Request) -> web.Response:
    """``HEAD``: the stat header alone; an error is its status with an empty body (HEAD has none)."""
    svc = _svc(request)
    try:
        c = svc.get(request.match_info["id"])
        path = _path(request)
        async with arch.container_root(svc, c) as rootfd:
            loop = asyncio.get_running_loop()
            st = await loop.run_in_executor(None, arch.stat_only, rootfd, path, c.Name)
    except errors.DockyardError as exc:
        return web.Response(status=exc.status)
    return web.Response(status=200, headers={STAT_HEADER: encode_header(st), "Content-Type": "application/json"})


async def get_archive(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    path = _path(request)
    loop = asyncio.get_running_loop()
    async with arch.container_root(svc, c) as rootfd:
        dirfd, base, st = await loop.run_in_executor(None, arch.stat_path, rootfd, path, c.Name)  # errors first
        # as moby, once the archive is found, before it is sent (a client that leaves early still counts);
        # moby's event carries no path
        svc.events.emit("container", "archive-path", c.Id, svc._event_attrs(c))
        try:
            resp = web.StreamResponse(headers={STAT_HEADER: encode_header(st), "Content-Type": TAR})
            await resp.prepare(request)
            await stream_from_thread(request, resp, lambda sink: arch.write_archive(dirfd, base, st, sink,
                                                                                    _id_unmap(svc, c)))
            await resp.write_eof()
        finally:
            arch.close_fd(dirfd)
    return resp


def _remap(svc: Any, c: Any) -> Any:
    from dockyard.daemon.userns import remap_of

    return remap_of(c, svc.cfg)


def _id_map(svc: Any, c: Any) -> Any:
    """Under userns-remap, what ``docker cp`` writes belongs to the container's ids on the host."""
    remap = _remap(svc, c)
    return remap.map_ids if remap is not None else None


def _id_unmap(svc: Any, c: Any) -> Any:
    """And what it reads shows the container's ids, not the host's (as dockerd's archive code)."""
    remap = _remap(svc, c)
    return remap.unmap_ids if remap is not None else None


async def put_archive(request: web.Request) -> web.Response:
    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    path = _path(request)
    loop = asyncio.get_running_loop()
    body = BodyReader(request, loop, prefetch=True)
    try:
        async with arch.container_root(svc, c) as rootfd:
            await loop.run_in_executor(None, lambda: arch.extract_archive(
                rootfd, path, c, body, no_overwrite_dir_non_dir=query_bool(request, "noOverwriteDirNonDir"),
                copy_uid_gid=query_bool(request, "copyUIDGID"), id_map=_id_map(svc, c)))
    finally:
        body.close()
    svc.events.emit("container", "extract-to-dir", c.Id, svc._event_attrs(c))  # moby's: no path
    return web.Response(status=200)


async def export(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    async with arch.container_root(svc, c, volumes=False) as rootfd:
        # dockerd sets no type here: Go's sniffing of a tar's first bytes answers octet-stream
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        await stream_from_thread(request, resp, lambda sink: arch.write_export(rootfd, sink, _id_unmap(svc, c)))
        await resp.write_eof()
    svc.events.emit("container", "export", c.Id, svc._event_attrs(c))
    return resp


async def changes(request: web.Request) -> web.Response:
    from dockyard.containerfs.changes import changes as list_changes

    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    rw = svc.images.layers.get_rw(c.Id)
    loop = asyncio.get_running_loop()
    return json_response(await loop.run_in_executor(None, list_changes, rw.upper, rw.lower) or None)
