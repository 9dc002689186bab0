"""Restart policies: ``no``, ``on-failure[:N]``, ``always``, ``unless-stopped``, with dockerd's rules.

The decision and the back-off are pure functions (unit-tested); the
:class:`RestartSupervisor` holds the per-container timers and the current
delay, and asks the container service to start a container when its delay is
over.  dockerd's rules (moby ``restartmanager``):

- the first restart waits 100 ms, each following one twice as long, at most a
  minute; a run of 10 s or more resets the delay to 100 ms;
- ``on-failure`` restarts on a non-zero exit code, at most N times when N > 0;
- a manual ``stop`` or ``kill`` ends the loop; ``unless-stopped`` remembers that
  across daemon restarts (the flag is in the record), ``always`` does not: it
  comes back when the daemon starts;
- while the delay runs the container is ``restarting`` (inspect shows
  Running and Restarting true, Pid 0) and RestartCount has been counted.

The timer is armed at the moment the exit is seen, on the event loop's
monotonic clock, so the start begins at its due time whatever the cleanup
of the previous run costs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

log = logging.getLogger("dockyard.restart")

FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart, given the previous one (0: none yet) and the run's length."""
    if ran_for >= RESET_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


def should_restart(policy: dict[str, Any], exit_code: int, manually_stopped: bool, restart_count: int,
                   daemon_start: bool = False) -> bool:
    """Whether a container that exited with ``exit_code`` is started again (moby's ShouldRestart).

    A manual stop ends every policy's loop; when the daemon starts, only
    ``unless-stopped`` still remembers it.
    """
    name = (policy or {}).get("Name") or "no"
    if manually_stopped and not (daemon_start and name == "always"):
        return False
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


class RestartSupervisor:
    """The pending restarts of one daemon: a timer per restarting container."""

    def __init__(self, start: Callable[[str], Any]) -> None:
        """``start(cid)``: a coroutine function that starts a restarting container (under its lock)."""
        self._start = start
        self._delay: dict[str, float] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.due: dict[str, float] = {}  # cid -> loop time the pending restart is due
        self.lateness: dict[str, float] = {}  # cid -> ms the restart began after its due time

    def decide(self, c: Any, exit_code: int) -> float | None:
        """Called at an exit: the delay before the restart, or None (no restart; the loop ends)."""
        if not should_restart(c.HostConfig.get("RestartPolicy") or {}, exit_code,
                              c.HasBeenManuallyStopped, c.RestartCount):
            self._delay.pop(c.Id, None)
            return None
        from dockyard.daemon.containers.model import parse_rfc3339

        ran_for = time.time() - parse_rfc3339(c.State.StartedAt)
        delay = next_delay(self._delay.get(c.Id, 0.0), ran_for)
        self._delay[c.Id] = delay
        return delay

    def schedule(self, cid: str, delay: float) -> None:
        """Start ``cid`` after ``delay`` seconds (replacing a pending restart)."""
        self.cancel(cid)
        loop = asyncio.get_running_loop()
        self.due[cid] = loop.time() + delay
        self._pending[cid] = loop.call_at(self.due[cid], self._fire, cid)

    def _fire(self, cid: str) -> None:
        self._pending.pop(cid, None)
        task = asyncio.ensure_future(self._run(cid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, cid: str) -> None:
        try:
            await self._start(cid)
        except Exception as exc:  # a failed restart ends the loop (dockerd); the record says why
            log.info("restart of %s failed: %s", cid, exc)

    def began(self, cid: str) -> None:
        """The restart's start begins now: keep how late that is (DockyardStart.RestartLateMs)."""
        due = self.due.pop(cid, None)
        if due is not None:
            self.lateness[cid] = round((asyncio.get_running_loop().time() - due) * 1000, 3)

    def cancel(self, cid: str) -> bool:
        """Drop a pending restart; True if one was pending."""
        handle = self._pending.pop(cid, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def forget(self, cid: str) -> None:
        """A user start or a removal: the back-off starts again from 100 ms."""
        self.cancel(cid)
        self._delay.pop(cid, None)
        self.due.pop(cid, None)
        self.lateness.pop(cid, None)

    def close(self) -> None:
        for cid in list(self._pending):
            self.cancel(cid)
        for task in list(self._tasks):
            task.cancel()


def start_at_daemon_start(c: Any) -> bool:
    """Whether a stopped container is started when the daemon starts (moby's restore).

    Only containers that ran before: ``always``, ``unless-stopped`` unless it was
    stopped by hand, and ``on-failure`` after a failure with retries left.
    """
    from dockyard.daemon.containers.model import ZERO_TIME

    if c.State.Status == "restarting":  # the daemon went down while the restart was pending
        return True
    if c.State.StartedAt == ZERO_TIME or c.State.Status != "exited":
        return False
    return should_restart(c.HostConfig.get("RestartPolicy") or {}, c.State.ExitCode,
                          c.HasBeenManuallyStopped, c.RestartCount, daemon_start=True)
