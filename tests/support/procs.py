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
