"""``docker top`` of a Windows container: name, CPU time and private working set of each
process of its job (the runtime's ``ps`` gives the pids), in dockerd-on-Windows' columns."""

from __future__ import annotations

import ctypes
import ntpath
from ctypes import wintypes
from typing import Any

TITLES = ["Name", "PID", "CPU", "Private Working Set"]
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
PROCESS_VM_READ = 0x0010


class PROCESS_MEMORY_COUNTERS_EX(ctypes.Structure):
    _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                ("QuotaPeakPagedPoolUsage", ctypes.c_size_t), ("QuotaPagedPoolUsage", ctypes.c_size_t),
                ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t), ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                ("PagefileUsage", ctypes.c_size_t), ("PeakPagefileUsage", ctypes.c_size_t),
                ("PrivateUsage", ctypes.c_size_t)]


def cpu_time(hundred_ns: int) -> str:
    """dockerd's form: ``hh:mm:ss.mmm``."""
    ms = hundred_ns // 10_000
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def human_size(n: float) -> str:
    """go-units' HumanSize (decimal units, 4 significant digits)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.4g}{units[i]}"


def process_row(pid: int) -> list[str]:
    """One row of ``docker top``; a process that is gone or hidden keeps its pid and blanks."""
    k = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    k.OpenProcess.restype = wintypes.HANDLE
    k.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    handle = k.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, False, pid)
    if not handle:
        return ["", str(pid), cpu_time(0), human_size(0)]
    try:
        buf = ctypes.create_unicode_buffer(1024)
        size = wintypes.DWORD(len(buf))
        name = ntpath.basename(buf.value) if k.QueryFullProcessImageNameW(
            wintypes.HANDLE(handle), 0, buf, ctypes.byref(size)) else ""
        times = [wintypes.FILETIME() for _ in range(4)]
        total = 0
        if k.GetProcessTimes(wintypes.HANDLE(handle), *(ctypes.byref(t) for t in times)):
            total = sum((t.dwHighDateTime << 32) | t.dwLowDateTime for t in times[2:])
        mem = PROCESS_MEMORY_COUNTERS_EX()
        mem.cb = ctypes.sizeof(mem)
        private = mem.PrivateUsage if k.K32GetProcessMemoryInfo(
            wintypes.HANDLE(handle), ctypes.byref(mem), mem.cb) else 0
        return [name, str(pid), cpu_time(total), human_size(private)]
    finally:
        k.CloseHandle(wintypes.HANDLE(handle))


def top(pids: list[int]) -> dict[str, Any]:
    return {"Titles": TITLES, "Processes": [process_row(pid) for pid in pids]}
