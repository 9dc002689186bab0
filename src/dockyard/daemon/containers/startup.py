"""The container service at daemon start and shutdown.

Mixed into :class:`~dockyard.daemon.containers.service.ContainerService`.  The
monitors outlive the daemon, so start-up makes every record agree with the
kernel (see ``reconcile``), re-adopts what still runs, drops what a crash in
the middle of ``create`` left, and brings back the containers whose restart
policy says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.daemon.containers.model import Container

log = logging.getLogger("dockyard.containers")


class ContainerStartup:
    """``startup`` and ``shutdown`` of the container service."""

    if TYPE_CHECKING:  # provided by the other parts of ContainerService
        async def _on_exit(self, cid: str, code: int) -> None: ...  # provided by ContainerService
        def _reset_restart_loop(self, c: Container) -> None: ...  # provided by ContainerService

    root: str
    images: Any
    volumes: Any
    monitor: Any
    restarts: Any
    health: Any
    _watcher: Any
    _containers: dict[str, Container]
    _stale_after_crash: set[str]


    # -- start-up / shutdown ------------------------------------------------------------------
    async def startup(self) -> None:
        """Make every record agree with the kernel (see ``reconcile``), then watch for exits."""
        from dockyard.daemon.containers.reconcile import reconcile_record, remove_unrecorded
        from dockyard.monitor.conmon import ExitWatcher

        loop = asyncio.get_running_loop()
        self._watcher = ExitWatcher(self.monitor.exit_dir,
                                    lambda cid, code: asyncio.ensure_future(self._on_exit(cid, code)))
        self._watcher.start(loop)
        self._remove_orphans()
        for c in self._containers.values():  # before any exit below unmounts a volume another one uses
            if c.State.Running:
                self.volumes.adopt(c.Id, c.MountPoints)
        slots = asyncio.Semaphore(4)  # independent records: a few at once, the runtime calls dominate

        async def one(c: Container) -> None:
            async with slots:
                try:
                    await reconcile_record(self, c)
                except errors.DockyardError as exc:
                    log.error("reconciling container %s: %s", c.Id, exc)

        await asyncio.gather(*(one(c) for c in list(self._containers.values())))
        await remove_unrecorded(self)
        self._restart_at_daemon_start()

    def _restart_at_daemon_start(self) -> None:
        """Containers whose restart policy brings them back when the daemon starts (moby's restore).

        As in dockerd, such a start begins a new loop: RestartCount 0, a manual stop
        of an ``always`` container forgotten.  That includes a container that died
        while the daemon was down (its exit was just collected above).
        """
        from dockyard.daemon.containers.restart import start_at_daemon_start

        for c in list(self._containers.values()):
            if not c.State.Running and start_at_daemon_start(c):
                self._stale_after_crash.add(c.Id)
                self._reset_restart_loop(c)
                c.State.set_restarting()
                self.restarts.schedule(c.Id, 0)

    def _remove_orphans(self) -> None:
        """Drop what a crash in the middle of ``create`` left: a bundle dir or RW layer with no record."""
        for name in os.listdir(self.root):
            if name in self._containers:
                continue
            log.info("removing the leftovers of container %s (no record)", name)
            try:
                self.images.layers.get_rw(name).remove()
            except errors.NotFound:
                pass
            shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)

    async def shutdown(self) -> None:
        self.restarts.close()
        if self.health is not None:
            self.health.close()
        if self._watcher is not None:
            self._watcher.stop()
