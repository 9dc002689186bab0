"""The daemon's services, built once and handed to the API layer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dockyard.daemon.config import DaemonConfig
from dockyard.state.db import Database


@dataclass
class Backends:
    """Every service the routers call, one per resource."""

    config: DaemonConfig
    db: Database
    system: Any
    images: Any
    containers: Any
    events: Any
    exec: Any
    build: Any = None
    networks: Any = None
    volumes: Any = None
    registry: Any = None

    async def startup(self) -> None:
        """Re-adopt what survived a restart, start watchers."""
        await self.containers.startup()
        self.networks.startup()
        self.exec.remove_stale_sessions()

    async def shutdown(self) -> None:
        self.exec.shutdown()
        await self.containers.shutdown()
        self.networks.shutdown()
        self.db.close()


def build_backends(cfg: DaemonConfig) -> Backends:
    from dockyard.daemon.build import BuildService
    from dockyard.daemon.containers.service import ContainerService
    from dockyard.daemon.events import EventService
    from dockyard.daemon.exec import ExecService
    from dockyard.daemon.images import ImageService
    from dockyard.daemon.networks import NetworkService
    from dockyard.daemon.registry import RegistryService
    from dockyard.daemon.system import SystemService
    from dockyard.daemon.volumes import VolumeService

    for d in (cfg.data_root, cfg.exec_root):
        os.makedirs(d, mode=0o711, exist_ok=True)
    db = Database(os.path.join(cfg.data_root, "dockyard.db"))
    events = EventService()
    images = ImageService(cfg, db, events)
    volumes = VolumeService(cfg, db, events)
    containers = ContainerService(cfg, db, images, events, volumes)
    volumes.container_mounts = lambda: ((c.Id, c.MountPoints) for c in containers.all())
    images.set_container_lookup(containers.using_image)
    system = SystemService(cfg, containers, images)
    system.volumes = volumes
    execs = ExecService(containers)
    containers.exec_lookup = execs.running_ids
    from dockyard.daemon.containers.health import HealthChecks

    containers.health = HealthChecks(containers, execs)
    networks = NetworkService(cfg, db, events)
    networks.containers, containers.networks = containers, networks
    registry = RegistryService(cfg, images, events)
    return Backends(config=cfg, db=db, system=system, images=images, containers=containers, events=events,
                    exec=execs, networks=networks, volumes=volumes, registry=registry,
                    build=BuildService(cfg.data_root, db, images, containers, events, registry))
