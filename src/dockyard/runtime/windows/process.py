"""CreateProcessW, suspended, so the container process enters its job first.

A process created normally could start a child before
``AssignProcessToJobObject`` runs, and that child would live outside the job.
Created with ``CREATE_SUSPENDED``, the process has run no instruction of its
own when it joins the job; ``ResumeThread`` (at ``start``) lets it go, and
everything it starts from then on is in the job.
"""

from __future__ import annotations

import ctypes
from ctypes import byref, sizeof
from dataclasses import dataclass

from dockyard import win32 as w

CREATION_FLAGS = (
    w.CREATE_SUSPENDED
    | w.CREATE_UNICODE_ENVIRONMENT
    | w.CREATE_NEW_PROCESS_GROUP  # its own Ctrl-Break group, not the supervisor's
    # No console: stdio goes through the handles, and no conhost.exe joins
    # the job (it would count against the active-process limit).
    | w.DETACHED_PROCESS
)


@dataclass
class SuspendedProcess:
    """A created, not yet resumed process; the handles belong to the caller."""

    kernel32: w.Kernel32
    handle: int
    thread: int
    pid: int

    def resume(self) -> None:
        if self.kernel32.ResumeThread(self.thread) == 0xFFFFFFFF:
            raise w.last_error("ResumeThread", f"pid {self.pid}")

    def terminate(self, exit_code: int) -> None:
        self.kernel32.TerminateProcess(self.handle, exit_code & 0xFFFFFFFF)

    def wait(self, timeout_ms: int = w.INFINITE) -> bool:
        """True once the process has exited."""
        return self.kernel32.WaitForSingleObject(self.handle, timeout_ms) == w.WAIT_OBJECT_0

    def exit_code(self) -> int | None:
        code = w.DWORD()
        if not self.kernel32.GetExitCodeProcess(self.handle, byref(code)):
            raise w.last_error("GetExitCodeProcess", f"pid {self.pid}")
        return None if code.value == w.STILL_ACTIVE else int(code.value)

    def close(self) -> None:
        for h in (self.thread, self.handle):
            if h:
                self.kernel32.CloseHandle(h)
        self.thread = self.handle = 0


def _inheritable_copy(kernel32: w.Kernel32, handle: int | None) -> int:
    """An inheritable duplicate of one of our std handles (0 if we have none)."""
    if not handle or handle == w.INVALID_HANDLE_VALUE:
        return 0
    me = kernel32.GetCurrentProcess()
    out = w.HANDLE()
    if not kernel32.DuplicateHandle(me, handle, me, byref(out), 0, True, w.DUPLICATE_SAME_ACCESS):
        raise w.last_error("DuplicateHandle", "standard handle")
    return int(out.value or 0)


def spawn_suspended(
    kernel32: w.Kernel32,
    command_line: str,
    env_block: str,
    cwd: str,
    std_handles: tuple[int, int, int] | None = None,
) -> SuspendedProcess:
    """Create the container process suspended, with our stdin/stdout/stderr (or ``std_handles``).

    Only the three std handles are made inheritable (Python opens everything
    else non-inheritable, PEP 446), so nothing else of the supervisor's
    reaches the container; the duplicates are closed again right after.
    """
    if std_handles is None:  # ours
        std_handles = tuple(kernel32.GetStdHandle(which)  # type: ignore[assignment]
                            for which in (w.STD_INPUT_HANDLE, w.STD_OUTPUT_HANDLE, w.STD_ERROR_HANDLE))
    stdio = [_inheritable_copy(kernel32, h) for h in std_handles]
    try:
        si = w.STARTUPINFOW()
        si.cb = sizeof(si)
        si.dwFlags = w.STARTF_USESTDHANDLES
        si.hStdInput, si.hStdOutput, si.hStdError = (h or None for h in stdio)
        pi = w.PROCESS_INFORMATION()
        cmd = ctypes.create_unicode_buffer(command_line)  # CreateProcessW may write to it
        env = ctypes.create_unicode_buffer(env_block, len(env_block))
        ok = kernel32.CreateProcessW(
            None, ctypes.cast(cmd, ctypes.c_wchar_p), None, None, True, CREATION_FLAGS,
            ctypes.cast(env, ctypes.c_void_p), cwd, byref(si), byref(pi),
        )
        if not ok:
            err = w.last_error("CreateProcessW", command_line)
            # Docker's words for a program that is not there (its CLI exits 127 on them)
            what = "executable file not found: " if err.code in (w.ERROR_FILE_NOT_FOUND, w.ERROR_PATH_NOT_FOUND) else ""
            raise w.Win32Error(f"cannot run {command_line}: {what}{err.reason} (CreateProcessW)", err.code, err.reason)
        return SuspendedProcess(kernel32, int(pi.hProcess), int(pi.hThread), int(pi.dwProcessId))
    finally:
        for h in stdio:
            if h:
                kernel32.CloseHandle(h)
