"""The Windows host parts (see :mod:`dockyard.daemon.hostparts`): defaults under
``%ProgramData%``, the job-object runtime as the only runtime, the services a
Windows engine has (images, job-object containers), and Ctrl-C/Ctrl-Break as the
stop request."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockyard import errors
from dockyard.daemon import config as configmod
from dockyard.daemon.hostparts import HostParts
from dockyard.state.db import Database

RUNTIME = "dockyard"
# options of the Linux engine that have no meaning on a Windows host: refused, never ignored
LINUX_ONLY = {"userns-remap": "--userns-remap", "cgroup-parent": "--cgroup-parent", "group": "--group"}


def program_data() -> str:
    return os.environ.get("ProgramData") or "C:\\ProgramData"


def defaults() -> dict[str, Any]:
    """dockerd's Windows layout, under ``%ProgramData%\\dockyard``: its named pipe, and TCP on
    loopback beside it (a Linux docker CLI reaching into Wine, or docker-py without pywin32)."""
    root = os.path.join(program_data(), "dockyard")
    return {"data-root": root, "exec-root": os.path.join(root, "exec"),
            "pidfile": os.path.join(root, "dockyard.pid"),
            "hosts": ["npipe:////./pipe/dockyard_engine", "tcp://127.0.0.1:2375"]}


def job_runtime() -> configmod.RuntimeConfig:
    """The job-object runtime, run by this very interpreter."""
    return configmod.RuntimeConfig(RUNTIME, sys.executable, ["-m", "dockyard.runtime.windows.cli"])


def load_config(config_file: str | None, overrides: dict[str, Any]) -> configmod.DaemonConfig:
    for key, flag in LINUX_ONLY.items():
        if overrides.get(key):
            raise errors.InvalidParameter(f"{flag} is not supported on Windows")
    if overrides.get("runtimes") or overrides.get("default-runtime") not in (None, RUNTIME):
        raise errors.InvalidParameter(f"only the job-object runtime ({RUNTIME}) runs containers on Windows")
    merged = {**defaults(), **{k: v for k, v in overrides.items() if v is not None}}
    cfg = configmod.load(config_file, merged, RUNTIME, os.path.join(program_data(), "dockyard", "config", "daemon.json"))
    if set(cfg.runtimes) - set(configmod.builtin_runtimes(RUNTIME)):  # daemon.json "runtimes"
        raise errors.InvalidParameter(f"only the job-object runtime ({RUNTIME}) runs containers on Windows")
    cfg.runtimes = {RUNTIME: job_runtime()}
    cfg.default_runtime = RUNTIME
    return cfg


@dataclass
class WindowsBackends:
    config: configmod.DaemonConfig
    db: Database
    system: Any
    images: Any
    containers: Any
    events: Any
    volumes: Any = None
    registry: Any = None

    async def startup(self) -> None:
        await self.containers.startup()

    async def shutdown(self) -> None:
        await self.containers.shutdown()
        self.db.close()


def build_backends(cfg: configmod.DaemonConfig) -> WindowsBackends:
    from dockyard.daemon.events import EventService
    from dockyard.daemon.volumes import VolumeService
    from dockyard.daemon.windows.containers import WindowsContainers
    from dockyard.daemon.windows.sandbox import SandboxLayer
    from dockyard.daemon.windows.system import WindowsSystemService, arch
    from dockyard.daemon.windows.unsupported import NoRegistry, WindowsImageService
    from dockyard.image import unpack_windows

    for d in (cfg.data_root, cfg.exec_root):
        os.makedirs(d, exist_ok=True)
    db = Database(os.path.join(cfg.data_root, "dockyard.db"))
    events = EventService()
    images = WindowsImageService(cfg, db, events)
    images.host = ("windows", arch())
    images.layers.apply_tar = unpack_windows.apply_tar  # files copied into the layer: no overlay here
    images.layers.rw_layer = SandboxLayer  # a container's folder: the layers copied, no overlay
    volumes = VolumeService(cfg, db, events)  # the shared service; mounts are refused on Windows
    containers = WindowsContainers(cfg, db, images, events, volumes)
    images.set_container_lookup(containers.using_image)
    system = WindowsSystemService(cfg, containers, images)
    return WindowsBackends(config=cfg, db=db, system=system, images=images, containers=containers, events=events,
                           volumes=volumes, registry=NoRegistry())


def route_modules() -> list[Any]:
    from dockyard.api import containers, distribution, images, system
    from dockyard.daemon.windows import routes

    return [system, images, distribution, containers, routes]


def watch_stop(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """Ctrl-C and Ctrl-Break (what a console, or ``GenerateConsoleCtrlEvent``, sends) stop the
    daemon; the proactor loop wakes for them through its signal wake-up socket."""
    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(stop)

    for name in ("SIGINT", "SIGBREAK", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def parts() -> HostParts:
    return HostParts(name="windows", load_config=load_config, build_backends=build_backends,
                     route_modules=route_modules, fd_limit=None, prepare_process=lambda: None,
                     watch_stop=watch_stop)
