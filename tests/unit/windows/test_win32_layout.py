"""Sizes and field offsets of the ctypes structures against the Win32 x64 layout.

The expected numbers follow from the header definitions (winnt.h,
processthreadsapi.h, minwinbase.h) under the x64 ABI: DWORD/BOOL 4 bytes,
WORD 2, LARGE_INTEGER/ULONGLONG 8, SIZE_T/ULONG_PTR/HANDLE/pointers 8, each
field aligned to its size, the structure to its largest member.  They were
cross-checked once with ``offsetof`` compiled against Wine's copy of the
headers (docs/windows.md).  The same table is checked on Linux (plain ctypes,
here) and inside the Windows CPython under Wine: run this file as a script
and it prints the mismatches as JSON (tests/integration/windows).
"""

from __future__ import annotations

import ctypes
import json
import sys

from dockyard import win32

# name -> (sizeof, {field: offset})
EXPECTED: dict[str, tuple[int, dict[str, int]]] = {
    # LARGE_INTEGER x2 (0, 8); DWORD LimitFlags 16 (+4 pad); SIZE_T x2 24, 32;
    # DWORD ActiveProcessLimit 40 (+4 pad); ULONG_PTR Affinity 48; DWORD x2 56, 60.
    "JOBOBJECT_BASIC_LIMIT_INFORMATION": (64, {
        "PerProcessUserTimeLimit": 0, "PerJobUserTimeLimit": 8, "LimitFlags": 16,
        "MinimumWorkingSetSize": 24, "MaximumWorkingSetSize": 32, "ActiveProcessLimit": 40,
        "Affinity": 48, "PriorityClass": 56, "SchedulingClass": 60,
    }),
    # six ULONGLONG
    "IO_COUNTERS": (48, {
        "ReadOperationCount": 0, "WriteOperationCount": 8, "OtherOperationCount": 16,
        "ReadTransferCount": 24, "WriteTransferCount": 32, "OtherTransferCount": 40,
    }),
    # basic (64) + IO_COUNTERS (48) + four SIZE_T
    "JOBOBJECT_EXTENDED_LIMIT_INFORMATION": (144, {
        "BasicLimitInformation": 0, "IoInfo": 64, "ProcessMemoryLimit": 112,
        "JobMemoryLimit": 120, "PeakProcessMemoryUsed": 128, "PeakJobMemoryUsed": 136,
    }),
    # four LARGE_INTEGER + four DWORD
    "JOBOBJECT_BASIC_ACCOUNTING_INFORMATION": (48, {
        "TotalUserTime": 0, "TotalKernelTime": 8, "ThisPeriodTotalUserTime": 16,
        "ThisPeriodTotalKernelTime": 24, "TotalPageFaultCount": 32, "TotalProcesses": 36,
        "ActiveProcesses": 40, "TotalTerminatedProcesses": 44,
    }),
    "JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION": (96, {"BasicInfo": 0, "IoInfo": 48}),
    # DWORD ControlFlags + union { DWORD CpuRate; DWORD Weight; struct { WORD MinRate, MaxRate; } }
    "JOBOBJECT_CPU_RATE_CONTROL_INFORMATION": (8, {
        "ControlFlags": 0, "CpuRate": 4, "Weight": 4, "MinRate": 4, "MaxRate": 6,
    }),
    # two DWORD + ULONG_PTR[1]
    "JOBOBJECT_BASIC_PROCESS_ID_LIST": (16, {
        "NumberOfAssignedProcesses": 0, "NumberOfProcessIdsInList": 4, "ProcessIdList": 8,
    }),
    "JOBOBJECT_BASIC_UI_RESTRICTIONS": (4, {"UIRestrictionsClass": 0}),
    # DWORD (+4 pad), LPVOID, BOOL (+4 tail pad)
    "SECURITY_ATTRIBUTES": (24, {"nLength": 0, "lpSecurityDescriptor": 8, "bInheritHandle": 16}),
    # DWORD cb (+4), three LPWSTR, eight DWORD, two WORD (+4), LPBYTE, three HANDLE
    "STARTUPINFOW": (104, {
        "cb": 0, "lpReserved": 8, "lpDesktop": 16, "lpTitle": 24, "dwX": 32, "dwY": 36,
        "dwXSize": 40, "dwYSize": 44, "dwXCountChars": 48, "dwYCountChars": 52,
        "dwFillAttribute": 56, "dwFlags": 60, "wShowWindow": 64, "cbReserved2": 66,
        "lpReserved2": 72, "hStdInput": 80, "hStdOutput": 88, "hStdError": 96,
    }),
    "PROCESS_INFORMATION": (24, {"hProcess": 0, "hThread": 8, "dwProcessId": 16, "dwThreadId": 20}),
    "FILETIME": (8, {"dwLowDateTime": 0, "dwHighDateTime": 4}),
}


def _offset(struct: type, field: str) -> int:
    """Offset of a field, following anonymous members (the CPU-rate union)."""
    if hasattr(struct, field):
        return getattr(struct, field).offset
    for name, ftype in struct._fields_:  # type: ignore[attr-defined]
        if name in getattr(struct, "_anonymous_", ()) and hasattr(ftype, field):
            return getattr(struct, name).offset + _offset(ftype, field)
    raise AttributeError(f"{struct.__name__} has no field {field}")


def mismatches() -> list[str]:
    """Every difference between win32.py and the expected x64 layout."""
    out: list[str] = []
    for name, (size, offsets) in EXPECTED.items():
        struct = getattr(win32, name)
        if ctypes.sizeof(struct) != size:
            out.append(f"sizeof({name}) = {ctypes.sizeof(struct)}, want {size}")
        for field, want in offsets.items():
            got = _offset(struct, field)
            if got != want:
                out.append(f"offsetof({name}, {field}) = {got}, want {want}")
    return out


def test_every_structure_has_the_x64_layout() -> None:
    assert ctypes.sizeof(ctypes.c_void_p) == 8, "the layout table is for 64-bit hosts"
    assert mismatches() == []


def test_the_table_covers_every_structure_in_win32() -> None:
    declared = {n for n, v in vars(win32).items()
                if isinstance(v, type) and issubclass(v, ctypes.Structure) and not n.startswith("_")}
    assert declared == set(EXPECTED)


def test_a_longer_process_id_list_keeps_the_header() -> None:
    big = win32.process_id_list_type(100)
    assert ctypes.sizeof(big) == 8 + 8 * 100
    assert big.ProcessIdList.offset == 8


def test_cpu_rate_union_aliases_rate_and_weight() -> None:
    info = win32.JOBOBJECT_CPU_RATE_CONTROL_INFORMATION()
    info.CpuRate = (3 << 16) | 2
    assert (info.Weight, info.MinRate, info.MaxRate) == ((3 << 16) | 2, 2, 3)


if __name__ == "__main__":  # run by the Windows CPython under Wine
    json.dump({"pointer": ctypes.sizeof(ctypes.c_void_p), "platform": sys.platform,
               "mismatches": mismatches()}, sys.stdout)
