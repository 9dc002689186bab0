"""Routes: /containers/... — parse, call the container service, serialize."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api import hijack as hj
from dockyard.api import stdio
from dockyard.api.detachkeys import parse_detach_keys
from dockyard.api.bodies import CreateBody, UpdateConfig
from dockyard.api.helpers import (json_response, query_bool, query_filters, query_int, query_time_ns,
                                 read_json, unless_client_gone, version_less_than)
from dockyard.api.streams import STDERR, frame

log = logging.getLogger("dockyard.api.containers")


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    r = router.add_route
    r("POST", "/containers/create", create)
    r("GET", "/containers/json", list_)
    r("POST", "/containers/prune", prune)
    r("GET", "/containers/{id}/json", inspect)
    r("POST", "/containers/{id}/start", start)
    r("POST", "/containers/{id}/stop", stop)
    r("POST", "/containers/{id}/restart", restart)
    r("POST", "/containers/{id}/kill", kill)
    r("POST", "/containers/{id}/wait", wait)
    r("POST", "/containers/{id}/pause", pause)
    r("POST", "/containers/{id}/unpause", unpause)
    r("POST", "/containers/{id}/rename", rename)
    r("POST", "/containers/{id}/attach", attach)
    r("POST", "/containers/{id}/resize", resize)
    r("GET", "/containers/{id}/logs", logs)
    r("GET", "/containers/{id}/top", top)
    r("GET", "/containers/{id}/stats", stats)
    r("POST", "/containers/{id}/update", update)
    r("DELETE", "/containers/{id}", remove)
    r("DELETE", "/containers/{id}/{alias}", remove_link)


def _svc(request: web.Request) -> Any:
    return request.app["backends"].containers


def _legacy_bind_options(host_config: Any) -> None:
    """API < 1.44 (moby's router): read-only binds are not recursive, the fields that say
    otherwise did not exist yet: ReadOnlyNonRecursive is dropped, ReadOnlyForceRecursive refused."""
    mounts = host_config.get("Mounts") if isinstance(host_config, dict) else None
    for m in mounts if isinstance(mounts, list) else []:
        bo = m.get("BindOptions") if isinstance(m, dict) else None
        if isinstance(bo, dict):
            if bo.get("ReadOnlyForceRecursive"):
                raise errors.InvalidParameter("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
            bo.pop("ReadOnlyNonRecursive", None)


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, allow_empty=False, schema=CreateBody)
    host_config = body.pop("HostConfig", None) or {}
    networking = body.pop("NetworkingConfig", None) or {}
    name = request.query.get("name") or None
    if request.query.get("platform"):
        _check_platform(request, str(body.get("Image") or ""), request.query["platform"])
    legacy_ro = version_less_than(request, "1.44")
    if legacy_ro:
        _legacy_bind_options(host_config)
    c = await _svc(request).create(name, body, host_config, ro_non_recursive=legacy_ro,
                                    networking_config=networking)
    return json_response({"Id": c.Id, "Warnings": getattr(c, "warnings", [])}, status=201)


def _check_platform(request: web.Request, ref: str, wanted: str) -> None:
    """``create --platform``: the local image must be of that platform, else moby's NotFound (the
    CLI then tries a pull of that platform); never accepted and ignored."""
    from dockyard.image.archive import parse_platform

    os_, arch, variant = parse_platform(wanted)
    try:
        img = request.app["backends"].images.resolve(ref)
    except errors.NotFound:
        return  # the create itself answers for a missing image
    cfg = img.config
    have = (cfg.get("os") or "", cfg.get("architecture") or "", cfg.get("variant") or "")
    if have[:2] != (os_, arch) or (variant and have[2] and variant != have[2]):
        actual = "/".join(p for p in have if p)
        raise errors.NotFound(f"image with reference {ref} was found but does not match the specified platform: "
                              f"wanted {'/'.join(p for p in (os_, arch, variant) if p)}, actual: {actual}")


async def list_(request: web.Request) -> web.Response:
    svc, size = _svc(request), query_bool(request, "size")
    all_, limit, filters = query_bool(request, "all"), query_int(request, "limit"), query_filters(request)

    def listing() -> Any:
        return svc.list_containers(all_=all_, limit=limit, size=size, filters=filters)

    return json_response(await _walking(size, listing))


async def inspect(request: web.Request) -> web.Response:
    svc, ref, size = _svc(request), request.match_info["id"], query_bool(request, "size")
    return json_response(await _walking(size, lambda: svc.inspect(ref, size=size)))


async def _walking(size: bool, answer: Callable[[], Any]) -> Any:
    """``size=1`` (``ps -s``, ``inspect -s``) walks every file of the writable layers: on a worker
    thread then, so a container with many files holds no other client; without it, at once."""
    if not size:
        return answer()
    return await asyncio.get_running_loop().run_in_executor(None, answer)


async def start(request: web.Request) -> web.Response:
    try:
        await _svc(request).start(request.match_info["id"])
    except errors.NotModified:
        return web.Response(status=304)
    return web.Response(status=204)


def _timeout(request: web.Request) -> int | None:
    return query_int(request, "t") if "t" in request.query else query_int(request, "timeout")


async def stop(request: web.Request) -> web.Response:
    try:
        await _svc(request).stop(request.match_info["id"], _timeout(request), request.query.get("signal"))
    except errors.NotModified:
        return web.Response(status=304)
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    await _svc(request).restart(request.match_info["id"], _timeout(request), request.query.get("signal"))
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    await _svc(request).kill(request.match_info["id"], request.query.get("signal"))
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    """Docker sends the headers at once and the body when the condition is met."""
    svc = _svc(request)
    ref = request.match_info["id"]
    svc.get(ref)  # 404 before the stream starts
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):  # 400 before the stream starts
        raise errors.InvalidParameter(f'invalid condition: "{condition}"')
    task = asyncio.ensure_future(svc.wait(ref, condition))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        result = await unless_client_gone(request, task)
    except errors.DockyardError as exc:
        result = {"StatusCode": -1, "Error": {"Message": exc.message}}
    finally:
        task.cancel()
    if version_less_than(request, "1.30"):
        result.pop("Error", None)
    await resp.write(json.dumps(result).encode() + b"\n")
    await resp.write_eof()
    return resp


async def pause(request: web.Request) -> web.Response:
    await _svc(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await _svc(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    _svc(request).rename(request.match_info["id"], request.query.get("name", ""))
    return web.Response(status=204)


async def remove(request: web.Request) -> web.Response:
    await _svc(request).remove(request.match_info["id"], force=query_bool(request, "force"),
                               volumes=query_bool(request, "v"))
    return web.Response(status=204)


async def remove_link(request: web.Request) -> web.Response:
    """``DELETE /containers/<name>/<alias>?link=1``: drop a legacy link (moby's name may hold a slash)."""
    ref = f"{request.match_info['id']}/{request.match_info['alias']}"
    if not query_bool(request, "link"):
        raise errors.NotFound(f"No such container: {ref}")
    await _svc(request).remove_link(request.match_info["id"], request.match_info["alias"])
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    return json_response(await _svc(request).prune(query_filters(request)))


async def top(request: web.Request) -> web.Response:
    result = await _svc(request).top(request.match_info["id"], request.query.get("ps_args") or "-ef")
    return json_response(result)


async def update(request: web.Request) -> web.Response:
    from dockyard.daemon.containers.update import update as update_container

    body = await read_json(request, schema=UpdateConfig)
    return json_response(await update_container(_svc(request), request.match_info["id"], body))


async def stats(request: web.Request) -> web.StreamResponse:
    """One JSON sample, or one a second with ``stream`` (the default), as dockerd."""
    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    stream = query_bool(request, "stream", True)
    one_shot = query_bool(request, "one-shot")
    if one_shot and stream:
        raise errors.InvalidParameter("cannot have stream=true and one-shot=true")
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    samples = svc.stats_samples(c, stream=stream, one_shot=one_shot)
    try:
        async for sample in samples:
            await resp.write(json.dumps(sample).encode() + b"\n")
    except ConnectionError:
        return resp
    await resp.write_eof()
    return resp


def _stream_content_type(request: web.Request, tty: bool) -> str:
    if tty or version_less_than(request, "1.42"):
        return hj.RAW_STREAM
    return hj.MULTIPLEXED_STREAM


async def attach(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    tty = bool(c.Config.get("Tty"))
    want_stdin = query_bool(request, "stdin")
    want_out = query_bool(request, "stdout")
    want_err = query_bool(request, "stderr")
    want_logs = query_bool(request, "logs")
    want_stream = query_bool(request, "stream")
    keys = parse_detach_keys(request.query.get("detachKeys"))
    if c.State.Paused:
        raise errors.Conflict(f"container {c.Id} is paused, unpause the container before attach")
    if c.State.Status in ("removing", "dead"):
        raise errors.Conflict("You cannot attach to a stopped container, start it first")
    stream = await hj.hijack(request, _stream_content_type(request, tty))
    try:
        if want_logs:
            await _replay_logs(stream, svc, c.Id, tty=tty, stdout=want_out, stderr=want_err)
        if want_stream:
            # A created (or stopped) container: wait for its start, as dockerd does
            # (`docker start -a`); a client that leaves meanwhile ends the wait.
            waiter = asyncio.ensure_future(svc.wait_for_attach(c.Id))
            gone = asyncio.ensure_future(stream.wait_closed())
            try:
                await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
                if not waiter.done():
                    waiter.cancel()
            if not waiter.cancelled():
                if waiter.exception() is not None:  # the start failed: its caller says why, as dockerd;
                    return hj.finished_response()  # the attach stream just ends (finally closes it)
                att = waiter.result()
                await pump(stream, att, tty=tty, stdin=want_stdin and bool(c.Config.get("OpenStdin")),
                           stdout=want_out, stderr=want_err, detach_keys=keys,
                           close_stdin=bool(c.Config.get("StdinOnce")))
    except errors.DockyardError as exc:
        try:
            await stream.write(exc.message.encode() + b"\n" if tty else frame(STDERR, exc.message.encode() + b"\n"))
        except ConnectionError:
            pass
    except ConnectionError:
        pass
    finally:
        stream.close()
    return hj.finished_response()


async def _replay_logs(stream: hj.HijackedStream, svc: Any, cid: str, *, tty: bool, stdout: bool,
                       stderr: bool) -> None:
    """``logs=1``: the container's log so far, before the live stream."""
    if not (stdout or stderr):
        return
    try:
        async for entry in svc.logs(cid, stdout=stdout, stderr=stderr, since_ns=None, until_ns=None,
                                    tail=None, follow=False):
            await stream.write(entry.data if tty else frame(entry.stream, entry.data))
    except (FileNotFoundError, errors.NotFound):
        pass


async def pump(stream: hj.HijackedStream, att: Any, *, tty: bool, stdin: bool, stdout: bool,
               stderr: bool, detach_keys: bytes | None = None, close_stdin: bool = True) -> str:
    """Copy container output to the client (framed unless TTY) and client input to the container.

    See :func:`dockyard.api.stdio.pump` for the rules (detach keys, half-close).
    """
    return await stdio.pump(stream, att, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr,
                            detach_keys=detach_keys, close_stdin=close_stdin)


async def resize(request: web.Request) -> web.Response:
    """``POST /containers/{id}/resize?h=&w=``: the TTY's window size (ignored without a TTY)."""
    height, width = query_int(request, "h", 0), query_int(request, "w", 0)
    if height is None or width is None or height < 0 or width < 0:
        raise errors.InvalidParameter("invalid resize: height and width must be non-negative")
    await _svc(request).resize(request.match_info["id"], height, width)
    return web.Response(status=200)


async def logs(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    c = svc.get(request.match_info["id"])
    stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
    if not (stdout or stderr):
        raise errors.InvalidParameter("Bad parameters: you must choose at least one stream")
    if (c.HostConfig.get("LogConfig") or {}).get("Type") == "none":  # moby's ErrReadLogsNotSupported
        raise errors.NotImplementedYet("configured logging driver does not support reading")
    tty = bool(c.Config.get("Tty"))
    follow = query_bool(request, "follow")
    timestamps = query_bool(request, "timestamps")
    tail_raw = request.query.get("tail", "all")
    try:
        tail = None if tail_raw in ("", "all") or int(tail_raw) < 0 else int(tail_raw)  # moby: < 0 is all
    except ValueError:
        tail = None
    since = query_time_ns(request, "since")
    until = query_time_ns(request, "until")
    details = b""
    if query_bool(request, "details"):
        from dockyard.daemon.containers.logdetails import details_prefix, extra_attributes

        details = details_prefix(extra_attributes(c.Config, c.HostConfig))
    resp = web.StreamResponse(status=200, headers={"Content-Type": _stream_content_type(request, tty)})
    await resp.prepare(request)
    async for entry in svc.logs(c.Id, stdout=stdout, stderr=stderr, since_ns=since, until_ns=until,
                                tail=tail, follow=follow):
        data = details + entry.data
        if timestamps:
            data = _rfc3339_nano(entry.time_ns).encode() + b" " + data
        await resp.write(data if tty else frame(entry.stream, data))
    await resp.write_eof()
    return resp


def _rfc3339_nano(time_ns: int) -> str:
    import time as _time

    base = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(time_ns // 1_000_000_000))
    return f"{base}.{time_ns % 1_000_000_000:09d}Z"
