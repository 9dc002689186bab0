"""Seccomp filters loaded into real processes: what the process sees afterwards."""

from __future__ import annotations

import ctypes
import errno
import os
import signal

from rtsec_helpers import no_new_privs, proc_status, run_child

from dockyard.runtime.native import seccomp
from dockyard.spec.default_seccomp import default_profile


def load(profile: dict) -> None:
    prog = seccomp.compile_filter(profile)  # compiled before "fork" in the runtime; here it's the same
    assert prog is not None
    no_new_privs()
    prog.load()


def try_mkdir(path: str) -> object:
    try:
        os.mkdir(path)
        os.rmdir(path)
        return "ok"
    except OSError as exc:
        return exc.errno


def test_denied_syscall_fails_with_eperm(tmp_path) -> None:
    target = str(tmp_path / "d")

    def body() -> list:
        load({"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]})
        return [proc_status()["Seccomp"], try_mkdir(target), os.getpid() > 0]

    result, status = run_child(body)
    assert result == {"ok": ["2", errno.EPERM, True]}
    assert try_mkdir(target) == "ok"  # the parent is untouched


def test_errno_ret_and_arg_conditions(tmp_path) -> None:
    target = str(tmp_path / "d")

    def body() -> list:
        load({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]})
        out = [try_mkdir(target)]
        try:
            os.kill(os.getpid(), 0)
            out.append("ok")
        except OSError as exc:
            out.append(exc.errno)
        os.kill(os.getpid(), signal.SIGWINCH)  # ignored by default; signal != 0 is allowed
        out.append("sigwinch ok")
        return out

    result, _ = run_child(body)
    assert result == {"ok": [errno.EACCES, errno.EPERM, "sigwinch ok"]}


def test_kill_process_action() -> None:
    def body() -> int:
        load({"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})
        return os.getppid()

    result, status = run_child(body)
    assert result is None
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_docker_default_profile_in_a_process(tmp_path) -> None:
    target = str(tmp_path / "d")

    def body() -> list:
        load(default_profile())  # Docker's default 14 capabilities: no CAP_SYS_ADMIN
        libc = ctypes.CDLL(None, use_errno=True)
        out = [proc_status()["Seccomp"], try_mkdir(target)]
        out.append(0 if libc.unshare(0x04000000) == 0 else ctypes.get_errno())  # CLONE_NEWUTS
        out.append(0 if libc.mount(b"none", b"/mnt", b"tmpfs", 0, None) == 0 else ctypes.get_errno())
        libc.syscall.restype = ctypes.c_long
        out.append(0 if libc.syscall(435, None, 0) == 0 else ctypes.get_errno())  # clone3
        pid = os.fork()  # plain clone(SIGCHLD) passes the MASKED_EQ rule
        if pid == 0:
            os._exit(7)
        out.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        return out

    result, _ = run_child(body)
    assert result == {"ok": ["2", "ok", errno.EPERM, errno.EPERM, errno.ENOSYS, 7]}
