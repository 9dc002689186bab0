"""Request and response helpers every router uses: versions, JSON bodies and answers, query values.

Routers import these from here, and server.py (which assembles the app)
imports the routers, so imports run one way: server → routers → helpers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from aiohttp import web

from dockyard import errors
from dockyard.api import godecode
from dockyard.api.bodies import Body

MIN_API_VERSION = "1.24"
MAX_API_VERSION = "1.50"
# A JSON request body (a container config, a network, an exec...) is small: a bound keeps one
# request from taking the daemon's memory (a 200 MB create peaked at 1 GB).  Image loads and
# imports, build contexts and archives are streamed and not bounded by this.
MAX_JSON_BODY = 8 * 1024 * 1024
DOCKER_VERSION = "28.2.2"  # the Docker release whose API shape we follow

def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def api_version(request: web.Request) -> str:
    """The API version the client asked for (the newest when it named none)."""
    return request.get("api_version", MAX_API_VERSION)


def version_less_than(request: web.Request, v: str) -> bool:
    """moby's ``versions.LessThan(httputils.VersionFromContext(ctx), v)``."""
    return version_tuple(api_version(request)) < version_tuple(v)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(data).encode() + b"\n", status=status,
                        content_type="application/json", headers=headers)


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status=status)


def common_headers() -> dict[str, str]:
    return {"Api-Version": MAX_API_VERSION, "Docker-Experimental": "false",
            "Ostype": "linux", "Server": f"Docker/{DOCKER_VERSION} (linux)"}


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


async def stream_from_thread(request: web.Request, resp: web.StreamResponse,
                             produce: "Callable[[Callable[[bytes], None]], None]") -> None:
    """Run ``produce(sink)`` in a thread and write every chunk it sinks to ``resp``, in order.

    A queue of a few chunks sits between them, so a slow client slows the
    producer down instead of the daemon buffering the whole stream; a client
    that goes away stops the producer at its next chunk.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
    gone = False

    def sink(chunk: bytes) -> None:
        if gone:
            raise ConnectionResetError("client went away")
        asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()

    def run() -> None:
        try:
            produce(sink)
        finally:
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

    fut = loop.run_in_executor(None, run)
    try:
        while True:
            chunk = await queue.get()
            if chunk is None:
                break
            await resp.write(chunk)
    except BaseException:
        gone = True
        while not fut.done():  # let the producer finish its put and see `gone`
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                await asyncio.sleep(0.01)
        raise
    await fut


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


def _too_large(size: int | None) -> errors.RequestTooLarge:
    got = f" ({size} bytes)" if size else ""
    return errors.RequestTooLarge(f"request body too large{got}: the limit for this endpoint is "
                                  f"{MAX_JSON_BODY // (1024 * 1024)} MiB")


async def read_json(request: web.Request, *, allow_empty: bool = True,
                    schema: type[Body] | None = None) -> dict[str, Any]:
    """The request's JSON object; with ``schema``, only its fields, typed (dockerd's errors).

    Every body goes through :func:`godecode.parse`, so ``NaN``, ``Infinity`` and
    runaway nesting are 400s whatever the route.
    """
    if (request.content_length or 0) > MAX_JSON_BODY:
        raise _too_large(request.content_length or 0)
    try:
        body = await request.read()  # the app's client_max_size stops a chunked body at the bound
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(None) from None
    if not body.strip():
        if allow_empty:
            return {}
        raise errors.InvalidParameter("request body is required")
    data = godecode.parse(body)
    if data is None:
        return {}
    if schema is not None:
        return godecode.validate(data, schema)
    if not isinstance(data, dict):
        raise errors.InvalidParameter("invalid JSON: expected an object")
    return data
