"""One job object per container: limits, assignment, accounting, termination.

A job object is to a Windows process tree what a cgroup is to a Linux one:
every process created by a process in the job is in the job too (no
breakaway is allowed), the job's limits bind them all, the job counts their
CPU time and processes, and ``TerminateJobObject`` ends them all at once.
Jobs are named (``Local\\dockyard-…``, :func:`dockyard.jobobject.object_name`)
so that ``state``/``kill``/``ps``, run as separate programs, open the
supervisor's job with ``OpenJobObjectW``.  Opening by name and reading the
accounting live in the leaf :mod:`dockyard.jobobject`, which the engine reads
too (``docker stats``) without importing this package.
"""

from __future__ import annotations

import ctypes
from ctypes import byref, sizeof
from typing import Any

from dockyard import jobobject
from dockyard import win32 as w
from dockyard.errors import InvalidParameter
from dockyard.runtime.windows.spec import JobLimits

_ALWAYS = w.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | w.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
_PIDS_CAPACITY = 4096


class Job:
    """An open handle on a job object.  Close it with :meth:`close` (or use it
    as a context manager); the supervisor's handle is the one whose closing
    kills the tree (``KILL_ON_JOB_CLOSE``)."""

    def __init__(self, kernel32: w.Kernel32, handle: int, name: str) -> None:
        self._k = kernel32
        self.handle = handle
        self.name = name

    # --- life cycle ---------------------------------------------------------
    @classmethod
    def create(cls, kernel32: w.Kernel32, name: str) -> "Job":
        """Create the named job; refuse a name that already exists (a second
        container must never share a job with the first)."""
        ctypes.set_last_error(0)  # so a stale error is not read as ERROR_ALREADY_EXISTS
        handle = kernel32.CreateJobObjectW(None, name)
        if not handle:
            raise w.last_error("CreateJobObjectW", name)
        if ctypes.get_last_error() == w.ERROR_ALREADY_EXISTS:
            kernel32.CloseHandle(handle)
            raise InvalidParameter(f"job object {name} already exists: is the container id in use?")
        return cls(kernel32, handle, name)

    @classmethod
    def open(cls, kernel32: w.Kernel32, name: str) -> "Job":
        """Open an existing job by name, or raise NotFound."""
        return cls(kernel32, jobobject.open_job(kernel32, name, w.JOB_OBJECT_ALL_ACCESS), name)

    def close(self) -> None:
        if self.handle:
            self._k.CloseHandle(self.handle)
            self.handle = 0

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- limits ---------------------------------------------------------------
    def _set(self, info_class: int, struct: ctypes.Structure, what: str) -> None:
        if not self._k.SetInformationJobObject(self.handle, info_class, byref(struct), sizeof(struct)):
            err = w.last_error("SetInformationJobObject", what)
            raise InvalidParameter(f"the kernel refused {what}: {err.reason} (SetInformationJobObject)")

    def apply_limits(self, limits: JobLimits) -> None:
        """Apply every limit; the first one the kernel refuses raises an
        InvalidParameter naming the config.json field it came from."""
        ext = w.JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
        basic = ext.BasicLimitInformation
        basic.LimitFlags = _ALWAYS
        fields = ["kill-on-job-close"]
        if limits.memory_limit is not None:
            basic.LimitFlags |= w.JOB_OBJECT_LIMIT_JOB_MEMORY
            ext.JobMemoryLimit = limits.memory_limit
            fields.append(limits.source.get("memory_limit", "memory limit"))
        if limits.process_limit is not None:
            basic.LimitFlags |= w.JOB_OBJECT_LIMIT_ACTIVE_PROCESS
            basic.ActiveProcessLimit = limits.process_limit
            fields.append(limits.source.get("process_limit", "process limit"))
        self._set(w.JobObjectExtendedLimitInformation, ext, " and ".join(fields))
        self._set(
            w.JobObjectBasicUIRestrictions,
            w.JOBOBJECT_BASIC_UI_RESTRICTIONS(w.JOB_OBJECT_UILIMIT_ALL),
            "the UI restrictions",
        )
        if limits.cpu_rate is not None or limits.cpu_weight is not None:
            cpu = w.JOBOBJECT_CPU_RATE_CONTROL_INFORMATION()
            if limits.cpu_rate is not None:
                cpu.ControlFlags = w.JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | w.JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP
                cpu.CpuRate = limits.cpu_rate
                what = limits.source.get("cpu_rate", "CPU rate")
            else:
                cpu.ControlFlags = w.JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | w.JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED
                cpu.Weight = limits.cpu_weight or 1
                what = limits.source.get("cpu_weight", "CPU weight")
            self._set(w.JobObjectCpuRateControlInformation, cpu, f"{what} (CPU rate control)")

    # --- processes --------------------------------------------------------------
    def assign(self, process_handle: int) -> None:
        if not self._k.AssignProcessToJobObject(self.handle, process_handle):
            raise w.last_error("AssignProcessToJobObject", self.name)

    def contains(self, process_handle: int) -> bool:
        result = w.BOOL()
        if not self._k.IsProcessInJob(process_handle, self.handle, byref(result)):
            raise w.last_error("IsProcessInJob", self.name)
        return bool(result.value)

    def pids(self) -> list[int]:
        """Process ids of the job's live processes."""
        buf = w.process_id_list_type(_PIDS_CAPACITY)()
        if not self._k.QueryInformationJobObject(
            self.handle, w.JobObjectBasicProcessIdList, byref(buf), sizeof(buf), None
        ):
            raise w.last_error("QueryInformationJobObject(BasicProcessIdList)", self.name)
        return [int(pid) for pid in buf.ProcessIdList[: buf.NumberOfProcessIdsInList]]

    def terminate(self, exit_code: int) -> None:
        """End every process of the job with ``exit_code``."""
        if not self._k.TerminateJobObject(self.handle, exit_code & 0xFFFFFFFF):
            raise w.last_error("TerminateJobObject", self.name)

    # --- accounting ---------------------------------------------------------------
    def accounting(self) -> dict[str, Any]:
        """CPU times (ns), process counts, I/O and peak memory of the job (the shared reader)."""
        return jobobject.accounting(self._k, self.handle, self.name)
