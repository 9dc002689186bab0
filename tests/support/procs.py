"""Finding and measuring processes through /proc (for tests and benchmarks)."""

from __future__ import annotations

import os
from collections.abc import Callable


def cmdline(pid: int) -> list[bytes]:
    """The argv of ``pid`` ([] if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:-1] or []
    except OSError:
        return []


def pids_matching(predicate: Callable[[list[bytes]], bool]) -> list[int]:
    """Every process whose argv satisfies ``predicate``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = cmdline(int(entry))
            if argv and predicate(argv):
                out.append(int(entry))
    return out


def rss_kb(pids: list[int]) -> int:
    """Sum of VmRSS of ``pids`` (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


class PeakRss:
    """The peak RSS ``pid`` reaches from now on, above its RSS now: per test, not the process's lifetime.

    VmHWM is the lifetime peak of the process, so a test after a heavier one
    would always pass; writing 5 to /proc/PID/clear_refs (Linux >= 4.0) resets
    it to the current RSS first.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        self.base = _status_kb(pid, "VmRSS")
        if _status_kb(pid, "VmHWM") > self.base + 1024:
            raise AssertionError("the kernel did not reset VmHWM (clear_refs 5): the peak cannot be measured")

    def grown_kb(self) -> int:
        return _status_kb(self.pid, "VmHWM") - self.base
