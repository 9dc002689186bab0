"""Where a container's start time went: a dockyard-only record no other engine shows.

``docker start`` is one number to its user; when it is slow the question is
which step was slow.  The start path marks its steps (the RW layer mounted,
the network attached, the bundle and its spec written, the runtime's create
under the monitor, attaching waiting clients, the runtime's start) and the
container keeps the last start's figures: in ``inspect`` as ``DockyardStart``
beside ``State``, and in the ``start`` event's attributes
(``dockyard.start.<phase>Ms``), so a slow start can be read after the fact.
A start made by a restart policy also says how late it began after its due
time (``RestartLateMs``).
"""

from __future__ import annotations

import time
from typing import Any

PHASES = ("Rootfs", "Network", "Bundle", "RuntimeCreate", "Attach", "RuntimeStart")


class StartTimer:
    """Milliseconds per phase of one start, on the monotonic clock."""

    def __init__(self) -> None:
        self._t0 = self._last = time.perf_counter()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = round((now - self._last) * 1000, 3)
        self._last = now

    def record(self) -> dict[str, Any]:
        """The ``DockyardStart`` object: the total and each phase, in ms."""
        out: dict[str, Any] = {"TotalMs": round((self._last - self._t0) * 1000, 3)}
        out.update({f"{name}Ms": self.phases.get(name, 0.0) for name in PHASES})
        return out


def event_attributes(record: dict[str, Any] | None) -> dict[str, str]:
    """The record as ``start`` event attributes (strings, prefixed so no label can clash)."""
    return {f"dockyard.start.{k[0].lower()}{k[1:]}": str(v) for k, v in (record or {}).items()}
