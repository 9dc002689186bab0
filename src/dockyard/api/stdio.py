"""Copying between a hijacked client stream and a container's (or exec's) stdio.

The rules are dockerd's (container/stream/attach.go):

- output goes to the client as stdcopy frames, or raw with a TTY;
- with a TTY, the detach keys in the client's input end the attach and never
  reach the container;
- when the client closes its side of stdin: without a TTY and with
  ``close_stdin`` (``StdinOnce``, or any exec), the container's stdin gets EOF
  and the output still drains to the end; otherwise the attach ends and the
  container carries on;
- a client that goes away ends the attach; the container carries on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dockyard.api import hijack as hj
from dockyard.api.detachkeys import DetachScanner
from dockyard.api.streams import STDERR, STDOUT, frame

log = logging.getLogger("dockyard.api.stdio")

EXITED, DETACHED, CLIENT_GONE, ENDED = "exited", "detached", "client-gone", "ended"


async def pump(stream: hj.HijackedStream, att: Any, *, tty: bool, stdin: bool, stdout: bool,
               stderr: bool, detach_keys: bytes | None = None, close_stdin: bool = True,
               raw: bool | None = None) -> str:
    """Run the attach until the output ends, the client detaches or goes away.

    ``tty`` is whether the process has a terminal (detach keys, stdin
    half-close); ``raw`` whether the output goes out without stdcopy frames
    (default: as ``tty``; exec start decides it from its own body, as dockerd).
    Returns why it ended (EXITED, DETACHED, CLIENT_GONE, ENDED); always closes ``att``.
    """
    raw = tty if raw is None else raw
    scanner = DetachScanner(detach_keys) if tty and stdin and detach_keys else None

    async def inbound() -> str:
        while True:
            data = await stream.read()
            if not data:
                if scanner is not None:
                    held = scanner.flush()
                    if held:
                        await att.write(held)
                if close_stdin and not tty:
                    att.close_stdin()
                    return EXITED  # keep draining the output
                return ENDED
            detached = False
            if scanner is not None:
                data, detached = scanner.feed(data)
            if data:
                await att.write(data)
            if detached:
                return DETACHED

    take_ready = getattr(att, "take_ready", None)

    async def outbound() -> str:
        while True:
            item = await att.read()
            if item is None:
                return EXITED
            items = [item] + (take_ready() if take_ready is not None else [])
            out = b"".join(data if raw else frame(which, data) for which, data in items
                           if (which == STDOUT and stdout) or (which == STDERR and stderr))
            if out:
                await stream.write(out)

    out_task = asyncio.ensure_future(outbound())
    closed_task = asyncio.ensure_future(stream.wait_closed())
    in_task = asyncio.ensure_future(inbound()) if stdin else None
    waiting: set[asyncio.Future[Any]] = {out_task, closed_task}
    if in_task is not None:
        waiting.add(in_task)
    reason = EXITED
    try:
        while True:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if out_task in done:
                try:
                    reason = out_task.result()
                except ConnectionError:
                    reason = CLIENT_GONE
                break
            if closed_task in done:
                reason = CLIENT_GONE
                break
            if in_task is not None and in_task in done:
                try:
                    result = in_task.result()
                except (ConnectionError, OSError):
                    result = EXITED  # the container's stdin is gone: the output still drains
                if result == EXITED:
                    continue
                reason = result
                break
    finally:
        for task in (out_task, closed_task, in_task):
            if task is not None and not task.done():
                task.cancel()
        att.close()
        await asyncio.gather(*(t for t in (out_task, closed_task, in_task) if t is not None),
                             return_exceptions=True)
    return reason
