"""The HTTP side of the Engine API: the app, middleware and the one error mapping.

Routers (one module per resource) only parse, call a backend, serialize.
API-version differences are handled here and in the routers, keyed on
``request["api_version"]``; the services below know one shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.connguard import HEADER_TIMEOUT, ConnectionGuard, guard_middleware, soft_fd_limit
from dockyard.api.helpers import (MAX_API_VERSION, MAX_JSON_BODY, MIN_API_VERSION, common_headers,
                                   error_response, version_tuple)

log = logging.getLogger("dockyard.api")

_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class VersionedRouter(web.UrlDispatcher):
    """Resolves ``/v1.43/containers/json`` and ``/containers/json`` to the same route.

    The version prefix is stripped before matching, and kept on the request.
    """

    async def resolve(self, request: web.Request) -> Any:
        m = _VERSION_PREFIX.match(request.rel_url.raw_path)
        if m:
            request["api_version"] = m.group(1)
            query = request.rel_url.raw_query_string
            rel = m.group(2) + (f"?{query}" if query else "")
            request = request.clone(rel_url=rel)
        return await super().resolve(request)


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    v = request.get("api_version")
    if v is not None:
        if version_tuple(v) > version_tuple(MAX_API_VERSION):
            return error_response(400, f"client version {v} is too new. "
                                       f"Maximum supported API version is {MAX_API_VERSION}")
        if version_tuple(v) < version_tuple(MIN_API_VERSION):
            return error_response(400, f"client version {v} is too old. Minimum supported API version "
                                       f"is {MIN_API_VERSION}, please upgrade your client to a newer version")
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map the error hierarchy to HTTP status codes: the one place this happens."""
    try:
        return await handler(request)
    except errors.DockyardError as exc:
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc)
        resp = error_response(exc.status, exc.message)
        if exc.status == 413:
            resp.force_close()  # do not read the rest of an oversized body
        return resp
    except web.HTTPNotFound:
        return error_response(404, "page not found")
    except web.HTTPMethodNotAllowed:
        return error_response(405, "method not allowed")
    except web.HTTPException:
        raise
    except (ConnectionResetError, BrokenPipeError):
        # The client went away mid-stream (a closed `logs -f`, a killed CLI): nothing to answer.
        return web.Response(status=499)
    except Exception as exc:  # noqa: BLE001 - the last line of defence, logged
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"{type(exc).__name__}: {exc}")


async def build_body_validators(app: web.Application) -> None:
    """Build the request-body validators in a thread once the daemon is up (off its start-up path)."""
    import asyncio

    from dockyard.api.bodies import build_all

    app["body_validators"] = asyncio.get_running_loop().run_in_executor(None, build_all)


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    for k, v in common_headers().items():
        response.headers.setdefault(k, v)


def all_route_modules() -> list[Any]:
    """Every router of the Engine API (what the Linux engine serves)."""
    from dockyard.api import archive, build, containers, images, networks, swarm, system, volumes
    from dockyard.api import distribution
    from dockyard.api import exec as exec_routes

    return [system, containers, exec_routes, images, build, swarm, networks, volumes, archive, distribution]


def create_app(backends: Any, header_timeout: float = HEADER_TIMEOUT, route_modules: list[Any] | None = None,
               fd_limit: Callable[[], int] | None = soft_fd_limit) -> web.Application:
    """Build the app; ``backends`` is the daemon's service container (see dockyardd).

    ``route_modules`` are the routers the host serves (default: all of them);
    ``fd_limit`` is the descriptor limit the connection guard watches.

    Serve it with :class:`~dockyard.api.connguard.GuardedRunner`, so that the connection
    guard (header timeout, fd reserve) sees every connection."""
    app = web.Application(router=VersionedRouter(),
                          middlewares=[guard_middleware, version_middleware, error_middleware],
                          client_max_size=MAX_JSON_BODY)  # streamed bodies are read past it
    app["backends"] = backends
    app["conn_guard"] = ConnectionGuard(header_timeout, fd_limit=fd_limit)
    app.on_response_prepare.append(on_prepare)
    app.on_startup.append(build_body_validators)
    for module in all_route_modules() if route_modules is None else route_modules:
        module.add_routes(app.router, backends)
    return app


