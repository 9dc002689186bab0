"""The container service: the records, create, start and exit — the lifecycle.

Its other parts are mixins in this package: ``ops`` (stop, kill, pause, …),
``view`` (list, inspect), ``waits`` (wait, attachers waiting for a start),
``removal`` (rm, rename, prune) and ``startup`` (daemon start and shutdown).

Everything kernel-side goes through the layers below: the OCI spec is built
by ``spec.bundle`` (called from ``containers.start``), a per-container monitor (conmon) started by
``monitor.conmon`` holds the container's stdio, log and exit code, and an OCI
runtime binary (ours, crun or runc) does the namespaces and cgroups.  The
monitor outlives the daemon, so on start-up we re-adopt what still runs and
collect exit codes written while we were away.

Every step that changes the host has its undo on the failure path: a failed
create or start leaves no mount, cgroup, runtime state or record behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from typing import Any

from dockyard import errors
from dockyard.daemon.attach_hub import AttachHubs
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.containers.logdetails import log_file
from dockyard.daemon.containers.model import Container, now_rfc3339, parse_rfc3339
from dockyard.daemon.containers.ops import ContainerOps
from dockyard.daemon.containers.removal import ContainerRemoval
from dockyard.daemon.containers.startup import ContainerStartup
from dockyard.daemon.containers.view import ContainerViews
from dockyard.daemon.containers.waits import ContainerWaits
from dockyard.daemon.names import check_name, new_id, random_name
from dockyard.state.db import Database, dumps, loads

log = logging.getLogger("dockyard.containers")


class ContainerService(ContainerWaits, ContainerRemoval, ContainerStartup, ContainerOps, ContainerViews):
    """Owns every container record and its lifecycle.

    ``ContainerWaits`` comes before ``ContainerOps``: the latter declares
    ``_wait_exit`` and ``_notify_exit`` as placeholders that must not win.
    """

    networks: Any = None  # the network service (set by build_backends)

    def __init__(self, cfg: DaemonConfig, db: Database, images: Any, events: Any, volumes: Any) -> None:
        self.cfg = cfg
        self.volumes = volumes
        self.db = db
        self.images = images
        self.events = events
        self.root = os.path.join(cfg.data_root, "containers")
        os.makedirs(self.root, mode=0o710, exist_ok=True)
        self.monitor = self._new_monitor()
        self._containers: dict[str, Container] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._exit_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._start_waiters: dict[str, list[asyncio.Future[Any]]] = {}
        self._removed: dict[str, asyncio.Event] = {}
        self._watcher: Any = None
        from dockyard.daemon.containers.restart import RestartSupervisor

        self.restarts = RestartSupervisor(self._restart_due)
        self._stale_after_crash: set[str] = set()
        self.health: Any = None  # HealthChecks, set by build_backends (it needs the exec service)
        # one conmon attach connection per container run, shared by its clients
        self.attach_hubs = AttachHubs(self.monitor.attach)
        self._load()

    def _new_monitor(self) -> Any:
        """The per-container monitor: conmon here (a Windows engine composes its own)."""
        from dockyard.monitor.conmon import Monitor

        return Monitor(conmon_path=shutil.which("conmon") or "/usr/bin/conmon",
                       exec_root=os.path.join(self.cfg.exec_root, "monitor"))

    async def _release(self, c: Container) -> None:
        """Undo the container's kernel side (``reconcile.release``; a Windows engine has its own)."""
        from dockyard.daemon.containers.reconcile import release

        await release(self, c)

    # -- persistence --------------------------------------------------------------------
    def _load(self) -> None:
        for row in self.db.query("SELECT data FROM containers"):
            c = Container.from_record(loads(row["data"]))
            self._containers[c.Id] = c

    def _save(self, c: Container, *, new: bool = False) -> None:
        with self.db.tx() as cur:
            if new:
                cur.execute("INSERT INTO containers (id, name, created, data) VALUES (?, ?, ?, ?)",
                            (c.Id, c.Name, c.Created, dumps(c.to_record())))
            else:
                cur.execute("UPDATE containers SET name = ?, data = ? WHERE id = ?",
                            (c.Name, dumps(c.to_record()), c.Id))

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    # -- lookups --------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        """By full ID, name (with or without /), or unique ID prefix; Docker's errors."""
        if ref in self._containers:
            return self._containers[ref]
        name = ref.lstrip("/")
        for c in self._containers.values():
            if c.Name == name:
                return c
        if ref:
            matches = [c for c in self._containers.values() if c.Id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise errors.InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise errors.NotFound(f"No such container: {ref}")

    def all(self) -> list[Container]:
        return list(self._containers.values())

    def counts(self) -> tuple[int, int, int]:
        running = paused = stopped = 0
        for c in self._containers.values():
            if c.State.Paused:
                paused += 1
            elif c.State.Running:
                running += 1
            else:
                stopped += 1
        return running, paused, stopped

    def using_image(self, image_id: str) -> list[tuple[str, bool]]:
        return [(c.Id, c.State.Running) for c in self._containers.values() if c.Image == image_id]

    def runtime_for(self, c: Container) -> Any:
        from dockyard.monitor.oci import OCIRuntime

        rt = self.cfg.runtime(c.Runtime)
        return OCIRuntime(rt.path, os.path.join(self.cfg.exec_root, "runtime", rt.name), rt.args)

    # -- create ---------------------------------------------------------------------------
    async def create(self, name: str | None, config: dict[str, Any], host_config: dict[str, Any],
                     ro_non_recursive: bool = False,
                     networking_config: dict[str, Any] | None = None) -> Container:
        from dockyard.daemon.containers.config import create_warnings, normalize, validate_request
        from dockyard.daemon.containers.refused import check_refused
        from dockyard.spec.mounts import check_bind_options
        from dockyard.daemon.containers.mounts import create_mount_points

        image_ref = config.get("Image") or ""
        if not image_ref:
            raise errors.InvalidParameter("No image was specified")
        host_config = validate_request(config, host_config)
        check_refused(config, host_config, networking_config)
        check_bind_options(host_config)
        image = self.images.resolve(image_ref)
        config, host_config = normalize(config, host_config, image.config.get("config") or {}, self.cfg)
        runtime = host_config.get("Runtime") or self.cfg.default_runtime
        self.cfg.runtime(runtime)  # unknown runtime → 400 before anything is made
        if (host_config.get("PidMode") or "").startswith("container:"):  # dockerd: at create, and a 400
            try:  # (a 404 would send the CLI pulling the image)
                self.get(host_config["PidMode"].split(":", 1)[1])
            except errors.NotFound as exc:
                raise errors.InvalidParameter(exc.message) from None
        endpoints, warnings = self.networks.configure(config, host_config, networking_config) if self.networks else ({}, [])
        warnings = [*create_warnings(host_config), *warnings]
        if name:
            name = check_name(name)
            self._check_name_free(name)
        else:
            name = self._unique_random_name()
        cid = new_id()
        bundle = os.path.join(self.root, cid)
        c = Container(Id=cid, Name=name, Created=now_rfc3339(), Image=image.id, ImageRef=image_ref,
                      Config=config, HostConfig=host_config, Runtime=runtime, bundle=bundle,
                      LogPath=os.path.join(bundle, f"{cid}-json.log"), ro_non_recursive=ro_non_recursive)
        c.Path, c.Args = _path_and_args(config, image.config.get("config") or {})
        c.NetworkSettings = {"Networks": endpoints}
        rw = None
        try:
            os.makedirs(bundle, mode=0o710)
            rw = self.images.layers.create_rw(cid, image.id)
            c.rootfs = rw.merged
            self._write_init_files(c, rw)
            await create_mount_points(self, self.volumes, c, rw)
            self._save(c, new=True)
        except BaseException:
            self.volumes.remove_anonymous(c.MountPoints)
            if rw is not None:
                rw.remove()
            shutil.rmtree(bundle, ignore_errors=True)
            raise
        self._containers[cid] = c
        self.events.emit("container", "create", cid, self._event_attrs(c))
        c.warnings = warnings  # type: ignore[attr-defined]  # for the create response only
        return c

    def _check_name_free(self, name: str, exclude: str | None = None) -> None:
        for other in self._containers.values():
            if other.Name == name and other.Id != exclude:
                raise errors.Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container "{other.Id}". '
                    "You have to remove (or rename) that container to be able to reuse that name.")

    def _unique_random_name(self) -> str:
        taken = {c.Name for c in self._containers.values()}
        for _ in range(100):
            name = random_name()
            if name not in taken:
                return name
        return f"{random_name()}_{new_id()[:6]}"

    def _event_attrs(self, c: Container, **extra: str) -> dict[str, str]:
        attrs = {"image": c.ImageRef, "name": c.Name}
        attrs.update({k: str(v) for k, v in (c.Config.get("Labels") or {}).items()})
        attrs.update(extra)
        return attrs

    # -- start ----------------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.Id):
            if c.State.Paused:
                raise errors.Conflict("cannot start a paused container, try unpause instead")
            if c.State.Running or c.State.Restarting:
                raise errors.NotModified("container already started")
            if c.State.Status in ("removing", "dead"):
                raise errors.Conflict(f"container {c.Id} is marked for removal and cannot be started")
            # moby re-checks the settings before a start: a --mount source gone since the create
            # is a 400 that leaves the container's state as it was
            from dockyard.volume.mountpoints import host_mount_points

            host_mount_points(c.HostConfig, os.path.exists)
            self._reset_restart_loop(c)
            await self._start_locked(c)

    def _reset_restart_loop(self, c: Container) -> None:
        """A start by the user: RestartCount and the back-off start again, the manual stop is forgotten."""
        self.restarts.forget(c.Id)
        c.RestartCount, c.HasBeenManuallyStopped = 0, False

    async def _restart_due(self, cid: str) -> None:
        """The restart policy's delay is over: start the container again (unless stopped meanwhile)."""
        async with self._lock(cid):
            c = self._containers.get(cid)
            if c is None or not c.State.Restarting:
                return
            self.restarts.began(cid)
            if cid in self._stale_after_crash:
                # the daemon may have gone down in the middle of a start: clear what that left
                self._stale_after_crash.discard(cid)
                await self._undo_start(c, self.runtime_for(c), self.images.layers.get_rw(cid))
            await self._start_locked(c)

    def _write_init_files(self, c: Container, rw: Any) -> None:
        """What dockerd's init layer puts in a Linux container: an empty ``/.dockerenv``."""
        from dockyard.daemon.containers.mounts import write_dockerenv
        from dockyard.daemon.userns import remap_of  # POSIX only (pwd, grp)

        write_dockerenv(rw.upper, remap_of(c, self.cfg))

    def _running_peer(self, c: Container, key: str) -> Container | None:
        """The running container that ``<key>: container:<ref>`` names (``NetworkMode``,
        ``PidMode``, …); None for another mode or a peer that is missing or stopped."""
        mode = c.HostConfig.get(key) or ""
        if not mode.startswith("container:"):
            return None
        try:
            peer = self.get(mode.split(":", 1)[1])
        except errors.NotFound:
            return None
        return peer if peer.State.Running else None

    def _peer_namespaces(self, c: Container) -> dict[str, str]:
        """``--network/--pid/--ipc/--uts container:<ref>``: the peer's namespace files
        (``/proc/<pid>/ns/<ns>``), for the peers that run; a mode whose peer is missing
        or stopped is left out, and the spec says which (pods through cri-dockerd share
        their sandbox's namespaces this way)."""
        paths: dict[str, str] = {}
        for ns, key in (("network", "NetworkMode"), ("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode")):
            peer = self._running_peer(c, key)
            if peer is not None and peer.State.Pid:
                paths[ns] = f"/proc/{peer.State.Pid}/ns/{'net' if ns == 'network' else ns}"
        return paths

    async def _start_locked(self, c: Container) -> None:
        from dockyard.daemon.containers.start import cgroups_path, prepare_bundle
        from dockyard.daemon.cpu_rt import apply_daemon_budget
        from dockyard.daemon.userns import remap_of
        from dockyard.daemon.containers.timing import StartTimer

        from dockyard.daemon.containers.reconcile import runtime_state_dir

        timer = StartTimer()
        runtime = self.runtime_for(c)
        rw = self.images.layers.get_rw(c.Id)
        if os.path.exists(runtime_state_dir(self, c)):
            await self._release(c)  # what an earlier, interrupted start left
        try:
            rw.mount(remap_of(c, self.cfg))
            self.volumes.mount(c.Id, c.MountPoints)
            timer.mark("Rootfs")
            netns = self.networks.attach(c) if self.networks else None
            timer.mark("Network")
            net_peer = self._running_peer(c, "NetworkMode")  # its /etc files are shared once written
            apply_daemon_budget(self.cfg.cpu_rt_period, self.cfg.cpu_rt_runtime, cgroups_path(c, self.cfg))
            prepare_bundle(c, self.cfg, self.networks, netns, self._peer_namespaces(c),
                           net_peer if net_peer is not None and net_peer.HostsPath else None)
            timer.mark("Bundle")
            pid = await self.monitor.create(
                c.Id, c.Name, c.bundle, runtime, log_file(c),
                tty=bool(c.Config.get("Tty")), stdin=bool(c.Config.get("OpenStdin")),
                # with a TTY a client leaving never closes stdin (dockerd): a later attach types on
                stdin_once=bool(c.Config.get("StdinOnce")) and not c.Config.get("Tty"),
                log_size_max=self._log_size_max(c))
            timer.mark("RuntimeCreate")
            await self._connect_pending_attachers(c)
            timer.mark("Attach")
            size = c.HostConfig.get("ConsoleSize") or [0, 0]
            if c.Config.get("Tty") and size[0] and size[1]:  # the TTY's first size (API 1.42+)
                await self.monitor.resize(c.Id, size[0], size[1])
            await runtime.start(c.Id)
            timer.mark("RuntimeStart")
        except errors.DockyardError as exc:
            await self._undo_start(c, runtime, rw)
            from dockyard.monitor.conmon import start_error_exit_code

            self._start_failed(c, exc, start_error_exit_code(exc.message) or 128)
            raise
        except BaseException:
            await self._undo_start(c, runtime, rw)
            raise
        self._started(c, pid, timer)

    def _start_failed(self, c: Container, exc: errors.DockyardError, code: int) -> None:
        """Record a start that failed (its kernel side already undone)."""
        c.State.set_start_failed(code, exc.message)
        self._save(c)
        self._fail_pending_attachers(c, exc)
        # As dockerd: no die event (only a process that ran dies) and no `wait` woken (the start
        # call itself reports the failure).
        if c.HostConfig.get("AutoRemove"):  # as dockerd: a failed start of a --rm container removes it
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self._remove_quietly(c.Id)))

    def _started(self, c: Container, pid: int, timer: Any) -> None:
        """Record a start that succeeded: running, timings, the start event, an exit that came first."""
        from dockyard.daemon.containers.timing import event_attributes

        c.State.set_running(pid)
        c.DockyardStart = timer.record()
        late = self.restarts.lateness.pop(c.Id, None)
        if late is not None:
            c.DockyardStart["RestartLateMs"] = late
        if self.health is not None:
            self.health.container_started(c)
        self._save(c)
        self.events.emit("container", "start", c.Id, {**self._event_attrs(c), **event_attributes(c.DockyardStart)})
        # The container may have exited before we recorded it as running.
        code = self.monitor.exit_code(c.Id)
        if code is not None:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._on_exit(c.Id, code)))

    def _detach_network(self, c: Container) -> None:
        if self.networks is None:
            return
        try:
            self.networks.detach(c)
        except errors.DockyardError as exc:
            log.warning("network teardown of %s: %s", c.Id, exc)

    def _log_size_max(self, c: Container) -> int | None:
        """``--log-opt max-size`` of the container, else of daemon.json's log-opts."""
        from dockyard.daemon.config import parse_size

        from dockyard.daemon.containers.logopts import check_log_values

        opts = dict(self.cfg.log_opts)
        opts.update((c.HostConfig.get("LogConfig") or {}).get("Config") or {})
        check_log_values((c.HostConfig.get("LogConfig") or {}).get("Type") or "json-file", opts)
        raw = opts.get("max-size")
        return parse_size(raw) if raw else None

    async def _undo_start(self, c: Container, runtime: Any, rw: Any) -> None:
        await self._release(c)

    # -- exit ------------------------------------------------------------------------------
    async def _on_exit(self, cid: str, code: int) -> None:
        """The monitor recorded an exit: publish it at once, then release the kernel objects."""
        c = self._containers.get(cid)
        if c is None or not c.State.Running:
            return
        async with self._lock(cid):
            if not c.State.Running:
                return
            oom = self.monitor.oom_killed(cid)
            c.State.set_exited(code, oom=oom)
            if self.health is not None:
                self.health.container_stopped(c)
            delay = self.restarts.decide(c, code)
            if delay is not None:
                c.RestartCount += 1
                c.State.set_restarting()
            self._save(c)
            if oom:
                self.events.emit("container", "oom", cid, self._event_attrs(c))
            ran = int(time.time() - parse_rfc3339(c.State.StartedAt))
            self.events.emit("container", "die", cid, self._event_attrs(c, exitCode=str(code), execDuration=str(ran)))
            # as dockerd: when `stop` or `wait` returns, the ports and addresses are free again
            self._detach_network(c)
            self._notify_exit(c)
            # Waiters have their answer; the cleanup below still holds the lock, so a
            # start or remove that follows waits for it.
            await self._release(c)
            self._save(c)  # the network teardown changed NetworkSettings
            if delay is not None and c.State.Restarting:
                # as dockerd, the delay runs once the runtime has let go of the last run
                self.restarts.schedule(cid, delay)
        if c.HostConfig.get("AutoRemove"):
            await self._remove_quietly(cid)


def _path_and_args(config: dict[str, Any], image_config: dict[str, Any]) -> tuple[str, list[str]]:
    entrypoint = config.get("Entrypoint") or []
    cmd = config.get("Cmd") or []
    argv = list(entrypoint) + list(cmd)
    return (argv[0], argv[1:]) if argv else ("", [])
