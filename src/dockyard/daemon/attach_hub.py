"""One connection to a container's stdio, shared by every attached client.

conmon closes an attach socket only when writing output to it fails, so a
client that attaches and leaves an idle container would leave a socket open
in conmon per attach (1,000 ``docker attach`` / detach cycles → 1,000 fds).
So the daemon opens conmon's attach socket once per container run and fans
out: every client gets a :class:`Subscriber` with the interface of
``runtime.attach.Attachment`` (read, write, close_stdin, close).

Output is handed to each subscriber in turn through a small bounded buffer,
so the slowest client paces the container, as with dockerd's broadcaster, and
nothing piles up in memory.  The connection is always read, even with no
client, so conmon never blocks on it.  Closing stdin (``StdinOnce`` without a
TTY) shuts the shared connection's write side: conmon then closes the
container's stdin, for every client, as dockerd does.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("dockyard.attach")

_BUFFERED = 16  # chunks held per subscriber before the hub waits for it


class Subscriber:
    """One client's view of the container's stdio."""

    def __init__(self, hub: "AttachHub") -> None:
        self._hub = hub
        self._items: collections.deque[tuple[int, bytes]] = collections.deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._eof = False
        self.closed = False

    async def _put(self, item: tuple[int, bytes]) -> None:
        while len(self._items) >= _BUFFERED and not self.closed:
            self._room.clear()
            await self._room.wait()
        if not self.closed:
            self._items.append(item)
            self._ready.set()

    def _end(self) -> None:
        self._eof = True
        self._ready.set()

    async def read(self) -> tuple[int, bytes] | None:
        """Next (stream, bytes) of output; None once the container's output ended or we closed."""
        while not self._items:
            if self._eof or self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        self._room.set()
        return item

    def take_ready(self) -> list[tuple[int, bytes]]:
        """Every chunk already buffered, without waiting (lets the client get fewer, larger writes)."""
        items = list(self._items)
        self._items.clear()
        self._room.set()
        return items

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise BrokenPipeError("attach closed")
        await self._hub.write(data)

    def close_stdin(self) -> None:
        self._hub.close_stdin()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._room.set()
            self._ready.set()
            self._hub.remove(self)


class AttachHub:
    """The shared connection of one container run and its subscribers."""

    def __init__(self, att: Any) -> None:
        self._att = att
        self._subs: list[Subscriber] = []
        self._write_lock = asyncio.Lock()
        self.done = False
        self._task = asyncio.ensure_future(self._run())

    def subscribe(self) -> Subscriber:
        sub = Subscriber(self)
        if self.done:
            sub._end()
        else:
            self._subs.append(sub)
        return sub

    def remove(self, sub: Subscriber) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    async def write(self, data: bytes) -> None:
        async with self._write_lock:  # one sender at a time on the shared socket
            await self._att.write(data)

    def close_stdin(self) -> None:
        self._att.close_stdin()

    async def _run(self) -> None:
        try:
            while True:
                item = await self._att.read()
                if item is None:
                    break
                for sub in list(self._subs):
                    await sub._put(item)
        except Exception:  # noqa: BLE001 - a broken connection ends the run like EOF
            log.exception("attach hub read failed")
        finally:
            self.done = True
            self._att.close()
            for sub in self._subs:
                sub._end()
            self._subs.clear()

    def close(self) -> None:
        self._task.cancel()


class AttachHubs:
    """The hubs of every container run; ``connect(container_id)`` opens conmon's socket."""

    def __init__(self, connect: Callable[[str], Awaitable[Any]]) -> None:
        self._connect = connect
        self._hubs: dict[str, AttachHub] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def subscribe(self, container_id: str) -> Subscriber:
        lock = self._locks.setdefault(container_id, asyncio.Lock())
        async with lock:
            hub = self._hubs.get(container_id)
            if hub is None or hub.done:
                hub = AttachHub(await self._connect(container_id))
                self._hubs[container_id] = hub
                hub._task.add_done_callback(lambda _t, cid=container_id, h=hub: self._forget(cid, h))
            return hub.subscribe()

    def _forget(self, container_id: str, hub: AttachHub) -> None:
        if self._hubs.get(container_id) is hub:
            del self._hubs[container_id]
            self._locks.pop(container_id, None)

    def close_all(self) -> None:
        for hub in list(self._hubs.values()):
            hub.close()
