"""Routes: /networks/... — parse, call the network service, serialize."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard.api.helpers import json_response, query_filters, read_json


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    r = router.add_route
    r("GET", "/networks", list_)
    r("POST", "/networks/create", create)
    r("POST", "/networks/prune", prune)
    r("GET", "/networks/{id}", inspect)
    r("DELETE", "/networks/{id}", remove)
    r("POST", "/networks/{id}/connect", connect)
    r("POST", "/networks/{id}/disconnect", disconnect)


def _svc(request: web.Request) -> Any:
    return request.app["backends"].networks


async def list_(request: web.Request) -> web.Response:
    return json_response(_svc(request).list_networks(query_filters(request)))


async def create(request: web.Request) -> web.Response:
    from dockyard.api.bodies import NetworkCreate

    body = await read_json(request, allow_empty=False, schema=NetworkCreate)
    return json_response(_svc(request).create(body), status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(_svc(request).inspect(request.match_info["id"]))


async def remove(request: web.Request) -> web.Response:
    _svc(request).remove(request.match_info["id"])
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    return json_response(_svc(request).prune(query_filters(request)))


async def connect(request: web.Request) -> web.Response:
    from dockyard.api.bodies import NetworkConnect

    body = await read_json(request, allow_empty=False, schema=NetworkConnect)
    _svc(request).connect(request.match_info["id"], body.get("Container") or "", body.get("EndpointConfig"))
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    from dockyard.api.bodies import NetworkDisconnect

    body = await read_json(request, allow_empty=False, schema=NetworkDisconnect)
    _svc(request).disconnect(request.match_info["id"], body.get("Container") or "", bool(body.get("Force")))
    return web.Response(status=200)
