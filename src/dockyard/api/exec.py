"""Routes: docker exec — create, start (hijacked stream or detached), resize, inspect."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api import hijack as hj
from dockyard.api import stdio
from dockyard.api.detachkeys import parse_detach_keys
from dockyard.api.bodies import ExecConfig, ExecStartCheck
from dockyard.api.helpers import json_response, query_int, read_json, version_less_than
from dockyard.api.streams import STDOUT, frame

log = logging.getLogger("dockyard.api.exec")


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    r = router.add_route
    r("POST", "/containers/{id}/exec", create)
    r("POST", "/exec/{id}/start", start)
    r("POST", "/exec/{id}/resize", resize)
    r("GET", "/exec/{id}/json", inspect)


def _svc(request: web.Request) -> Any:
    return request.app["backends"].exec


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, allow_empty=False, schema=ExecConfig)
    keys = body.get("DetachKeys")
    if keys:
        parse_detach_keys(keys)  # 400 now rather than at start
    exec_id = _svc(request).create(request.match_info["id"], body)
    return json_response({"Id": exec_id}, status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(_svc(request).inspect(request.match_info["id"]))


async def resize(request: web.Request) -> web.Response:
    height, width = query_int(request, "h", 0), query_int(request, "w", 0)
    if height is None or width is None or height < 0 or width < 0:
        raise errors.InvalidParameter("invalid resize: height and width must be non-negative")
    await _svc(request).resize(request.match_info["id"], height, width)
    return web.Response(status=200)


async def start(request: web.Request) -> web.StreamResponse:
    """Detached: start and answer 200.  Otherwise hijack, start with the stream attached,
    pump until the process's output ends, record its exit code, close.

    A runtime failure after the hijack (a missing binary) is written into the
    stream, as dockerd does; the exit code (126/127) is on the exec record.
    """
    svc = _svc(request)
    body = await read_json(request, schema=ExecStartCheck)
    rec = svc.check_startable(request.match_info["id"])
    if body.get("Detach"):
        await svc.start(rec.ID, attach=False, console_size=body.get("ConsoleSize"))
        return web.Response(status=200, content_type="application/json")
    keys = parse_detach_keys(rec.DetachKeys) if rec.DetachKeys else parse_detach_keys(None)
    # The process has a terminal if the exec was *created* with one; the stream is framed
    # unless the *start* body says Tty (moby's postContainerExecStart), so docker-py's
    # exec_start(tty=False) of a TTY exec reads stdcopy frames.
    raw = bool(body.get("Tty"))
    content_type = hj.RAW_STREAM if raw or version_less_than(request, "1.42") else hj.MULTIPLEXED_STREAM
    stream = await hj.hijack(request, content_type)
    try:
        try:
            await svc.start(rec.ID, attach=True, console_size=body.get("ConsoleSize"))
        except errors.DockyardError as exc:
            text = exc.message.encode() + b"\r\n"
            await stream.write(text if raw else frame(STDOUT, text))
            return hj.finished_response()
        session = rec.session
        reason = stdio.EXITED
        if session is not None and session.attachment is not None:
            reason = await stdio.pump(stream, session.attachment, tty=rec.Tty, raw=raw, stdin=rec.OpenStdin,
                                      stdout=rec.OpenStdout, stderr=rec.OpenStderr, detach_keys=keys,
                                      close_stdin=True)
        if reason == stdio.EXITED:
            # the exit code is recorded before the stream closes: the CLI inspects right after
            await svc.finish(rec)
    except ConnectionError:
        pass
    except Exception:  # noqa: BLE001 - the response head is gone: log, and close the stream
        log.exception("exec %s failed after the stream was hijacked", rec.ID)
    finally:
        stream.close()
        if rec.Running:
            svc.collect(rec)  # detached or client gone: the process carries on; collect its exit
    return hj.finished_response()
