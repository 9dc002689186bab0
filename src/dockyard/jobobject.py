"""What the Windows runtime and the Windows engine agree on about a container's job object.

The job object is to a Windows container what its cgroup is to a Linux one,
and this module is to it what the cgroup path and the cgroup files are to the
Linux engine (``monitor/stats.py``): its *name*, which the runtime creates
and the engine opens, and a read-only view of its *accounting*.  The engine
reads the accounting itself for ``docker stats`` rather than through
``runtime events --stats`` because every runtime command is one more Windows
CPython start (about half a second under Wine).

A leaf module, as ``capabilities.py`` and ``platforms.py`` are: the runtime
program (``runtime/windows/``) and the engine (``daemon/windows/``) both
import it, and neither imports the other — the engine reaches the runtime
only through its bundle and its command line.  Creating, limiting and
terminating a job stay in ``runtime/windows/job.py``.
"""

from __future__ import annotations

import hashlib
import os
from ctypes import byref, sizeof
from typing import Any

from dockyard import win32 as w
from dockyard.errors import NotFound


def object_name(root: str, container_id: str, kind: str) -> str:
    """The name of one of the container's kernel objects (``job``, and the runtime's events).

    ``Local\\dockyard-<hash of root>-<id>-<kind>``: the runtime root's hash keeps two roots
    (two engines, two test runs) from ever sharing a name."""
    key = hashlib.sha256(os.path.normcase(os.path.abspath(root)).encode()).hexdigest()[:12]
    return f"Local\\dockyard-{key}-{container_id}-{kind}"


def open_job(kernel32: w.Kernel32, name: str, access: int) -> int:
    """A handle on the existing job ``name`` with ``access``; NotFound once the job is gone."""
    handle = kernel32.OpenJobObjectW(access, False, name)
    if not handle:
        err = w.last_error("OpenJobObjectW", name)
        if err.code == w.ERROR_FILE_NOT_FOUND:
            raise NotFound(f"no job object {name}: the container has stopped")
        raise err
    return handle


def accounting(kernel32: w.Kernel32, handle: int, name: str) -> dict[str, Any]:
    """CPU times (ns), process counts, I/O and peak memory of the job behind ``handle``,
    straight from QueryInformationJobObject (``io`` is None where only the basic class is known)."""
    acct = w.JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION()
    has_io = bool(kernel32.QueryInformationJobObject(
        handle, w.JobObjectBasicAndIoAccountingInformation, byref(acct), sizeof(acct), None
    ))
    if not has_io:  # Wine 8 knows only the basic class
        if not kernel32.QueryInformationJobObject(
            handle, w.JobObjectBasicAccountingInformation, byref(acct.BasicInfo),
            sizeof(acct.BasicInfo), None,
        ):
            raise w.last_error("QueryInformationJobObject(BasicAccountingInformation)", name)
    ext = w.JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    if not kernel32.QueryInformationJobObject(
        handle, w.JobObjectExtendedLimitInformation, byref(ext), sizeof(ext), None
    ):
        raise w.last_error("QueryInformationJobObject(ExtendedLimitInformation)", name)
    basic = acct.BasicInfo
    io = acct.IoInfo
    return {
        "cpu": {
            "user_ns": basic.TotalUserTime * 100,
            "kernel_ns": basic.TotalKernelTime * 100,
            "total_ns": (basic.TotalUserTime + basic.TotalKernelTime) * 100,
        },
        "processes": {
            "active": basic.ActiveProcesses,
            "total": basic.TotalProcesses,
            "terminated": basic.TotalTerminatedProcesses,
            "limit": ext.BasicLimitInformation.ActiveProcessLimit,
        },
        "page_faults": basic.TotalPageFaultCount,
        "memory": {
            "limit": ext.JobMemoryLimit,
            "peak_job": ext.PeakJobMemoryUsed,
            "peak_process": ext.PeakProcessMemoryUsed,
        },
        "io": {
            "read_ops": io.ReadOperationCount,
            "write_ops": io.WriteOperationCount,
            "other_ops": io.OtherOperationCount,
            "read_bytes": io.ReadTransferCount,
            "write_bytes": io.WriteTransferCount,
            "other_bytes": io.OtherTransferCount,
        } if has_io else None,
        "limit_flags": ext.BasicLimitInformation.LimitFlags,
    }


def read_accounting(name: str) -> dict[str, Any]:
    """Open the job ``name`` for query only, read its accounting, close it.

    Query access is all a reader needs: it can neither change the job's limits nor end it."""
    kernel32 = w.Kernel32()
    handle = open_job(kernel32, name, w.JOB_OBJECT_QUERY)
    try:
        return accounting(kernel32, handle, name)
    finally:
        kernel32.CloseHandle(handle)
