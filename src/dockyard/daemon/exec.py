"""The exec service: ``docker exec`` records and their processes.

An exec is created (a record: what to run, how), then started once; its
process joins every namespace and the cgroup of the container through the
OCI runtime's ``exec``, and its exit code lands on the record.  With the
native runtime the process comes from the runtime's exec server and the
daemon holds its stdio (monitor/directexec.py: no interpreter start and no
conmon per exec); with any other runtime it runs under its own conmon
(``Monitor.exec``).  Records live in memory, as dockerd keeps them:
an exec session does not survive a daemon restart.  A container lists only its
*running* execs in ``ExecIDs`` (dockerd drops an exec from the container when
it ends, but keeps it inspectable); records go when their container goes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.monitor.conmon import ContainerStartError, start_error_exit_code

log = logging.getLogger("dockyard.exec")


def event_command(cmd: list[str]) -> str:
    """The command in an exec event's action: moby's entrypoint, a space, then the arguments joined
    (so a command without arguments ends with a space: ``exec_create: hostname ``)."""
    return f"{cmd[0]} {' '.join(cmd[1:])}" if cmd else " "


@dataclass
class ExecRecord:
    """One exec instance, in the shape of ``GET /exec/{id}/json``."""

    ID: str
    ContainerID: str
    Cmd: list[str]
    Tty: bool = False
    Privileged: bool = False
    User: str = ""
    WorkingDir: str = ""
    Env: list[str] = field(default_factory=list)
    OpenStdin: bool = False
    OpenStdout: bool = False
    OpenStderr: bool = False
    DetachKeys: str = ""
    ConsoleSize: tuple[int, int] | None = None
    Running: bool = False
    ExitCode: int | None = None
    Pid: int = 0
    started: bool = False
    session: Any = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    finisher: Any = None  # the one task that collects the exit code

    def view(self) -> dict[str, Any]:
        process: dict[str, Any] = {"tty": self.Tty, "entrypoint": self.Cmd[0], "arguments": self.Cmd[1:],
                                   "privileged": self.Privileged}
        if self.User:  # omitempty in dockerd
            process["user"] = self.User
        return {
            "ID": self.ID, "Running": self.Running, "ExitCode": self.ExitCode,
            "ProcessConfig": process,
            "OpenStdin": self.OpenStdin, "OpenStderr": self.OpenStderr, "OpenStdout": self.OpenStdout,
            "CanRemove": False, "ContainerID": self.ContainerID, "DetachKeys": self.DetachKeys,
            "Pid": self.Pid,
        }


def _monitor_alive(pid_file: str) -> bool:
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0]).startswith(b"conmon")
    except (OSError, ValueError):
        return False


def _console_size(raw: Any) -> tuple[int, int] | None:
    if not raw:
        return None
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(v, int) and v >= 0 for v in raw):
        raise errors.InvalidParameter("invalid ConsoleSize: expected [height, width]")
    return (raw[0], raw[1]) if raw[0] and raw[1] else None


def _host_capabilities() -> list[str]:
    """``--privileged``: every capability the daemon itself holds."""
    from dockyard.capabilities import held_names

    return held_names()


class ExecService:
    """Creates, starts, resizes and inspects exec instances of running containers."""

    def __init__(self, containers: Any) -> None:
        self.containers = containers
        self._execs: dict[str, ExecRecord] = {}
        self._servers: dict[str, Any] = {}  # runtime root -> directexec.ExecServer
        self._spec_cache: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}

    def shutdown(self) -> None:
        """Stop the exec servers (running execs carry on)."""
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    def remove_stale_sessions(self) -> None:
        """At start-up: drop the session dirs of execs whose monitor is gone.

        Exec records live in memory, so a restart forgets them; an exec that
        still runs keeps its dir until the next start-up after it ended.
        """
        root = os.path.join(self.containers.monitor.exec_root, "exec")
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return
        for name in names:
            d = os.path.join(root, name)
            if not _monitor_alive(os.path.join(d, "conmon.pid")):
                shutil.rmtree(d, ignore_errors=True)

    # -- queries -------------------------------------------------------------------------
    def get(self, exec_id: str) -> ExecRecord:
        self._forget_orphans()
        rec = self._execs.get(exec_id)
        if rec is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return rec

    def inspect(self, exec_id: str) -> dict[str, Any]:
        return self.get(exec_id).view()

    def running_ids(self, container_id: str) -> list[str] | None:
        """``ExecIDs`` of container inspect: the execs still running (None when none)."""
        ids = [r.ID for r in self._execs.values() if r.ContainerID == container_id and r.Running]
        return ids or None

    def _forget_orphans(self) -> None:
        """Drop the records of removed containers (dockerd forgets them with the container)."""
        live = {c.Id for c in self.containers.all()}
        for cid in [k for k in self._spec_cache if k not in live]:
            del self._spec_cache[cid]
        for eid in [e for e, r in self._execs.items() if r.ContainerID not in live and not r.Running]:
            del self._execs[eid]

    def _running_container(self, ref: str) -> Any:
        c = self.containers.get(ref)
        if c.State.Paused:
            raise errors.Conflict(f"Container {ref} is paused, unpause the container before exec")
        if not c.State.Running:
            raise errors.Conflict(f"container {c.Id} is not running")
        return c

    def discard(self, exec_id: str) -> None:
        """Forget an exec once its result is taken (healthcheck probes: dockerd unregisters them)."""
        self._execs.pop(exec_id, None)

    # -- create ---------------------------------------------------------------------------
    def create(self, ref: str, body: dict[str, Any]) -> str:
        c = self._running_container(ref)
        # ``body`` was decoded against api.bodies.ExecConfig: canonical keys, typed values
        cmd = body.get("Cmd")
        if not cmd:
            raise errors.InvalidParameter("No exec command specified")
        env = body.get("Env") or []
        workdir = body.get("WorkingDir") or ""
        rec = ExecRecord(
            ID=secrets.token_hex(32), ContainerID=c.Id, Cmd=[str(a) for a in cmd],
            Tty=bool(body.get("Tty")), Privileged=bool(body.get("Privileged")),
            User=body.get("User") or "", WorkingDir=workdir, Env=list(env),
            OpenStdin=bool(body.get("AttachStdin")), OpenStdout=bool(body.get("AttachStdout")),
            OpenStderr=bool(body.get("AttachStderr")), DetachKeys=body.get("DetachKeys") or "",
            ConsoleSize=_console_size(body.get("ConsoleSize")))
        self._forget_orphans()
        self._execs[rec.ID] = rec
        self.containers.events.emit("container", f"exec_create: {event_command(rec.Cmd)}", c.Id,
                                    self.containers._event_attrs(c, execID=rec.ID))
        return rec.ID

    # -- start ------------------------------------------------------------------------------
    def check_startable(self, exec_id: str) -> ExecRecord:
        """Errors that must reach the client before a stream is hijacked."""
        rec = self.get(exec_id)
        if rec.Running:
            raise errors.Conflict(f"Error: Exec command {rec.ID} is already running")
        if rec.started:
            raise errors.Conflict(f"Error: Exec command {rec.ID} has already run")
        return rec

    async def start(self, exec_id: str, *, attach: bool, console_size: Any = None) -> ExecRecord:
        """Start the process.  With ``attach``, ``rec.session.attachment`` is connected first.

        On a runtime failure the record ends with Docker's exit code (126 cannot
        execute, 127 not found) and the error is raised for the stream.
        """
        rec = self.check_startable(exec_id)
        rec.started = True
        size = _console_size(console_size)
        if size:
            rec.ConsoleSize = size
        try:
            c = self._running_container(rec.ContainerID)
            if rec.WorkingDir and not rec.WorkingDir.startswith("/"):
                # dockerd takes it at create; runc refuses the process when it starts (126)
                raise ContainerStartError("Cwd must be an absolute path")
            process = self._process(c, rec)
            session = await self._launch(c, rec, process, attach)
        except ContainerStartError as exc:
            rec.ExitCode = start_error_exit_code(exc.message) or 126
            rec.done.set()
            raise ContainerStartError(f"OCI runtime exec failed: {exc.message}") from None
        except errors.DockyardError as exc:
            rec.ExitCode = start_error_exit_code(exc.message) or 126
            rec.done.set()
            raise
        except BaseException:
            rec.ExitCode = 126
            rec.done.set()
            raise
        rec.session, rec.Pid, rec.Running = session, session.pid, True
        c = self.containers.get(rec.ContainerID)
        self.containers.events.emit("container", f"exec_start: {event_command(rec.Cmd)}", c.Id,
                                    self.containers._event_attrs(c, execID=rec.ID))
        if rec.ConsoleSize and rec.Tty:
            # the runtime made the pty with process.consoleSize already (ours and runc in the
            # child, before the exec); crun sets it only after releasing the process: again here
            await self._resize_session(rec, *rec.ConsoleSize)
        if not attach:
            self.collect(rec)
        return rec

    async def _launch(self, c: Any, rec: ExecRecord, process: dict[str, Any], attach: bool) -> Any:
        """Start the process: through the native runtime's exec server, else under conmon."""
        from dockyard.monitor import directexec

        svc = self.containers
        runtime = svc.runtime_for(c)
        stdin = rec.OpenStdin and attach
        if svc.cfg.runtime(c.Runtime).name != "dockyard":
            return await svc.monitor.exec(c.Id, rec.ID, runtime, process, tty=rec.Tty, stdin=stdin,
                                          attach=attach)
        server = self._servers.get(runtime.root)
        if server is None:
            server = self._servers[runtime.root] = directexec.ExecServer(runtime)
        try:
            return await server.exec(c.Id, process, tty=rec.Tty, stdin=stdin, attach=attach)
        except directexec.ExecStartError as exc:
            raise ContainerStartError(exc.message) from None

    def collect(self, rec: ExecRecord) -> asyncio.Future[int]:
        """The task that waits for the exit code and releases the session (one per exec)."""
        if rec.finisher is None:
            rec.finisher = asyncio.ensure_future(self._finish(rec))
        return rec.finisher

    async def finish(self, rec: ExecRecord) -> int:
        """Wait for the process's exit code; cancelling the wait leaves the collection running."""
        return await asyncio.shield(self.collect(rec))

    async def _finish(self, rec: ExecRecord) -> int:
        session = rec.session
        if session is None:
            await rec.done.wait()
            return rec.ExitCode if rec.ExitCode is not None else -1
        try:
            code = await session.wait()
        finally:
            rec.session = None
            await session.cleanup()
        if rec.Running:
            rec.ExitCode, rec.Running = code, False
            rec.done.set()
            c = self.containers._containers.get(rec.ContainerID)
            if c is not None:
                self.containers.events.emit("container", "exec_die", c.Id,
                                            self.containers._event_attrs(c, execID=rec.ID,
                                                                         exitCode=str(code)))
        return rec.ExitCode if rec.ExitCode is not None else -1

    # -- resize ------------------------------------------------------------------------------
    async def resize(self, exec_id: str, height: int, width: int) -> None:
        rec = self.get(exec_id)
        if rec.session is None:
            if rec.done.is_set():
                raise errors.Conflict(f"Exec {exec_id} is not running")
            rec.ConsoleSize = (height, width)  # applied when it starts (the CLI races the start)
            return
        if not rec.Tty:
            return  # dockerd ignores a resize of a process without a terminal
        await self._resize_session(rec, height, width)

    @staticmethod
    async def _resize_session(rec: ExecRecord, height: int, width: int) -> None:
        try:
            await rec.session.resize(height, width)
        except errors.DockyardError as exc:
            log.debug("resize exec %s: %s", rec.ID, exc)

    # -- the OCI process -----------------------------------------------------------------------
    def _spec_process(self, c: Any) -> dict[str, Any]:
        """The ``process`` of the container's config.json, parsed once per version of the file
        (a start rewrites it; healthchecks exec every second and need not parse it each time)."""
        path = os.path.join(c.bundle, "config.json")
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._spec_cache.get(c.Id)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            with open(path, encoding="utf-8") as f:
                base = json.load(f)["process"]
        except (OSError, ValueError, KeyError) as exc:
            raise errors.SystemError_(f"read the spec of container {c.Id}: {exc}") from None
        self._spec_cache[c.Id] = (stamp, base)
        return base

    def _process(self, c: Any, rec: ExecRecord) -> dict[str, Any]:
        """The container's own process spec, with the exec's args, env, user, cwd and caps."""
        from dockyard.spec.bundle import build_env, resolve_user

        base = self._spec_process(c)
        user = resolve_user(c.rootfs, rec.User or c.Config.get("User") or "",
                            c.HostConfig.get("GroupAdd") or ())
        hostname = c.Config.get("Hostname") or c.Id[:12]
        env = build_env({"Env": list(c.Config.get("Env") or []) + rec.Env}, {}, hostname, rec.Tty,
                        user.home)
        caps = base.get("capabilities") or {}
        bounding = _host_capabilities() if rec.Privileged else list(caps.get("bounding") or [])
        process = dict(base)
        process.update({
            "args": list(rec.Cmd), "env": env, "cwd": rec.WorkingDir or base.get("cwd") or "/",
            "user": {"uid": user.uid, "gid": user.gid},
            "capabilities": {"bounding": bounding, "effective": bounding if user.uid == 0 else [],
                             "permitted": bounding if user.uid == 0 else []},
        })
        if user.additional_gids:
            process["user"]["additionalGids"] = list(user.additional_gids)
        process.pop("consoleSize", None)
        if rec.Tty and rec.ConsoleSize:
            process["consoleSize"] = {"height": rec.ConsoleSize[0], "width": rec.ConsoleSize[1]}
        return process
