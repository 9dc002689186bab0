"""Routes: ``POST /build`` (the classic builder) and ``POST /build/prune``.

The query is checked before the body is read: every parameter the clients
send is either applied or refused with a 400 naming it.  The context body is
handed to the build service as a blocking reader (it unpacks in a thread).
Until the first message is written an error is an HTTP error (dockerd answers
a Dockerfile syntax error with a 400); after that it is an ``errorDetail``
line in the stream, as the clients expect.  A client that hangs up cancels
the build: the running step's container is killed and removed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api.helpers import json_response, query_bool, query_filters, query_int, unless_client_gone
from dockyard.api.images import BodyReader
from dockyard.build.builder import BuildOptions, StepFailed
from dockyard.daemon.build import BuildRequest
from dockyard.image import reference as refmod

log = logging.getLogger("dockyard.api.build")


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    router.add_route("POST", "/build", build)
    router.add_route("POST", "/build/prune", prune)


def go_json(data: Any) -> bytes:
    """JSON as Go's encoder writes it (``<``, ``>``, ``&`` escaped), CRLF-terminated like dockerd's stream."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8") + b"\r\n"


def _json_query(request: web.Request, name: str) -> Any:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.InvalidParameter(f"invalid value for {name}: {raw!r}") from None


def parse_request(request: web.Request) -> BuildRequest:
    """The build's options from the query; a 400 naming any parameter we cannot honour."""
    q = request.query
    if query_bool(request, "squash"):
        raise errors.InvalidParameter("squash is only supported with experimental mode")
    if q.get("remote"):
        raise errors.InvalidParameter("remote: building from a git or URL context is not supported yet")
    if q.get("version", "1") not in ("1", ""):
        raise errors.InvalidParameter("version: only the classic builder (version=1) is available; "
                                      "BuildKit is not supported")
    if q.get("session"):
        raise errors.InvalidParameter("session: BuildKit sessions are not supported")
    if q.get("outputs") not in (None, "", "[]", "null"):
        raise errors.InvalidParameter("outputs: build outputs need BuildKit, which dockyard does not have")
    if (q.get("isolation") or "default").lower() != "default":  # moby's words; only the default on Linux
        raise errors.InvalidParameter(f"Unsupported isolation: {json.dumps(q['isolation'])}")
    if q.getall("securityopt", []):
        raise errors.InvalidParameter("The daemon on this platform does not support setting security options on build")
    platform = q.get("platform", "")
    if platform and platform not in ("linux/amd64", "linux", "amd64"):
        raise errors.InvalidParameter(f"platform: only linux/amd64 can be built here, not {platform!r}")
    tags = []
    for t in q.getall("t", []):
        try:
            tags.append(refmod.parse_normalized(t).with_default_tag())
        except errors.InvalidParameter:
            raise errors.InvalidParameter(f"invalid reference format: {t}") from None
    buildargs = _json_query(request, "buildargs") or {}
    labels = _json_query(request, "labels") or {}
    cache_from = _json_query(request, "cachefrom") or []
    # one query value per host (moby's client, docker-py); a comma-joined value is taken too
    extra_hosts = [h for v in q.getall("extrahosts", []) for h in v.split(",") if h]
    if not isinstance(buildargs, dict) or not isinstance(labels, dict) or not isinstance(cache_from, list):
        raise errors.InvalidParameter("buildargs, labels and cachefrom must be JSON objects / lists")
    network = q.get("networkmode", "") or "default"
    if network not in ("default", "none", "host", "bridge"):
        networks = getattr(request.app["backends"], "networks", None)
        try:
            if networks is None:
                raise errors.NotFound(network)
            networks.get(network)  # a user-defined network: the RUN containers join it
        except errors.NotFound:
            raise errors.InvalidParameter(f"networkmode: network {network} not found") from None
    host_config: dict[str, Any] = {"NetworkMode": network}
    if extra_hosts:
        host_config["ExtraHosts"] = extra_hosts
    for name, key in (("shmsize", "ShmSize"), ("memory", "Memory"), ("memswap", "MemorySwap"),
                      ("cpushares", "CpuShares"), ("cpuperiod", "CpuPeriod"), ("cpuquota", "CpuQuota")):
        value = query_int(request, name)
        if value:
            host_config[key] = value
    if q.get("cpusetcpus"):
        host_config["CpusetCpus"] = q["cpusetcpus"]
    if q.get("cpusetmems"):
        host_config["CpusetMems"] = q["cpusetmems"]
    if q.get("cgroupparent"):
        host_config["CgroupParent"] = q["cgroupparent"]
    ulimits = _json_query(request, "ulimits") or []
    if not isinstance(ulimits, list):
        raise errors.InvalidParameter("ulimits must be a JSON list")
    if ulimits:
        host_config["Ulimits"] = ulimits
    opts = BuildOptions(
        dockerfile=q.get("dockerfile") or "Dockerfile",
        buildargs={str(k): (None if v is None else str(v)) for k, v in buildargs.items()},
        labels={str(k): str(v) for k, v in labels.items()}, target=q.get("target", ""),
        nocache=query_bool(request, "nocache"), pull=query_bool(request, "pull"), rm=query_bool(request, "rm", True),
        forcerm=query_bool(request, "forcerm"), quiet=query_bool(request, "q"),
        cache_from=[str(c) for c in cache_from])
    return BuildRequest(options=opts, tags=tags, host_config=host_config)


async def build(request: web.Request) -> web.StreamResponse:
    req = parse_request(request)
    svc = request.app["backends"].build
    loop = asyncio.get_running_loop()
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})

    async def emit(message: dict[str, Any]) -> None:
        if not resp.prepared:
            await resp.prepare(request)
        await resp.write(go_json(message))

    task = asyncio.ensure_future(svc.build(BodyReader(request, loop), req, emit))
    try:
        await unless_client_gone(request, task)
    except errors.DockyardError as exc:
        if not resp.prepared:
            raise
        detail: dict[str, Any] = {"message": exc.message}
        if isinstance(exc, StepFailed):
            detail = {"code": exc.code, "message": exc.message}
        await resp.write(go_json({"errorDetail": detail, "error": exc.message}))
    except (ConnectionResetError, BrokenPipeError):
        try:
            await task
        except BaseException:  # noqa: BLE001 - cancelled on purpose; its cleanup ran
            pass
        raise
    except Exception as exc:  # noqa: BLE001 - reported in the stream once it started
        if not resp.prepared:
            raise
        log.exception("build failed")
        await resp.write(go_json({"errorDetail": {"message": str(exc)}, "error": str(exc)}))
    if not resp.prepared:
        await resp.prepare(request)
    await resp.write_eof()
    return resp


async def prune(request: web.Request) -> web.Response:
    """``docker builder prune``: every record goes (``all`` changes nothing: there are no others)."""
    if query_filters(request):
        raise errors.InvalidParameter("filters: builder prune filters are not supported yet; prune without them")
    if query_int(request, "keep-storage"):
        raise errors.InvalidParameter("keep-storage: not supported yet; prune without it")
    svc = request.app["backends"].build
    return json_response(svc.prune(all_=query_bool(request, "all")))
