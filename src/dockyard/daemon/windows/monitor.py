"""The Windows engine's monitor: what conmon does on Linux, split between the
runtime's supervisor and this module.

The job-object runtime's supervisor (``runtime/windows/supervisor.py``) holds
the container's pipes, writes its log (``create --log-path``, conmon's
k8s-file format) and records its exit in ``<runtime root>/<id>/exit.json``;
it outlives the engine.  This side starts it through the runtime's ``create``,
notices exits by polling for ``exit.json`` (one cheap ``stat`` per running
container every ``POLL`` seconds: Wine has no change notification we could
rely on, and the file survives an engine restart), and serves attaches by
following the log from where it ends when the attach begins — the container
process sits suspended until ``start``, so nothing is missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from dockyard import errors
from dockyard.monitor.logs import read_logs

log = logging.getLogger("dockyard.windows.monitor")
POLL = 0.05


class LogAttachment:
    """An attach to a running container: its log's new records until the exit."""

    def __init__(self, log_path: str, ended: asyncio.Event) -> None:
        self._entries = read_logs(log_path, tail=0, follow=True, stop_event=ended).__aiter__()

    async def read(self) -> tuple[int, bytes] | None:
        try:
            entry = await self._entries.__anext__()
        except StopAsyncIteration:
            return None
        return entry.stream, entry.data

    async def write(self, data: bytes) -> None:
        raise errors.InvalidParameter("stdin is not supported for Windows process containers")

    def close_stdin(self) -> None:
        pass

    def close(self) -> None:
        asyncio.ensure_future(self._entries.aclose())


class JobMonitor:
    """Starts containers through the runtime, watches for their exits, attaches to their logs."""

    def __init__(self, runtime_root: str) -> None:
        self.runtime_root = runtime_root
        self._watched: set[str] = set()
        self._logs: dict[str, str] = {}
        self._ended: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self._on_exit: Callable[[str, int], Any] = lambda cid, code: None

    def exit_file(self, cid: str) -> str:
        return os.path.join(self.runtime_root, cid, "exit.json")

    async def create(self, cid: str, bundle: str, runtime: Any, log_path: str) -> int:
        """``runtime create`` with the log path; the container's pid (it sits suspended until start)."""
        pid_file = os.path.join(bundle, "pidfile")
        await runtime.run("create", "--bundle", bundle, "--pid-file", pid_file, "--log-path", log_path, cid)
        with open(pid_file, encoding="ascii") as f:
            pid = int(f.read().strip() or 0)
        self.watch(cid, log_path)
        return pid

    def exit_code(self, cid: str) -> int | None:
        try:
            with open(self.exit_file(cid), encoding="utf-8") as f:
                return int(json.load(f)["exitCode"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def oom_killed(self, cid: str) -> bool:
        return False  # a job's memory limit makes allocations fail; nothing is killed for it

    # -- exits ---------------------------------------------------------------------------
    def start(self, on_exit: Callable[[str, int], Any]) -> None:
        self._on_exit = on_exit
        self._task = asyncio.ensure_future(self._poll())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def watch(self, cid: str, log_path: str) -> None:
        self._watched.add(cid)
        self._logs[cid] = log_path
        self._ended.setdefault(cid, asyncio.Event())

    def forget(self, cid: str) -> None:
        self._watched.discard(cid)
        self._logs.pop(cid, None)
        ended = self._ended.pop(cid, None)
        if ended is not None:
            ended.set()

    async def _poll(self) -> None:
        while True:
            for cid in list(self._watched):
                code = self.exit_code(cid)
                if code is None:
                    continue
                self._watched.discard(cid)
                ended = self._ended.pop(cid, None)
                if ended is not None:
                    ended.set()  # attaches drain the (complete) log and end
                try:
                    self._on_exit(cid, code)
                except Exception:  # noqa: BLE001 - one container's trouble must not stop the watch
                    log.exception("exit of %s", cid)
            await asyncio.sleep(POLL)

    # -- attach ----------------------------------------------------------------------------
    async def attach(self, cid: str) -> LogAttachment:
        log_path = self._logs.get(cid)
        ended = self._ended.get(cid)
        if log_path is None or ended is None:
            raise errors.Conflict(f"container {cid} is not running")
        return LogAttachment(log_path, ended)

    async def resize(self, cid: str, height: int, width: int) -> None:
        raise errors.InvalidParameter("terminals are not supported for Windows process containers")
