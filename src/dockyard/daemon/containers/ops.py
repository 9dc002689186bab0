"""Signals and the running container: kill, stop, restart, pause, resize, logs, top.

Mixed into :class:`~dockyard.daemon.containers.service.ContainerService`, which owns
the records, the locks and the lifecycle; these operations act on a
container that is (or was) running, through its OCI runtime and monitor.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dockyard import errors
from dockyard.daemon.containers.model import Container

log = logging.getLogger("dockyard.containers")
KILL_WAIT_SECONDS = 10  # how long a SIGKILL `kill` waits for the exit before it answers

# The API's signal names and numbers are Linux's on every host (a Windows engine maps them onto
# job termination), so the table is written out rather than read from this host's signal module.
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
           "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
           "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23,
           "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30,
           "SYS": 31, "RTMIN": 34, "RTMAX": 64}
SIGKILL = SIGNALS["KILL"]


def parse_signal(value: str | int | None, default: int = SIGKILL) -> int:
    """``9``, ``KILL``, ``SIGKILL`` → 9; Docker's error text otherwise."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    text = str(value).upper()
    if text.isdigit():
        num = int(text)
        if num <= 0 or num > 64:
            raise errors.InvalidParameter(f"Invalid signal: {value}")
        return num
    text = text[3:] if text.startswith("SIG") else text
    if text in SIGNALS:
        return SIGNALS[text]
    base, plus, offset = text.partition("+") if "+" in text else text.partition("-")
    if plus and offset.isdigit() and 1 <= int(offset) <= 15 and (base, plus) in (("RTMIN", "+"), ("RTMAX", "-")):
        return SIGNALS[base] + int(offset) * (1 if plus == "+" else -1)  # moby's RTMIN+1..15, RTMAX-14..1
    raise errors.InvalidParameter(f"Invalid signal: {value}")


def check_kill_number(ref: str, value: str | int | None) -> None:
    """A signal number Linux does not have (0 aside, which parse_signal refuses): dockerd's words for kill."""
    text = str(value or "")
    if not text.lstrip("-").isdigit() or int(text) == 0:
        return
    num = int(text)
    if not 1 <= num <= 64 or num in (32, 33):  # 32 and 33 are the C library's own (moby's table skips them)
        raise errors.InvalidParameter(f"Cannot kill container: {ref}: The linux daemon does not support signal "
                                      f"{num % 2 ** 64}")


class ContainerOps:
    """What the service provides to these operations (see ContainerService)."""

    cfg: Any
    events: Any
    monitor: Any
    attach_hubs: Any

    def get(self, ref: str) -> Container:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def runtime_for(self, c: Container) -> Any:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def _lock(self, cid: str) -> asyncio.Lock:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def _save(self, c: Container, *, new: bool = False) -> None:  # pragma: no cover
        raise NotImplementedError

    def _event_attrs(self, c: Container, **extra: str) -> dict[str, str]:  # pragma: no cover
        raise NotImplementedError

    def _wait_exit(self, c: Container) -> "asyncio.Future[None]":  # pragma: no cover - provided by the service
        raise NotImplementedError

    async def _start_locked(self, c: Container) -> None:  # pragma: no cover - provided by the service
        raise NotImplementedError

    async def resize(self, ref: str, height: int, width: int) -> None:
        """The TTY's window size (dockerd answers OK and does nothing without a TTY)."""
        c = self.get(ref)
        if not c.State.Running:
            raise errors.Conflict(f"container {c.Id} is not running")
        if c.Config.get("Tty") and height and width:
            await self.monitor.resize(c.Id, height, width)
        self.events.emit("container", "resize", c.Id, self._event_attrs(c, height=str(height), width=str(width)))

    restarts: Any

    def _notify_exit(self, c: Container) -> None:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def _reset_restart_loop(self, c: Container) -> None:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def _stopped_by_user(self, c: Container) -> None:
        """A stop or kill by the user ends the restart loop (``unless-stopped`` remembers it)."""
        if not c.HasBeenManuallyStopped:
            c.HasBeenManuallyStopped = True
            self._save(c)

    @staticmethod
    def _stop_timeout(c: Container, asked: int | None) -> int:
        """The stop's timeout: the request's, else the container's ``StopTimeout``, else 10 s."""
        if asked is not None:
            return asked
        own = c.Config.get("StopTimeout")
        return 10 if own is None else int(own)

    def _end_restarting(self, c: Container) -> bool:
        """Stop a container whose restart is pending: it stays exited. True if it was restarting."""
        if not c.State.Restarting:
            return False
        self.restarts.forget(c.Id)
        c.HasBeenManuallyStopped = True
        c.State.Restarting, c.State.Status = False, "exited"
        self._save(c)
        self._notify_exit(c)
        return True

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        check_kill_number(ref, sig)
        signum = parse_signal(sig)
        try:
            c = self.get(ref)
        except errors.NotFound as exc:  # moby's router wraps every kill error so
            raise errors.NotFound(f"Cannot kill container: {ref}: {exc.message}") from None
        if c.State.Restarting:
            raise errors.Conflict(f"Cannot kill container: {ref}: Container {c.Id} is restarting, wait until "
                                  "the container is running")
        if not c.State.Running:
            raise errors.Conflict(f"Cannot kill container: {ref}: Container {c.Id} is not running")
        # moby: a paused container gets the signal, and is resumed after it when the signal is one that
        # ends it (SIGKILL, its stop signal, or any when it has none): a frozen process cannot die
        stop_signal = c.Config.get("StopSignal")
        resume = c.State.Paused and (signum == SIGKILL or not stop_signal or parse_signal(stop_signal) == signum)
        self._stopped_by_user(c)
        exited = asyncio.ensure_future(self._wait_exit(c)) if signum == SIGKILL else None
        try:
            self.events.emit("container", "kill", c.Id, self._event_attrs(c, signal=str(signum)))
            await self.runtime_for(c).kill(c.Id, signum, all_processes=False)
            if resume:
                await self._resume_after_kill(c)
            if exited is not None:
                # dockerd's Kill returns once the container is no longer running, so a client
                # that inspects right after sees the exit (docker-py's test_kill_* rely on it)
                await asyncio.wait_for(asyncio.shield(exited), KILL_WAIT_SECONDS)
        except asyncio.TimeoutError:
            log.warning("container %s: still running %d s after SIGKILL", c.Id, KILL_WAIT_SECONDS)
        finally:
            if exited is not None and not exited.done():
                exited.cancel()

    async def _resume_after_kill(self, c: Container) -> None:
        """Thaw a paused container that was just signalled (its exit, if it dies, then follows)."""
        try:
            await self.runtime_for(c).resume(c.Id)
        except errors.DockyardError as exc:  # it may be gone already
            log.info("container %s: resume after kill: %s", c.Id, exc.message)
            return
        if c.State.Paused:
            c.State.Paused = False
            if c.State.Running:
                c.State.Status = "running"
            self._save(c)
            self.events.emit("container", "unpause", c.Id, self._event_attrs(c))

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        # Under the lock: a restart whose delay is over holds it while it starts the container
        # (still "restarting"); ending the loop then would let that start finish after the stop.
        async with self._lock(c.Id):
            ended = self._end_restarting(c)
        if ended:
            self.events.emit("container", "stop", c.Id, self._event_attrs(c))
            return
        if not c.State.Running:
            raise errors.NotModified("container already stopped")
        self._stopped_by_user(c)
        timeout = self._stop_timeout(c, timeout)
        signum = parse_signal(sig or c.Config.get("StopSignal") or "SIGTERM")
        runtime = self.runtime_for(c)
        exited = asyncio.ensure_future(self._wait_exit(c))
        try:
            if c.State.Paused:
                await runtime.resume(c.Id)
            # as dockerd, each signal of a stop is a kill event (before it is sent: the die follows it)
            self.events.emit("container", "kill", c.Id, self._event_attrs(c, signal=str(signum)))
            try:
                await runtime.kill(c.Id, signum, all_processes=False)
            except errors.DockyardError:
                pass
            if timeout < 0:
                await exited
            else:
                try:
                    await asyncio.wait_for(asyncio.shield(exited), timeout)
                except asyncio.TimeoutError:
                    self.events.emit("container", "kill", c.Id, self._event_attrs(c, signal=str(int(SIGKILL))))
                    try:
                        await runtime.kill(c.Id, SIGKILL, all_processes=True)
                    except errors.DockyardError:
                        pass
                    await exited
        finally:
            if not exited.done():
                exited.cancel()
        self.events.emit("container", "stop", c.Id, self._event_attrs(c))

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        if c.State.Running or c.State.Restarting:
            await self.stop(ref, timeout, sig)
        async with self._lock(c.Id):
            self._reset_restart_loop(c)
            await self._start_locked(c)
        self.events.emit("container", "restart", c.Id, self._event_attrs(c))

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.Id):  # two at once (docker pause X X runs them in parallel): one wins
            if not c.State.Running:
                raise errors.Conflict(f"Container {c.Id} is not running")
            if c.State.Paused:
                raise errors.Conflict(f"Container {c.Id} is already paused")
            await self.runtime_for(c).pause(c.Id)
            c.State.Paused, c.State.Status = True, "paused"
            self._save(c)
        self.events.emit("container", "pause", c.Id, self._event_attrs(c))

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._lock(c.Id):
            if not c.State.Paused:  # dockerd answers this one with a plain error: HTTP 500
                raise errors.SystemError_(f"Container {c.Id} is not paused")
            await self.runtime_for(c).resume(c.Id)
            c.State.Paused, c.State.Status = False, "running"
            self._save(c)
        self.events.emit("container", "unpause", c.Id, self._event_attrs(c))

    _containers: dict[str, Container]

    def check_update(self, c: Container, body: dict[str, Any]) -> None:
        """A host whose containers cannot be updated refuses here (``docker update``); this one can."""

    def stats_samples(self, c: Container, *, stream: bool, one_shot: bool) -> Any:
        """``docker stats`` samples of ``c`` (an async iterator): from its cgroup here."""
        from dockyard.daemon.containers.usage import stats_stream
        from dockyard.daemon.system import cgroup_version

        return stats_stream(c, self.cfg.cgroup_parent, cgroup_version() == "2", stream=stream, one_shot=one_shot,
                            exists=lambda: c.Id in self._containers)

    # -- logs / top ----------------------------------------------------------------------------
    async def logs(self, ref: str, *, stdout: bool, stderr: bool, since_ns: int | None, until_ns: int | None,
                   tail: int | None, follow: bool) -> Any:
        """Log entries (time_ns, stream, bytes); with ``follow``, until the container stops."""
        from dockyard.monitor.logs import read_logs

        c = self.get(ref)
        stop = asyncio.Event()
        waiter = None
        if follow and c.State.Running:
            waiter = asyncio.ensure_future(self._wait_exit(c))
            waiter.add_done_callback(lambda _: stop.set())
        else:
            stop.set()
        try:
            async for entry in read_logs(c.LogPath, stdout=stdout, stderr=stderr, since_ns=since_ns or 0,
                                         until_ns=until_ns or 0, tail=-1 if tail is None else tail,
                                         follow=follow, stop_event=stop):
                yield entry
        finally:
            if waiter is not None:
                waiter.cancel()

    async def top(self, ref: str, ps_args: str = "-ef") -> dict[str, Any]:
        """``docker top``: the host's ps output, reduced to the container's processes."""
        import shlex

        c = self.get(ref)
        if not c.State.Running:
            raise errors.Conflict(f"Container {c.Id} is not running")
        pids = set(await self.runtime_for(c).ps(c.Id))
        proc = await asyncio.create_subprocess_exec(
            "ps", *shlex.split(ps_args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            # dockerd: "ps: " and the first line of ps's complaint (not its usage text)
            first = err.decode(errors="replace").strip().split("\n", 1)[0]
            raise errors.SystemError_(f"ps: {first or f'exit status {proc.returncode}'}")
        lines = out.decode().splitlines()
        header = lines[0].split()
        if "PID" not in header:
            raise errors.InvalidParameter("Couldn't find PID field in ps output")
        pid_col = header.index("PID")
        rows = []
        for line in lines[1:]:
            fields = line.split(None, len(header) - 1)
            try:
                if int(fields[pid_col]) in pids:
                    rows.append(fields)
            except (ValueError, IndexError):
                continue
        self.events.emit("container", "top", c.Id, self._event_attrs(c))
        return {"Titles": header, "Processes": rows}
