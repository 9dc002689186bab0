"""``GET /containers/{id}/stats``: samples of a container's usage, once or every second.

The counters come from :mod:`dockyard.monitor.stats` (the cgroup and the
network namespace); this module adds what dockerd adds around them: the
read/preread times, the previous CPU reading (``precpu_stats``) the CLI
needs for its CPU %, the name and id, and zeros for a container that is not
running.  Without ``stream`` dockerd waits for a second reading so that CPU %
means something, unless ``one-shot`` asks for the first one alone.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterator, Callable

from dockyard.daemon.containers.model import ZERO_TIME, Container, now_rfc3339

INTERVAL = 1.0


def host_memory() -> int:
    """MemTotal in bytes (the limit dockerd shows for a container without one)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class Sampler:
    """Reads one container's counters in dockerd's shape."""

    def __init__(self, c: Container, cgroup_parent: str, v2: bool) -> None:
        self.c = c
        self.fallback = f"{cgroup_parent}/{c.Id}"
        self.v2 = v2
        self.memory = host_memory()
        self.cpus = os.cpu_count() or 1
        self._prev: dict[str, Any] | None = None

    def take(self) -> dict[str, Any]:
        from dockyard.monitor import stats

        c = self.c
        now = now_rfc3339()
        if c.State.Running and c.State.Pid and not c.State.Restarting:
            body = stats.sample(c.State.Pid, self.fallback, v2=self.v2, host_memory=self.memory,
                                online_cpus=self.cpus)
        else:
            body = stats.empty_sample()
        prev = self._prev
        out: dict[str, Any] = {"read": now, "preread": prev["read"] if prev else ZERO_TIME}
        out.update(body)
        out["precpu_stats"] = prev["cpu_stats"] if prev else stats.empty_cpu()
        out["name"], out["id"] = f"/{c.Name}", c.Id
        self._prev = out
        return _ordered(out)


def _ordered(out: dict[str, Any]) -> dict[str, Any]:
    keys = ("read", "preread", "pids_stats", "blkio_stats", "num_procs", "storage_stats", "cpu_stats",
            "precpu_stats", "memory_stats", "name", "id", "networks")
    return {k: out[k] for k in keys if k in out}


async def stats_stream(c: Container, cgroup_parent: str, v2: bool, *, stream: bool, one_shot: bool,
                       exists: Callable[[], bool]) -> AsyncIterator[dict[str, Any]]:
    """Samples of ``c``: every second while ``stream`` (until the container is removed), else one
    (after a second reading unless one-shot)."""
    sampler = Sampler(c, cgroup_parent, v2)
    if not stream:
        first = sampler.take()
        if one_shot or not c.State.Running:
            yield first
            return
        await asyncio.sleep(INTERVAL)
        yield sampler.take()
        return
    while exists():
        yield sampler.take()
        await asyncio.sleep(INTERVAL)
