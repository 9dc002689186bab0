"""Healthchecks: the image's HEALTHCHECK or ``--health-*``, run through the exec path.

One asyncio task per running container that has a check.  Each probe is an
ordinary exec (so ``docker events`` shows exec_create/exec_start/exec_die, as
with dockerd) started through the exec service: with the native runtime that
is the runtime's exec server, one fork per probe and no interpreter start, so
fifty containers probing every second cost the daemon little.  The record of
a probe is dropped once its result is kept, as dockerd unregisters them.

The rules are moby's (``daemon/health.go``): results kept in a log of the last
five, output cut at 4096 bytes; a zero exit is healthy and resets the failing
streak; a failure counts unless the container is still starting within its
start period; ``Retries`` failures in a row make it unhealthy; a probe that
outlives its timeout is killed and counts as a failure (exit code -1); every
change of status is a ``health_status: <status>`` event.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from dockyard import errors
from dockyard.daemon.containers.model import Container, now_rfc3339, parse_rfc3339

log = logging.getLogger("dockyard.health")

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
MIN_DURATION = 1_000_000  # 1 ms


@dataclass(frozen=True)
class Probe:
    """A container's effective healthcheck, durations in seconds."""

    argv: list[str]
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int


def probe_of(config: dict[str, Any]) -> Probe | None:
    """The check in a container's Config, or None (no Healthcheck, ``NONE``, or no test)."""
    hc = config.get("Healthcheck") or {}
    test = list(hc.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        argv = test[1:]
    elif test[0] == "CMD-SHELL":
        shell = list(config.get("Shell") or ["/bin/sh", "-c"])
        argv = shell + [" ".join(test[1:])]
    else:
        return None
    if not argv:
        return None

    def secs(key: str, default: int) -> float:
        return (hc.get(key) or default) / SECOND

    retries = hc.get("Retries") or DEFAULT_RETRIES
    return Probe(argv=argv, interval=secs("Interval", DEFAULT_INTERVAL), timeout=secs("Timeout", DEFAULT_TIMEOUT),
                 start_period=secs("StartPeriod", 0), start_interval=secs("StartInterval", DEFAULT_START_INTERVAL),
                 retries=int(retries))


def validate_healthcheck(hc: dict[str, Any] | None) -> None:
    """moby's create-time checks (``validateHealthCheck``), same texts."""
    if not hc:
        return
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = hc.get(key) or 0
        if value != 0 and value < MIN_DURATION:
            raise errors.InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    if (hc.get("Retries") or 0) < 0:
        raise errors.InvalidParameter("Retries in Healthcheck cannot be negative")


def merge_healthcheck(own: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's check over the image's: an empty test or zero duration takes the image's (moby)."""
    if not image:
        return own
    if not own:
        return dict(image)
    merged = dict(own)
    if not merged.get("Test"):
        merged["Test"] = image.get("Test")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if not merged.get(key) and image.get(key):
            merged[key] = image[key]
    return merged


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it ("1s", "500ms", "1m30s")."""
    ns = int(round(seconds * SECOND))
    if ns < SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size or unit == "ns":
                return f"{_trim(ns / size)}{unit}"
    minutes, rest = divmod(ns, 60 * SECOND)
    hours, minutes = divmod(minutes, 60)
    text = f"{_trim(rest / SECOND)}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def record_result(health: dict[str, Any], result: dict[str, Any], probe: Probe, started_at: float) -> str:
    """Fold one probe result into State.Health (moby's handleProbeResult); returns the new status."""
    log_entries = (health.get("Log") or []) + [result]
    health["Log"] = log_entries[-MAX_LOG_ENTRIES:]
    if result["ExitCode"] == 0:
        health["FailingStreak"] = 0
        health["Status"] = "healthy"
        return health["Status"]
    if health.get("Status") == "starting":
        if parse_rfc3339(result["Start"]) - started_at < probe.start_period:
            return health["Status"]  # failures in the start period do not count
    health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
    if health["FailingStreak"] >= probe.retries:
        health["Status"] = "unhealthy"
    return health["Status"]


class HealthChecks:
    """The probe loops of one daemon's containers."""

    def __init__(self, containers: Any, execs: Any) -> None:
        self.containers = containers
        self.execs = execs
        self._loops: dict[str, asyncio.Task[None]] = {}

    def container_started(self, c: Container) -> None:
        """Called as the container is recorded running: health is ``starting``, the loop begins."""
        self.container_stopped(c)
        probe = probe_of(c.Config)
        if probe is None:
            c.State.Health = None
            return
        old = c.State.Health or {}
        c.State.Health = {"Status": "starting", "FailingStreak": 0, "Log": list(old.get("Log") or [])}
        self._loops[c.Id] = asyncio.ensure_future(self._loop(c.Id, probe))

    def resume(self, c: Container) -> None:
        """A running container re-adopted at daemon start: probing carries on from its last status."""
        probe = probe_of(c.Config)
        if probe is None or c.State.Health is None:
            self.container_started(c)
            return
        self.container_stopped(c)
        self._loops[c.Id] = asyncio.ensure_future(self._loop(c.Id, probe))

    def container_stopped(self, c: Container) -> None:
        task = self._loops.pop(c.Id, None)
        if task is not None:
            task.cancel()

    def close(self) -> None:
        for task in self._loops.values():
            task.cancel()
        self._loops.clear()

    async def _loop(self, cid: str, probe: Probe) -> None:
        svc = self.containers
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            c = svc._containers.get(cid)
            if c is None or c.State.Health is None:
                return
            in_start = c.State.Health["Status"] == "starting" and loop.time() - started < probe.start_period
            await asyncio.sleep(probe.start_interval if in_start else probe.interval)
            c = svc._containers.get(cid)
            if c is None or not c.State.Running or c.State.Health is None:
                return
            if c.State.Paused:
                continue
            try:
                result = await self._probe(c, probe)
            except asyncio.CancelledError:
                raise
            except errors.DockyardError as exc:
                result = {"Start": now_rfc3339(), "End": now_rfc3339(), "ExitCode": -1, "Output": exc.message}
            if not c.State.Running or c.State.Health is None or self._loops.get(cid) is not asyncio.current_task():
                return
            old = c.State.Health["Status"]
            new = record_result(c.State.Health, result, probe, parse_rfc3339(c.State.StartedAt))
            if new != old:
                # a change of status is written at once; the log and streak between
                # changes go with the next write of the record (every probe would be
                # 50 writes a second for 50 containers)
                svc._save(c)
                svc.events.emit("container", f"health_status: {new}", cid, svc._event_attrs(c))

    async def _probe(self, c: Container, probe: Probe) -> dict[str, Any]:
        """Run the check once as an exec; its combined output and exit code, killed at the timeout."""
        start = now_rfc3339()
        exec_id = self.execs.create(c.Id, {"Cmd": probe.argv, "AttachStdout": True, "AttachStderr": True,
                                            "User": c.Config.get("User") or ""})
        try:
            rec = await self.execs.start(exec_id, attach=True)
            output = bytearray()
            try:
                await asyncio.wait_for(self._read_all(rec, output), probe.timeout)
                code = await asyncio.wait_for(self.execs.finish(rec), probe.timeout)
            except asyncio.TimeoutError:
                self._kill(rec)
                return {"Start": start, "End": now_rfc3339(), "ExitCode": -1,
                        "Output": f"Health check exceeded timeout ({go_duration(probe.timeout)})"}
            return {"Start": start, "End": now_rfc3339(), "ExitCode": code,
                    "Output": output[:MAX_OUTPUT].decode("utf-8", "replace")}
        finally:
            self.execs.discard(exec_id)

    @staticmethod
    async def _read_all(rec: Any, output: bytearray) -> None:
        session = rec.session
        att = session.attachment if session is not None else None
        if att is None:
            return
        while (item := await att.read()) is not None:
            if len(output) < MAX_OUTPUT:
                output += item[1]

    def _kill(self, rec: Any) -> None:
        """SIGKILL a probe that outlived its timeout (its exit is still collected, then dropped)."""
        session = rec.session
        if session is not None and session.exit_code() is None and rec.Pid:
            try:
                os.kill(rec.Pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.execs.collect(rec)


def health_filter_matches(c: Container, wanted: list[str]) -> bool:
    """``docker ps --filter health=``: starting, healthy, unhealthy or none."""
    health = c.State.Health
    status = health["Status"] if health else "none"
    return status in wanted
