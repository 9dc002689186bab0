"""ctypes declarations of the Win32 job-object and process API (x64 layouts).

Every structure is laid out exactly as ``winnt.h`` / ``processthreadsapi.h``
define it for 64-bit Windows.  The field types are spelled with fixed-width
ctypes (``c_uint32`` for DWORD, ``c_int64`` for LARGE_INTEGER, ``c_size_t``
for SIZE_T/ULONG_PTR, ``c_void_p`` for HANDLE and pointers) and never with
``c_long``/``c_wchar`` (8 and 4 bytes on Linux), so that the same module,
imported on Linux, yields the same sizes and offsets as on Windows: the unit
tests check them on both.

Only the structures are usable on Linux; :class:`Kernel32` binds the functions
and needs ``ctypes.WinDLL`` (Windows, or CPython for Windows under Wine).

A leaf module, not part of ``runtime/windows/``: the declarations are the
Win32 API's, nothing of the runtime's, and the Windows engine needs some of
them too (it reads a job's accounting itself for ``docker stats``, see
:mod:`dockyard.jobobject`) without importing the runtime program's package.
"""

from __future__ import annotations

import ctypes
from ctypes import c_int32, c_int64, c_size_t, c_uint16, c_uint32, c_uint64, c_void_p, c_wchar_p

# --- base types (winnt.h / minwindef.h), fixed width on every host ---------
DWORD = c_uint32
WORD = c_uint16
BOOL = c_int32
LARGE_INTEGER = c_int64  # the union's QuadPart: alignment 8, size 8
ULONGLONG = c_uint64
SIZE_T = c_size_t
ULONG_PTR = c_size_t
HANDLE = c_void_p
LPVOID = c_void_p
LPWSTR = c_wchar_p  # a pointer: 8 bytes on x64 whatever sizeof(wchar_t) is
LPBYTE = c_void_p

# --- job object information classes (JOBOBJECTINFOCLASS) -------------------
JobObjectBasicAccountingInformation = 1
JobObjectBasicLimitInformation = 2
JobObjectBasicProcessIdList = 3
JobObjectBasicUIRestrictions = 4
JobObjectBasicAndIoAccountingInformation = 8
JobObjectExtendedLimitInformation = 9
JobObjectCpuRateControlInformation = 15

# LimitFlags of JOBOBJECT_BASIC_LIMIT_INFORMATION
JOB_OBJECT_LIMIT_WORKINGSET = 0x00000001
JOB_OBJECT_LIMIT_PROCESS_TIME = 0x00000002
JOB_OBJECT_LIMIT_JOB_TIME = 0x00000004
JOB_OBJECT_LIMIT_ACTIVE_PROCESS = 0x00000008
JOB_OBJECT_LIMIT_AFFINITY = 0x00000010
JOB_OBJECT_LIMIT_PRIORITY_CLASS = 0x00000020
JOB_OBJECT_LIMIT_PROCESS_MEMORY = 0x00000100
JOB_OBJECT_LIMIT_JOB_MEMORY = 0x00000200
JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400
JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x00000800
JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK = 0x00001000
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000

# ControlFlags of JOBOBJECT_CPU_RATE_CONTROL_INFORMATION
JOB_OBJECT_CPU_RATE_CONTROL_ENABLE = 0x1
JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED = 0x2
JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP = 0x4

# UIRestrictionsClass of JOBOBJECT_BASIC_UI_RESTRICTIONS
JOB_OBJECT_UILIMIT_HANDLES = 0x0001
JOB_OBJECT_UILIMIT_READCLIPBOARD = 0x0002
JOB_OBJECT_UILIMIT_WRITECLIPBOARD = 0x0004
JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS = 0x0008
JOB_OBJECT_UILIMIT_DISPLAYSETTINGS = 0x0010
JOB_OBJECT_UILIMIT_GLOBALATOMS = 0x0020
JOB_OBJECT_UILIMIT_DESKTOP = 0x0040
JOB_OBJECT_UILIMIT_EXITWINDOWS = 0x0080
JOB_OBJECT_UILIMIT_ALL = 0x00FF

# access rights
SYNCHRONIZE = 0x00100000
JOB_OBJECT_ASSIGN_PROCESS = 0x0001
JOB_OBJECT_SET_ATTRIBUTES = 0x0002
JOB_OBJECT_QUERY = 0x0004
JOB_OBJECT_TERMINATE = 0x0008
JOB_OBJECT_ALL_ACCESS = 0x001F003F
PROCESS_TERMINATE = 0x0001
PROCESS_QUERY_INFORMATION = 0x0400
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
EVENT_MODIFY_STATE = 0x0002

# CreateProcessW creation flags and STARTUPINFO flags
DEBUG_PROCESS = 0x00000001
CREATE_SUSPENDED = 0x00000004
DETACHED_PROCESS = 0x00000008
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_UNICODE_ENVIRONMENT = 0x00000400
CREATE_BREAKAWAY_FROM_JOB = 0x01000000
CREATE_NO_WINDOW = 0x08000000
STARTF_USESTDHANDLES = 0x00000100

# handles, waits, errors
STD_INPUT_HANDLE = -10 & 0xFFFFFFFF
STD_OUTPUT_HANDLE = -11 & 0xFFFFFFFF
STD_ERROR_HANDLE = -12 & 0xFFFFFFFF
HANDLE_FLAG_INHERIT = 0x1
INVALID_HANDLE_VALUE = (1 << 64) - 1
INFINITE = 0xFFFFFFFF
WAIT_OBJECT_0 = 0x0
WAIT_TIMEOUT = 0x102
WAIT_FAILED = 0xFFFFFFFF
STILL_ACTIVE = 259
ERROR_ALREADY_EXISTS = 183
ERROR_FILE_NOT_FOUND = 2
ERROR_PATH_NOT_FOUND = 3
ERROR_INVALID_PARAMETER = 87
ERROR_NOT_ENOUGH_QUOTA = 1816


# --- structures --------------------------------------------------------------
class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", LARGE_INTEGER),
        ("PerJobUserTimeLimit", LARGE_INTEGER),
        ("LimitFlags", DWORD),
        ("MinimumWorkingSetSize", SIZE_T),
        ("MaximumWorkingSetSize", SIZE_T),
        ("ActiveProcessLimit", DWORD),
        ("Affinity", ULONG_PTR),
        ("PriorityClass", DWORD),
        ("SchedulingClass", DWORD),
    ]


class IO_COUNTERS(ctypes.Structure):
    _fields_ = [
        ("ReadOperationCount", ULONGLONG),
        ("WriteOperationCount", ULONGLONG),
        ("OtherOperationCount", ULONGLONG),
        ("ReadTransferCount", ULONGLONG),
        ("WriteTransferCount", ULONGLONG),
        ("OtherTransferCount", ULONGLONG),
    ]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", SIZE_T),
        ("JobMemoryLimit", SIZE_T),
        ("PeakProcessMemoryUsed", SIZE_T),
        ("PeakJobMemoryUsed", SIZE_T),
    ]


class JOBOBJECT_BASIC_ACCOUNTING_INFORMATION(ctypes.Structure):
    """Times are in 100-ns units."""

    _fields_ = [
        ("TotalUserTime", LARGE_INTEGER),
        ("TotalKernelTime", LARGE_INTEGER),
        ("ThisPeriodTotalUserTime", LARGE_INTEGER),
        ("ThisPeriodTotalKernelTime", LARGE_INTEGER),
        ("TotalPageFaultCount", DWORD),
        ("TotalProcesses", DWORD),
        ("ActiveProcesses", DWORD),
        ("TotalTerminatedProcesses", DWORD),
    ]


class JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("BasicInfo", JOBOBJECT_BASIC_ACCOUNTING_INFORMATION),
        ("IoInfo", IO_COUNTERS),
    ]


class _CpuRateMinMax(ctypes.Structure):
    _fields_ = [("MinRate", WORD), ("MaxRate", WORD)]


class _CpuRateUnion(ctypes.Union):
    _anonymous_ = ("MinMax",)
    _fields_ = [("CpuRate", DWORD), ("Weight", DWORD), ("MinMax", _CpuRateMinMax)]


class JOBOBJECT_CPU_RATE_CONTROL_INFORMATION(ctypes.Structure):
    """CpuRate is in 1/100 of a percent of all processors (1..10000)."""

    _anonymous_ = ("u",)
    _fields_ = [("ControlFlags", DWORD), ("u", _CpuRateUnion)]


class JOBOBJECT_BASIC_PROCESS_ID_LIST(ctypes.Structure):
    """Variable length: ``ProcessIdList`` really holds as many entries as the
    buffer has room for; use :func:`process_id_list_type` for a bigger one."""

    _fields_ = [
        ("NumberOfAssignedProcesses", DWORD),
        ("NumberOfProcessIdsInList", DWORD),
        ("ProcessIdList", ULONG_PTR * 1),
    ]


def process_id_list_type(capacity: int) -> type[ctypes.Structure]:
    """A JOBOBJECT_BASIC_PROCESS_ID_LIST with room for ``capacity`` ids."""

    class _List(ctypes.Structure):
        _fields_ = [
            ("NumberOfAssignedProcesses", DWORD),
            ("NumberOfProcessIdsInList", DWORD),
            ("ProcessIdList", ULONG_PTR * capacity),
        ]

    return _List


class JOBOBJECT_BASIC_UI_RESTRICTIONS(ctypes.Structure):
    _fields_ = [("UIRestrictionsClass", DWORD)]


class SECURITY_ATTRIBUTES(ctypes.Structure):
    _fields_ = [
        ("nLength", DWORD),
        ("lpSecurityDescriptor", LPVOID),
        ("bInheritHandle", BOOL),
    ]


class STARTUPINFOW(ctypes.Structure):
    _fields_ = [
        ("cb", DWORD),
        ("lpReserved", LPWSTR),
        ("lpDesktop", LPWSTR),
        ("lpTitle", LPWSTR),
        ("dwX", DWORD),
        ("dwY", DWORD),
        ("dwXSize", DWORD),
        ("dwYSize", DWORD),
        ("dwXCountChars", DWORD),
        ("dwYCountChars", DWORD),
        ("dwFillAttribute", DWORD),
        ("dwFlags", DWORD),
        ("wShowWindow", WORD),
        ("cbReserved2", WORD),
        ("lpReserved2", LPBYTE),
        ("hStdInput", HANDLE),
        ("hStdOutput", HANDLE),
        ("hStdError", HANDLE),
    ]


class PROCESS_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("hProcess", HANDLE),
        ("hThread", HANDLE),
        ("dwProcessId", DWORD),
        ("dwThreadId", DWORD),
    ]


class FILETIME(ctypes.Structure):
    _fields_ = [("dwLowDateTime", DWORD), ("dwHighDateTime", DWORD)]


# --- functions -----------------------------------------------------------------
_PROTOTYPES: tuple[tuple[str, object, tuple[object, ...]], ...] = (
    ("CreateJobObjectW", HANDLE, (ctypes.POINTER(SECURITY_ATTRIBUTES), c_wchar_p)),
    ("OpenJobObjectW", HANDLE, (DWORD, BOOL, c_wchar_p)),
    ("SetInformationJobObject", BOOL, (HANDLE, c_int32, LPVOID, DWORD)),
    ("QueryInformationJobObject", BOOL, (HANDLE, c_int32, LPVOID, DWORD, ctypes.POINTER(DWORD))),
    ("AssignProcessToJobObject", BOOL, (HANDLE, HANDLE)),
    ("TerminateJobObject", BOOL, (HANDLE, c_uint32)),
    ("IsProcessInJob", BOOL, (HANDLE, HANDLE, ctypes.POINTER(BOOL))),
    ("CreateProcessW", BOOL, (
        c_wchar_p, c_wchar_p, ctypes.POINTER(SECURITY_ATTRIBUTES), ctypes.POINTER(SECURITY_ATTRIBUTES),
        BOOL, DWORD, LPVOID, c_wchar_p, ctypes.POINTER(STARTUPINFOW), ctypes.POINTER(PROCESS_INFORMATION),
    )),
    ("ResumeThread", DWORD, (HANDLE,)),
    ("TerminateProcess", BOOL, (HANDLE, c_uint32)),
    ("GetExitCodeProcess", BOOL, (HANDLE, ctypes.POINTER(DWORD))),
    ("OpenProcess", HANDLE, (DWORD, BOOL, DWORD)),
    ("GetProcessTimes", BOOL, (HANDLE,) + (ctypes.POINTER(FILETIME),) * 4),
    ("CloseHandle", BOOL, (HANDLE,)),
    ("GetStdHandle", HANDLE, (DWORD,)),
    ("DuplicateHandle", BOOL, (HANDLE, HANDLE, HANDLE, ctypes.POINTER(HANDLE), DWORD, BOOL, DWORD)),
    ("GetCurrentProcess", HANDLE, ()),
    ("CreateEventW", HANDLE, (ctypes.POINTER(SECURITY_ATTRIBUTES), BOOL, BOOL, c_wchar_p)),
    ("OpenEventW", HANDLE, (DWORD, BOOL, c_wchar_p)),
    ("SetEvent", BOOL, (HANDLE,)),
    ("WaitForSingleObject", DWORD, (HANDLE, DWORD)),
    ("WaitForMultipleObjects", DWORD, (DWORD, ctypes.POINTER(HANDLE), BOOL, DWORD)),
    ("GetLastError", DWORD, ()),
)

DUPLICATE_SAME_ACCESS = 0x2


class Kernel32:
    """kernel32.dll with argument and result types declared.

    An instance per user rather than a module global: the module keeps no
    mutable state, and the binding costs microseconds.
    """

    def __init__(self) -> None:
        windll = getattr(ctypes, "WinDLL", None)
        if windll is None:
            raise OSError("kernel32.dll is only available on Windows (or under Wine)")
        dll = windll("kernel32", use_last_error=True)
        for name, restype, argtypes in _PROTOTYPES:
            fn = getattr(dll, name)
            fn.restype = restype
            fn.argtypes = list(argtypes)
            setattr(self, name, fn)
        self.dll = dll


class Win32Error(OSError):
    """A failed Win32 call; ``code`` is the GetLastError value."""

    def __init__(self, text: str, code: int, reason: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.reason = reason or text


def last_error(op: str, what: str = "") -> Win32Error:
    """An error for the calling thread's last Win32 error, naming op and object."""
    code = ctypes.get_last_error()
    format_error = getattr(ctypes, "FormatError", None)
    message = format_error(code).strip() if format_error else f"error {code}"
    text = f"{op} {what}: {message}" if what else f"{op}: {message}"
    return Win32Error(text, code, message)
