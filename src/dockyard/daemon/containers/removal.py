"""Removing, renaming and pruning containers.

Mixed into :class:`~dockyard.daemon.containers.service.ContainerService`.  A
removal marks the record ``removing`` before it touches the host, so a crash
in the middle is finished by start-up; a failure puts the old status back.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.daemon.containers.model import Container
from dockyard.daemon.containers.ops import SIGKILL
from dockyard.daemon.names import check_name

log = logging.getLogger("dockyard.containers")


class ContainerRemoval:
    """``rm`` (with ``-f`` and ``-v``), ``rm --link``, ``rename`` and ``container prune``."""

    if TYPE_CHECKING:  # provided by the other parts of ContainerService
        def get(self, ref: str) -> Container: ...  # provided by ContainerService
        def _lock(self, cid: str) -> asyncio.Lock: ...  # provided by ContainerService
        def _save(self, c: Container, *, new: bool = False) -> None: ...  # provided by ContainerService
        def runtime_for(self, c: Container) -> Any: ...  # provided by ContainerService
        def _event_attrs(self, c: Container, **extra: str) -> dict[str, str]: ...  # provided by ContainerService
        def _check_name_free(self, name: str, exclude: str | None = None) -> None: ...  # provided by ContainerService
        def _wait_exit(self, c: Container) -> "asyncio.Future[None]": ...  # provided by ContainerWaits
        def _size_rw(self, c: Container) -> int: ...  # provided by ContainerViews
        async def _release(self, c: Container) -> None: ...  # provided by ContainerService

    db: Any
    images: Any
    networks: Any
    volumes: Any
    events: Any
    restarts: Any
    _containers: dict[str, Container]
    _locks: dict[str, asyncio.Lock]
    _removed: dict[str, asyncio.Event]


    async def _remove_quietly(self, cid: str) -> None:
        try:
            await self.remove(cid, force=True, volumes=True)
        except errors.DockyardError as exc:
            log.warning("auto-remove %s: %s", cid, exc)

    # -- remove / rename / prune ----------------------------------------------------------------
    async def remove_link(self, ref: str, alias: str) -> None:
        """Drop the legacy link ``alias`` of container ``ref`` (``docker rm --link``)."""
        from dockyard.network.links import parse_link

        c = self.get(ref)
        links = list(c.HostConfig.get("Links") or [])
        kept = [link for link in links if parse_link(link)[1] != alias]
        if len(kept) == len(links):
            raise errors.NotFound(f"No such container: {ref}/{alias}")
        c.HostConfig["Links"] = kept or None
        self._save(c)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.State.Restarting:
            if not force:
                raise errors.Conflict(f"cannot remove container \"/{c.Name}\": container is restarting: stop the "
                                      "container before removing or force remove")
            self.restarts.forget(c.Id)
        while True:
            if c.State.Running:
                if not force:
                    if c.State.Paused:
                        raise errors.Conflict(f"cannot remove container \"/{c.Name}\": container is paused "
                                              "and must be unpaused first")
                    raise errors.Conflict(f"cannot remove container \"/{c.Name}\": container is running: "
                                          "stop the container before removing or force remove")
                await self._kill_for_removal(c)
            async with self._lock(c.Id):
                if c.Id not in self._containers:
                    return
                if c.State.Running:  # a start got in between: stop it again
                    continue
                before = c.State.Status
                c.State.Status = "removing"  # a crash from here on: start-up finishes the removal
                self._save(c)
                try:
                    await self._release(c)
                    # A worker thread deletes the files: a container that wrote many
                    # (a package install, a build step) takes seconds to delete, and the
                    # event loop serves every other client meanwhile.
                    await asyncio.get_running_loop().run_in_executor(None, self._delete_files, c)
                    with self.db.tx() as cur:
                        cur.execute("DELETE FROM containers WHERE id = ?", (c.Id,))
                except BaseException:
                    c.State.Status = before
                    self._save(c)
                    raise
                del self._containers[c.Id]
                if volumes:
                    retired: list[str] = []
                    self.volumes.remove_anonymous(c.MountPoints, discard=retired.append)
                    await self.volumes.discard_async(retired)
            break
        self._locks.pop(c.Id, None)
        self.events.emit("container", "destroy", c.Id, self._event_attrs(c))
        ev = self._removed.pop(c.Id, None)
        if ev is not None:
            ev.set()

    def _delete_files(self, c: Container) -> None:
        """The container's RW layer (unmounted, its image layers released) and its bundle directory."""
        try:
            self.images.layers.get_rw(c.Id).remove()
        except errors.NotFound:
            pass
        shutil.rmtree(c.bundle, ignore_errors=True)

    async def _kill_for_removal(self, c: Container) -> None:
        """``rm -f`` of a running container: SIGKILL everything in it and wait for the exit."""
        runtime = self.runtime_for(c)
        exited = asyncio.ensure_future(self._wait_exit(c))
        if c.State.Paused:
            try:
                await runtime.resume(c.Id)
            except errors.DockyardError:
                pass
        try:
            await runtime.kill(c.Id, SIGKILL, all_processes=True)
        except errors.DockyardError:
            pass
        try:
            await asyncio.wait_for(exited, 15)
        except asyncio.TimeoutError:
            raise errors.SystemError_(f"could not kill container {c.Id}") from None

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise errors.InvalidParameter("Neither old nor new names may be empty")
        try:
            new_name = check_name(new_name)
        except errors.InvalidParameter:  # moby's reserveName sees the name with its slash, then wraps
            shown = "/" + new_name.lstrip("/")
            raise errors.InvalidParameter(f"Error when allocating new name: Invalid container name ({shown}), "
                                          "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") from None
        if new_name == c.Name:
            raise errors.InvalidParameter("Renaming a container with the same name as its current name")
        try:
            self._check_name_free(new_name, exclude=c.Id)
        except errors.Conflict as exc:
            raise errors.Conflict(f"Error when allocating new name: {exc.message}") from None
        old = c.Name
        c.Name = new_name
        try:
            if self.networks is not None and c.State.Running:
                self.networks.renamed(c)  # the DNS names follow (and go back below if the save fails)
            self._save(c)
        except Exception:
            c.Name = old
            if self.networks is not None and c.State.Running:
                self.networks.renamed(c)
            raise
        self.events.emit("container", "rename", c.Id, self._event_attrs(c, oldName=f"/{old}"))

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        from dockyard.daemon.containers.view import match_labels, parse_until
        from dockyard.daemon.filters import PRUNE_FILTERS, check_accepted

        check_accepted(filters, PRUNE_FILTERS)
        until = parse_until(filters.get("until"))
        deleted = []
        reclaimed = 0
        for c in list(self._containers.values()):
            if c.State.Running or c.State.Status == "removing":
                continue
            if not match_labels(c, filters):
                continue
            if until is not None and c.Created > until:
                continue
            # the writable layer is what removal frees, as dockerd counts; a walk of all its files
            size = await asyncio.get_running_loop().run_in_executor(None, self._size_rw, c)
            if c.Id not in self._containers or c.State.Running:  # removed or started meanwhile
                continue
            await self.remove(c.Id)
            deleted.append(c.Id)
            reclaimed += size
        self.events.emit("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}
