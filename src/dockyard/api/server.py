"""The HTTP side of the Engine API: the app, middleware and the one error mapping.

Routers (one module per resource) only parse, call a backend, serialize.
API-version differences are handled here and in the routers, keyed on
``request["api_version"]``; the services below know one shape.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dockyard import errors

log = logging.getLogger("dockyard.api")

MIN_API_VERSION = "1.24"
MAX_API_VERSION = "1.50"
DOCKER_VERSION = "28.2.2"  # the Docker release whose API shape we follow

_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def api_version(request: web.Request) -> str:
    """The API version the client asked for (the newest when it named none)."""
    return request.get("api_version", MAX_API_VERSION)


def version_less_than(request: web.Request, v: str) -> bool:
    """moby's ``versions.LessThan(httputils.VersionFromContext(ctx), v)``."""
    return version_tuple(api_version(request)) < version_tuple(v)


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


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(data).encode() + b"\n", status=status,
                        content_type="application/json", headers=headers)


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


def common_headers() -> dict[str, str]:
    return {"Api-Version": MAX_API_VERSION, "Docker-Experimental": "false",
            "Ostype": "linux", "Server": f"Docker/{DOCKER_VERSION} (linux)"}


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
        return error_response(exc.status, exc.message)
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


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    for k, v in common_headers().items():
        response.headers.setdefault(k, v)


def create_app(backends: Any) -> web.Application:
    """Build the app; ``backends`` is the daemon's service container (see dockyardd)."""
    from dockyard.api import containers, images, system
    from dockyard.api import exec as exec_routes

    app = web.Application(router=VersionedRouter(),
                          middlewares=[version_middleware, error_middleware],
                          client_max_size=0)
    app["backends"] = backends
    app.on_response_prepare.append(on_prepare)
    for module in (system, containers, exec_routes, images):
        module.add_routes(app.router, backends)
    return app


# -- small parsing helpers every router uses ---------------------------------------------

def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    """Docker's boolean query values: 1/true/True/yes; 0/false/False/no/''."""
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("", "0", "false", "no")


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.InvalidParameter(f"invalid value for {name}: {raw!r}") from None


def query_filters(request: web.Request) -> dict[str, list[str]]:
    """Parse ``filters`` (``{"k": ["v"]}`` or the old ``{"k": {"v": true}}`` form)."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise errors.InvalidParameter(f"invalid filter '{raw}'") from None
    if not isinstance(data, dict):
        raise errors.InvalidParameter(f"invalid filter '{raw}'")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            out[key] = [str(value)]
    return out


async def unless_client_gone(request: web.Request, task: "asyncio.Future[Any]", poll: float = 0.5) -> Any:
    """Await ``task``; cancel it if the client hangs up first (an abandoned ``wait``).

    aiohttp does not cancel handlers when the peer goes away, so a long wait
    would otherwise outlive its client.
    """
    while True:
        done, _ = await asyncio.wait({task}, timeout=poll)
        if done:
            return task.result()
        transport = request.transport
        if transport is None or transport.is_closing():
            task.cancel()
            raise ConnectionResetError("client went away")


def query_time_ns(request: web.Request, name: str) -> int | None:
    """A ``since``/``until`` value: unix seconds with up to 9 fraction digits, read exactly.

    The docker CLI turns ``--since 2026-01-01T00:00:00.123456789Z`` into
    ``1767225600.123456789``; a float would round that by ~100 ns and drop the
    very log line the user pointed at.
    """
    raw = request.query.get(name)
    if not raw:
        return None
    secs, _, frac = raw.partition(".")
    if not secs.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        raise errors.InvalidParameter(f"invalid value for {name}: {raw!r}")
    return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])


async def read_json(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    body = await request.read()
    if not body.strip():
        if allow_empty:
            return {}
        raise errors.InvalidParameter("request body is required")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise errors.InvalidParameter(f"invalid JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.InvalidParameter("invalid JSON: expected an object")
    return data
