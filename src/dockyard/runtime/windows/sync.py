"""Named events: how ``create``, the supervisor and ``start`` hand over.

Windows has no fork and no FIFO that blocks an open the way runc's
``exec.fifo`` does; named manual-reset events in the session's ``Local\\``
namespace play that part (``ready``: the supervisor has the job and the
suspended process; ``start``: resume it; ``started``: it runs).
"""

from __future__ import annotations

import ctypes

from dockyard import win32 as w
from dockyard.errors import NotFound


def create_event(kernel32: w.Kernel32, name: str) -> int:
    """Create (or open, if it exists) a manual-reset, unsignalled event."""
    handle = kernel32.CreateEventW(None, True, False, name)
    if not handle:
        raise w.last_error("CreateEventW", name)
    return int(handle)


def open_event(kernel32: w.Kernel32, name: str) -> int:
    handle = kernel32.OpenEventW(w.EVENT_MODIFY_STATE | w.SYNCHRONIZE, False, name)
    if not handle:
        err = w.last_error("OpenEventW", name)
        if err.code == w.ERROR_FILE_NOT_FOUND:
            raise NotFound(f"no event {name}: the container's supervisor is gone")
        raise err
    return int(handle)


def set_event(kernel32: w.Kernel32, handle: int, name: str) -> None:
    if not kernel32.SetEvent(handle):
        raise w.last_error("SetEvent", name)


def wait_any(kernel32: w.Kernel32, handles: list[int], timeout_ms: int) -> int | None:
    """Index of the first signalled handle, or None on timeout."""
    arr = (w.HANDLE * len(handles))(*handles)
    result = kernel32.WaitForMultipleObjects(len(handles), ctypes.cast(arr, ctypes.POINTER(w.HANDLE)), False, timeout_ms)
    if result == w.WAIT_TIMEOUT:
        return None
    if result == w.WAIT_FAILED:
        raise w.last_error("WaitForMultipleObjects")
    return int(result - w.WAIT_OBJECT_0)
