"""The Windows engine's container service: the shared lifecycle over job-object containers.

Everything platform-neutral is the shared :class:`ContainerService` (records,
names, create, wait, kill/stop, logs, remove, restart policies, list and
inspect).  What differs is here:

- the monitor is :class:`~dockyard.daemon.windows.monitor.JobMonitor` (the
  runtime's supervisor holds the pipes and writes the log; exits are
  ``exit.json`` files) instead of conmon;
- the rootfs is the container's folder (``sandbox.py``: the layers copied) and
  the bundle is ``bundle.py``'s Windows config.json — no overlay, no mounts,
  no network namespace, no cgroups, no seccomp;
- releasing a container is ``runtime delete --force``;
- start-up re-adopts what the supervisors kept running while the engine was
  away (``runtime state``), and collects the exits recorded meanwhile;
- ``top`` lists the job's processes, ``stats`` reads the job's accounting;
- options a job object cannot carry are refused at create (``refused.py``),
  and so are pause, unpause, update and resize.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from dockyard import errors, jobobject
from dockyard.daemon.containers.model import ZERO_TIME, Container, now_rfc3339
from dockyard.daemon.containers.reconcile import delete_runtime_state
from dockyard.daemon.containers.service import ContainerService
from dockyard.daemon.windows import bundle as bundlemod
from dockyard.daemon.windows import refused
from dockyard.daemon.windows.monitor import JobMonitor
from dockyard.monitor.oci import OCIRuntime

log = logging.getLogger("dockyard.windows.containers")
STATS_INTERVAL = 1.0


def job_accounting(runtime_root: str, cid: str) -> dict[str, Any]:
    """The job's accounting, read here rather than through ``runtime events --stats``: the job is
    a named kernel object, and each runtime command is one more Windows CPython start (about half a
    second under Wine; the docker CLI gives ``stats`` two seconds for its first sample).  The name
    and the reader are the leaf :mod:`dockyard.jobobject`'s, shared with the runtime as a cgroup
    path is on Linux: the engine imports nothing of the runtime's package."""
    return jobobject.read_accounting(jobobject.object_name(runtime_root, cid, "job"))


class ModuleRuntime(OCIRuntime):
    """The job-object runtime is ``python.exe -m dockyard.runtime.windows.cli``: the interpreter's
    arguments come before the runtime's own (``--root``), not after as a binary's extra flags."""

    def global_args(self) -> list[str]:
        return [*self.extra_args, "--root", self.root]


class WindowsContainers(ContainerService):
    """Containers on job objects, through the job-object runtime."""

    def _new_monitor(self) -> JobMonitor:
        return JobMonitor(self.runtime_for_name(self.cfg.default_runtime).root)

    def runtime_for(self, c: Container) -> Any:
        return self.runtime_for_name(c.Runtime)

    def runtime_for_name(self, name: str) -> Any:
        rt = self.cfg.runtime(name)
        return ModuleRuntime(rt.path, os.path.join(self.cfg.exec_root, "runtime", rt.name), rt.args)

    async def create(self, name: str | None, config: dict[str, Any], host_config: dict[str, Any],
                     ro_non_recursive: bool = False,
                     networking_config: dict[str, Any] | None = None) -> Container:
        refused.check(config, host_config or {}, networking_config)
        return await super().create(name, config, host_config, ro_non_recursive, networking_config)

    def _write_init_files(self, c: Container, rw: Any) -> None:
        """No ``/.dockerenv``: that file is part of the Linux init layer (Windows containers under
        dockerd have none), and the Linux writer's flags (O_NOFOLLOW, fchmod) do not exist here."""

    async def _start_locked(self, c: Container) -> None:
        from dockyard.daemon.containers.timing import StartTimer

        timer = StartTimer()
        runtime = self.runtime_for(c)
        rw = self.images.layers.get_rw(c.Id)
        if os.path.exists(os.path.join(runtime.root, c.Id)):
            await self._release(c)  # what an earlier, interrupted start left
        try:
            folder = await asyncio.get_running_loop().run_in_executor(None, rw.mount)
            timer.mark("Rootfs")
            with open(os.path.join(c.bundle, "config.json"), "w", encoding="utf-8") as f:
                json.dump(bundlemod.config_json(c, folder, os.cpu_count() or 1), f)
            timer.mark("Bundle")
            pid = await self.monitor.create(c.Id, c.bundle, runtime, c.LogPath)
            timer.mark("RuntimeCreate")
            await self._connect_pending_attachers(c)
            timer.mark("Attach")
            await runtime.start(c.Id)
            timer.mark("RuntimeStart")
        except errors.DockyardError as exc:
            await self._release(c)
            from dockyard.monitor.conmon import start_error_exit_code  # a pure helper: Docker's 126/127

            self._start_failed(c, exc, start_error_exit_code(exc.message) or 128)
            raise
        except BaseException:
            await self._release(c)
            raise
        self._started(c, pid, timer)

    async def _release(self, c: Container) -> None:
        """The runtime forgets the container: its job ended, its supervisor gone, its state removed."""
        self.monitor.forget(c.Id)
        await delete_runtime_state(self.runtime_for(c), c.Id)

    # -- start-up / shutdown ------------------------------------------------------------------
    async def startup(self) -> None:
        """Adopt what still runs (the supervisors outlive the engine), collect exits recorded
        while the engine was away, finish removals, and start watching."""
        self.monitor.start(lambda cid, code: asyncio.ensure_future(self._on_exit(cid, code)))
        self._remove_orphans()
        for c in list(self._containers.values()):
            try:
                await self._reconcile(c)
            except errors.DockyardError as exc:
                log.error("reconciling container %s: %s", c.Id, exc)
        self._restart_at_daemon_start()

    async def _reconcile(self, c: Container) -> None:
        if c.State.Status in ("removing", "dead"):
            await self.remove(c.Id, force=True)
            return
        runtime = self.runtime_for(c)
        known = os.path.exists(os.path.join(runtime.root, c.Id))
        if not c.State.Running:
            if known:
                await self._release(c)  # a start the engine did not finish
            return
        if known:
            try:
                status = str((await runtime.state(c.Id)).get("status") or "")
            except errors.NotFound:
                status = ""
            if status in ("created", "running"):
                self.monitor.watch(c.Id, c.LogPath)  # adopted: its exit.json will come
                return
        code = self.monitor.exit_code(c.Id)
        await self._on_exit(c.Id, 255 if code is None else code)

    async def shutdown(self) -> None:
        self.monitor.stop()
        await super().shutdown()

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        """``docker stop`` on a job: the stop timeout is a grace period, then the job ends with 143.

        No signal reaches a Windows process (it has no console for a Ctrl event either), so
        there is nothing to send first: the process gets the timeout to end on its own (its own
        exit code is then kept, as a Linux container that exits on SIGTERM keeps its), and after
        it the runtime terminates the job with 143, what a Linux engine reports for SIGTERM.
        """
        c = self.get(ref)
        if c.State.Running and not c.State.Restarting:
            timeout = self._stop_timeout(c, timeout)
            if timeout != 0:
                self._stopped_by_user(c)  # an exit within the grace period restarts nothing
                exited = self._wait_exit(c)
                try:
                    await asyncio.wait_for(asyncio.shield(exited), None if timeout < 0 else timeout)
                    self.events.emit("container", "stop", c.Id, self._event_attrs(c))
                    return
                except asyncio.TimeoutError:
                    pass
                finally:
                    if not exited.done():
                        exited.cancel()
        await super().stop(ref, timeout, sig)

    # -- what a job object does not do ----------------------------------------------------
    async def pause(self, ref: str) -> None:
        self.get(ref)
        raise errors.InvalidParameter("pause is not supported for Windows process containers "
                                      "(a job object has no suspend of its own)")

    async def unpause(self, ref: str) -> None:
        self.get(ref)
        raise errors.InvalidParameter("unpause is not supported for Windows process containers")

    def check_update(self, c: Container, body: dict[str, Any]) -> None:
        raise errors.InvalidParameter("update is not supported for Windows process containers "
                                      "(the job's limits are set once, at create)")

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.State.Running:
            raise errors.Conflict(f"container {c.Id} is not running")

    # -- views ----------------------------------------------------------------------------
    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        data = super().inspect(ref, size)
        data["Platform"] = "windows"
        data["Driver"] = "windowsfilter"
        data["GraphDriver"]["Name"] = "windowsfilter"
        return data

    async def top(self, ref: str, ps_args: str = "-ef") -> dict[str, Any]:
        """The job's process list (ps_args have no meaning on Windows, as in dockerd)."""
        from dockyard.daemon.windows.procinfo import top

        c = self.get(ref)
        if not c.State.Running:
            raise errors.Conflict(f"Container {c.Id} is not running")
        pids = await self.runtime_for(c).ps(c.Id)
        result = await asyncio.get_running_loop().run_in_executor(None, top, pids)
        self.events.emit("container", "top", c.Id, self._event_attrs(c))
        return result

    async def stats_samples(self, c: Container, *, stream: bool, one_shot: bool) -> AsyncIterator[dict[str, Any]]:
        """dockerd-on-Windows' stats shape, from the job's accounting (``runtime events --stats``)."""
        prev: dict[str, Any] | None = None
        if not stream and not one_shot:  # as dockerd: a second reading, so that CPU % means something
            prev = await self._stats_sample(c, None)
            await asyncio.sleep(STATS_INTERVAL)
        while c.Id in self._containers:
            sample = await self._stats_sample(c, prev)
            yield sample
            if not stream:
                return
            prev = sample
            await asyncio.sleep(STATS_INTERVAL)

    async def _stats_sample(self, c: Container, prev: dict[str, Any] | None) -> dict[str, Any]:
        acct: dict[str, Any] = {}
        if c.State.Running:
            root = self.runtime_for(c).root
            try:
                acct = await asyncio.get_running_loop().run_in_executor(None, job_accounting, root, c.Id)
            except (errors.DockyardError, OSError):
                acct = {}
        cpu = acct.get("cpu") or {}
        mem = acct.get("memory") or {}
        procs = acct.get("processes") or {}
        cpu_stats = {"cpu_usage": {"total_usage": int(cpu.get("total_ns", 0)) // 100,
                                   "usage_in_kernelmode": int(cpu.get("kernel_ns", 0)) // 100,
                                   "usage_in_usermode": int(cpu.get("user_ns", 0)) // 100},
                     "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
        return {
            "read": now_rfc3339(), "preread": prev["read"] if prev else ZERO_TIME,
            "num_procs": int(procs.get("active", 0)),
            "pids_stats": {"current": int(procs.get("active", 0))},
            "cpu_stats": cpu_stats,
            "precpu_stats": prev["cpu_stats"] if prev else {"cpu_usage": {"total_usage": 0}},
            "memory_stats": {"commitbytes": int(mem.get("peak_job", 0)), "commitpeakbytes": int(mem.get("peak_job", 0)),
                             "privateworkingset": int(mem.get("peak_process", 0))},
            "storage_stats": {}, "name": f"/{c.Name}", "id": c.Id,
        }
