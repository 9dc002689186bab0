"""Run a function in a forked child and get its JSON result back.

The child waits for ``go()`` before running, so the parent can first put it
into a cgroup.  Every child is killed and reaped on exit, even when a test
fails.
"""

from __future__ import annotations

import json
import os
import select
import signal
from collections.abc import Callable


class Child:
    def __init__(self, fn: Callable[[], object]) -> None:
        go_r, self._go_w = os.pipe()
        self._res_r, res_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # child
            code = 0
            try:
                os.close(self._go_w)
                os.close(self._res_r)
                os.read(go_r, 1)
                try:
                    out = {"ok": fn()}
                except BaseException as exc:  # report, never raise into pytest
                    out = {"error": f"{type(exc).__name__}: {exc}",
                           "errno": getattr(exc, "errno", None)}
                os.write(res_w, json.dumps(out).encode())
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(go_r)
        os.close(res_w)
        self.status: int | None = None

    def go(self) -> None:
        os.write(self._go_w, b"g")

    def finish(self, timeout: float = 60.0) -> tuple[dict | None, int]:
        """(result or None if it died first, wait status)."""
        chunks = []
        while True:
            ready, _, _ = select.select([self._res_r], [], [], timeout)
            if not ready:
                self.kill()
                raise TimeoutError(f"child {self.pid} did not finish in {timeout}s")
            data = os.read(self._res_r, 65536)
            if not data:
                break
            chunks.append(data)
        _, self.status = os.waitpid(self.pid, 0)
        raw = b"".join(chunks)
        return (json.loads(raw) if raw else None), self.status

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, self.status = os.waitpid(self.pid, 0)

    def close(self) -> None:
        self.kill()
        for fd in (self._go_w, self._res_r):
            try:
                os.close(fd)
            except OSError:
                pass


def run_child(fn: Callable[[], object], timeout: float = 60.0) -> tuple[dict | None, int]:
    child = Child(fn)
    try:
        child.go()
        return child.finish(timeout)
    finally:
        child.close()


def no_new_privs() -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


def proc_status() -> dict[str, str]:
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
