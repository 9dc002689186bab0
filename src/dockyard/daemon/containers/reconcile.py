"""Crash consistency: make every record agree with the kernel, and leave nothing behind.

A ``kill -9`` of the daemon can land between any two steps of ``run`` or ``rm``:
after conmon was spawned but before the runtime's ``create`` finished, after
``create`` (the init blocked on the runtime's exec fifo) but before ``start``,
after ``start`` but before the record says *running*, half-way through a
removal.  conmon and the container outlive the daemon (that is the point of
the monitor), so at start-up :func:`reconcile` looks at each record together
with the runtime's state, conmon and the exit files, and

* adopts a container that runs although its record says it does not
  (``start`` succeeded, the record was not written yet);
* records the exit of one that ran and exited meanwhile;
* undoes a half-done start (runtime state *created* or *creating*, a conmon
  with no container): the init is killed, runtime state, conmon files, cgroups
  and the overlay mount go, and the record stays *created*, as before the start;
* finishes a removal that was under way;
* removes what has no record at all (runtime state, conmon dirs, exit files,
  cgroups of container ids this daemon no longer knows).

:func:`release` is the one undo of "a container's kernel side" and serves ``rm``
and ``start`` at run time too, so ``rm -f`` leaves nothing in any state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

from dockyard import errors

if TYPE_CHECKING:
    from dockyard.daemon.containers.model import Container

log = logging.getLogger("dockyard.containers")

CGROUP_ROOT = "/sys/fs/cgroup"
_HEX = frozenset("0123456789abcdef")


def _is_container_id(name: str) -> bool:
    return len(name) == 64 and set(name) <= _HEX


def runtime_state_dir(svc: Any, c: Container) -> str:
    """Where the container's runtime (ours, crun, runc: all ``<root>/<id>``) keeps its state."""
    return os.path.join(svc.runtime_for(c).root, c.Id)


def cgroup_dirs(cgroup_path: str) -> list[str]:
    """The container's cgroup directory on every hierarchy mounted here (v1 and v2)."""
    rel = cgroup_path.strip("/")
    out = []
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        candidates = [CGROUP_ROOT]
    else:
        try:
            candidates = [os.path.join(CGROUP_ROOT, h) for h in sorted(os.listdir(CGROUP_ROOT))]
        except OSError:
            candidates = []
    for base in candidates:
        path = os.path.join(base, rel)
        if os.path.isdir(path) and not os.path.islink(base):
            out.append(path)
    return out


def _kill_cgroup(paths: list[str]) -> None:
    """SIGKILL what is left in the container's cgroups (a workload whose runtime state is gone)."""
    for path in paths:
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def remove_cgroups(cgroup_path: str, timeout: float = 5.0) -> list[str]:
    """Kill what remains in the container's cgroups and remove them; returns what would not go."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    left = cgroup_dirs(cgroup_path)
    while left:
        _kill_cgroup(left)
        for path in list(left):
            for sub, dirs, _ in sorted(os.walk(path, topdown=False), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
            if not os.path.isdir(path):
                left.remove(path)
        if not left or loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    return left


async def _wait_runtime_command(svc: Any, c: Container, timeout: float = 10.0) -> None:
    """If conmon is still running ``<runtime> create`` (the daemon died during it), wait for it
    to finish: its outcome decides what is to be adopted or undone.  The runtime writes the
    container's pid file as its create's last step, so a pid file means it is done."""
    monitor = svc.monitor
    pid = monitor.conmon_pid(c.Id)
    runtime_path = svc.runtime_for(c).path
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (pid and loop.time() < deadline and monitor.container_pid(c.Id) is None
           and _runs_command(pid, runtime_path)):
        await asyncio.sleep(0.02)


def _runs_command(pid: int, program: str) -> bool:
    """Has ``pid`` a live child running ``program`` (as argv[0], or as a script's argument)?"""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except OSError:
        return False
    want = os.fsencode(program)
    for kid in kids:
        try:
            with open(f"/proc/{kid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:3]
        except OSError:
            continue
        if want in argv:
            return True
    return False


async def delete_runtime_state(runtime: Any, container_id: str) -> None:
    """``runtime delete --force`` of a container the runtime still has state for; a failure is
    logged, not raised (what is left is retried at the next release or start-up)."""
    if os.path.exists(os.path.join(runtime.root, container_id)):
        try:
            await runtime.delete(container_id, force=True)
        except errors.DockyardError as exc:
            log.warning("runtime delete %s: %s", container_id, exc)


async def release(svc: Any, c: Container) -> None:
    """Undo everything kernel-side of a container that is not (or no longer) recorded as running:
    the init and its runtime state, conmon and its files, cgroups, the overlay mount.  Idempotent."""
    from dockyard.monitor.conmon import is_conmon_of

    await delete_runtime_state(svc.runtime_for(c), c.Id)
    pid = svc.monitor.conmon_pid(c.Id)
    if pid and is_conmon_of(pid, c.Id):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0  # conmon leaves by itself once its container is gone
        while is_conmon_of(pid, c.Id) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if is_conmon_of(pid, c.Id):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while is_conmon_of(pid, c.Id) and loop.time() < deadline + 3.0:
                await asyncio.sleep(0.02)
    await svc.monitor.cleanup(c.Id)
    if not isinstance(c, _Ghost):
        svc.volumes.unmount(c.Id, c.MountPoints)
        svc._detach_network(c)
    left = await remove_cgroups(f"{svc.cfg.cgroup_parent}/{c.Id}")
    if left:
        log.warning("cgroups of %s would not go: %s", c.Id, ", ".join(left))
    try:
        svc.images.layers.get_rw(c.Id).unmount()
    except errors.NotFound:
        pass
    except errors.DockyardError as exc:
        log.warning("unmount rootfs of %s: %s", c.Id, exc)


async def _runtime_status(svc: Any, c: Container) -> tuple[str, int]:
    """(status, pid) as the runtime reports it; ("", 0) when it does not know the container."""
    if not os.path.isdir(runtime_state_dir(svc, c)):
        return "", 0
    try:
        st = await svc.runtime_for(c).state(c.Id)
    except errors.NotFound:
        return "", 0
    except errors.DockyardError as exc:
        log.warning("runtime state %s: %s", c.Id, exc)
        return "unknown", 0
    return str(st.get("status") or ""), int(st.get("pid") or 0)


async def reconcile_record(svc: Any, c: Container) -> None:
    """Make one record agree with the runtime and conmon (see the module's docstring)."""
    if c.State.Status in ("removing", "dead"):
        await svc.remove(c.Id, force=True)
        return
    monitor = svc.monitor
    await _wait_runtime_command(svc, c)
    code = monitor.exit_code(c.Id)
    if c.State.Running:
        svc.volumes.adopt(c.Id, c.MountPoints)
        if code is not None:
            await svc._on_exit(c.Id, code)
        elif not monitor.alive(c.Id):
            # the monitor is gone (host reboot, killed): no log, no exit code; stop what may run
            await svc._on_exit(c.Id, 255)
        elif svc.health is not None:
            svc.health.resume(c)
        return
    status, pid = await _runtime_status(svc, c)
    if status in ("running", "paused") and code is None and monitor.alive(c.Id):
        log.info("adopting container %s: it runs (pid %d) although its record said %s",
                 c.Id, pid, c.State.Status)
        svc.volumes.adopt(c.Id, c.MountPoints)
        c.State.set_running(pid or monitor.container_pid(c.Id) or 0)
        c.State.Paused = status == "paused"
        if c.State.Paused:
            c.State.Status = "paused"
        svc._save(c)
        svc.events.emit("container", "start", c.Id, svc._event_attrs(c))
        if svc.health is not None:
            svc.health.container_started(c)
        return
    if status == "stopped" and code is not None:
        log.info("container %s ran and exited (%d) while the daemon was down", c.Id, code)
        c.State.set_exited(code, oom=monitor.oom_killed(c.Id))
        svc._save(c)
    elif status or monitor.alive(c.Id):
        log.info("undoing the half-done start of container %s (runtime: %s)", c.Id, status or "none")
    await release(svc, c)


async def remove_unrecorded(svc: Any) -> None:
    """Runtime state, conmon dirs, exit files and cgroups of container ids with no record."""
    known = set(svc._containers)
    rt_base = os.path.join(svc.cfg.exec_root, "runtime")
    seen: dict[str, str] = {}  # id -> runtime name
    for name in _listdir(rt_base):
        if name in svc.cfg.runtimes:
            for cid in _listdir(os.path.join(rt_base, name)):
                if _is_container_id(cid) and cid not in known:
                    seen[cid] = name
    monitor = svc.monitor
    candidates = _listdir(os.path.join(monitor.exec_root, "conmon")) + _listdir(monitor.exit_dir)
    for base in cgroup_dirs(svc.cfg.cgroup_parent):
        candidates += [n for n in _listdir(base) if os.path.isdir(os.path.join(base, n))]
    for cid in candidates:
        if _is_container_id(cid) and cid not in known:
            seen.setdefault(cid, svc.cfg.default_runtime)
    for cid, runtime in seen.items():
        log.info("removing the leftovers of container %s (no record)", cid)
        await release(svc, _Ghost(cid, runtime))  # type: ignore[arg-type]


class _Ghost:
    """What :func:`release` needs of a container that has no record: its id and runtime."""

    def __init__(self, cid: str, runtime: str) -> None:
        self.Id = cid
        self.Runtime = runtime


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
