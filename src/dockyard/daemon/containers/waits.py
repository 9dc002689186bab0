"""Waiting on a container: ``wait`` and its conditions, and attachers waiting for ``start``.

Mixed into :class:`~dockyard.daemon.containers.service.ContainerService`, which
owns the records and calls ``_notify_exit`` when an exit is published and
``_connect_pending_attachers`` just before the program runs, so a client that
attached to a created container loses no output.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.daemon.containers.model import Container


class ContainerWaits:
    """Futures woken by the lifecycle: exit waiters and attachers waiting for a start."""

    if TYPE_CHECKING:  # provided by the other parts of ContainerService
        def get(self, ref: str) -> Container: ...  # provided by ContainerService
        def _event_attrs(self, c: Container, **extra: str) -> dict[str, str]: ...  # provided by ContainerService

    events: Any
    attach_hubs: Any
    _exit_waiters: dict[str, list["asyncio.Future[None]"]]
    _start_waiters: dict[str, list["asyncio.Future[Any]"]]
    _removed: dict[str, asyncio.Event]


    def _notify_exit(self, c: Container) -> None:
        for fut in self._exit_waiters.pop(c.Id, []):
            if not fut.done():
                fut.set_result(None)

    # -- attach plumbing used by start -------------------------------------------------------
    async def wait_for_attach(self, ref: str) -> Any:
        """An attachment to the container's stdio, connected before its program runs.

        For a created container this waits for ``start``, which connects every
        waiting client before the program runs, so no output is lost.
        """
        c = self.get(ref)
        self.events.emit("container", "attach", c.Id, self._event_attrs(c))
        if c.State.Running:
            return await self.attach_hubs.subscribe(c.Id)
        if c.State.Status not in ("created", "exited"):
            raise errors.Conflict("You cannot attach to a stopped container, start it first")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._start_waiters.setdefault(c.Id, []).append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                fut.result().close()  # connected just as its client left
            raise
        finally:
            waiters = self._start_waiters.get(c.Id, [])
            if fut in waiters:
                waiters.remove(fut)

    async def _connect_pending_attachers(self, c: Container) -> None:
        for fut in self._start_waiters.pop(c.Id, []):
            if not fut.done():
                try:
                    sub = await self.attach_hubs.subscribe(c.Id)
                except errors.DockyardError as exc:
                    if not fut.done():
                        fut.set_exception(exc)
                    continue
                if fut.done():  # its client left while we connected
                    sub.close()
                else:
                    fut.set_result(sub)

    def _fail_pending_attachers(self, c: Container, exc: Exception) -> None:
        for fut in self._start_waiters.pop(c.Id, []):
            if not fut.done():
                fut.set_exception(exc)

    # -- wait -------------------------------------------------------------------
    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        c = self.get(ref)
        if condition not in ("not-running", "next-exit", "removed"):
            raise errors.InvalidParameter(f"invalid condition: {condition!r}")
        if condition == "removed":
            ev = self._removed.setdefault(c.Id, asyncio.Event())
            if c.State.Running or condition == "next-exit":
                await self._wait_exit(c)
            await ev.wait()
            # dockerd: a removed container's wait carries no start error (``run --rm`` whose start
            # failed prints the start's answer alone, no "Error waiting for container")
            return {**self._wait_result(c), "Error": None}
        if condition == "not-running" and not c.State.Running:
            return self._wait_result(c)
        await self._wait_exit(c)
        return self._wait_result(c)

    def _wait_exit(self, c: Container) -> "asyncio.Future[None]":
        """A future that resolves at the container's next exit, registered at once.

        Not a coroutine on purpose: callers start it with ensure_future, and a task's
        first step may run only after the exit was published (``_notify_exit`` runs
        right after ``set_exited``), leaving it never woken — a `logs -f` of a short
        container hung that way.  A cancelled future (a client that went away) drops
        out of the list.
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._exit_waiters.setdefault(c.Id, [])
        waiters.append(fut)

        def forget(f: "asyncio.Future[None]") -> None:
            if f.cancelled() and f in waiters:
                waiters.remove(f)

        fut.add_done_callback(forget)
        return fut

    @staticmethod
    def _wait_result(c: Container) -> dict[str, Any]:
        return {"StatusCode": c.State.ExitCode, "Error": {"Message": c.State.Error} if c.State.Error else None}
