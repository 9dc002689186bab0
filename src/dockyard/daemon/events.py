"""The event stream (``docker events``): a bounded in-memory log plus live subscribers."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any


class EventService:
    """Records events in Docker's shape and fans them out to subscribers."""

    def __init__(self, keep: int = 1024) -> None:
        self._log: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        # each subscriber's queue, with the loop that reads it
        self._subscribers: dict[asyncio.Queue[dict[str, Any]], asyncio.AbstractEventLoop] = {}

    def emit(self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> None:
        now = time.time_ns()
        event = {
            "Type": type_, "Action": action, "scope": "local",
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "time": now // 1_000_000_000, "timeNano": now,
        }
        if type_ in ("container", "image"):  # the pre-1.22 fields clients still read (dockerd fills both)
            event["status"] = action
            if actor_id:  # omitempty in moby (a prune's actor has no ID)
                event["id"] = actor_id
            if type_ == "container" and attributes and "image" in attributes:
                event["from"] = attributes["image"]
        self._log.append(event)
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread: image delete and prune run there
            here = None
        for q, loop in list(self._subscribers.items()):
            if loop is here:
                q.put_nowait(event)
            else:  # asyncio queues are not thread-safe: hand the event to the reader's loop
                try:
                    loop.call_soon_threadsafe(q.put_nowait, event)
                except RuntimeError:  # that loop has closed (shutdown)
                    pass

    def since(self, since_ns: int, until_ns: int | None = None) -> list[dict[str, Any]]:
        return [e for e in self._log if e["timeNano"] >= since_ns and (until_ns is None or e["timeNano"] <= until_ns)]

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers[q] = asyncio.get_running_loop()
        return q

    def listeners(self) -> int:
        """How many clients follow the event stream now (``NEventsListener`` of ``docker info``)."""
        return len(self._subscribers)

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.pop(q, None)
