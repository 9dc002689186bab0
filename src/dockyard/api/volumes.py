"""Routes: /volumes/... — parse, call the volume service, serialize."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.helpers import json_response, query_bool, query_filters, read_json, version_less_than


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    r = router.add_route
    r("GET", "/volumes", list_)
    r("POST", "/volumes/create", create)
    r("POST", "/volumes/prune", prune)
    r("GET", "/volumes/{name}", inspect)
    r("DELETE", "/volumes/{name}", remove)


def _svc(request: web.Request) -> Any:
    return request.app["backends"].volumes


def _str_map(body: dict[str, Any], key: str) -> dict[str, str]:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise errors.InvalidParameter(f"invalid {key}: expected an object")
    return {str(k): str(v) for k, v in value.items()}


async def list_(request: web.Request) -> web.Response:
    return json_response(_svc(request).list(query_filters(request)))


async def create(request: web.Request) -> web.Response:
    from dockyard.api.bodies import VolumeCreate

    body = await read_json(request, schema=VolumeCreate)
    if body.get("ClusterVolumeSpec"):
        raise errors.InvalidParameter("ClusterVolumeSpec: cluster volumes need swarm mode, which is not supported")
    volume = _svc(request).create(str(body.get("Name") or ""), str(body.get("Driver") or ""),
                                  _str_map(body, "DriverOpts"), _str_map(body, "Labels"))
    return json_response(volume, status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(_svc(request).inspect(request.match_info["name"]))


async def remove(request: web.Request) -> web.Response:
    await _svc(request).remove_async(request.match_info["name"], force=query_bool(request, "force"))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    """Below API 1.42 a prune takes every unused volume, named ones too (moby's router)."""
    filters = query_filters(request)
    if version_less_than(request, "1.42"):
        filters["all"] = ["true"]
    return json_response(await _svc(request).prune(filters))
