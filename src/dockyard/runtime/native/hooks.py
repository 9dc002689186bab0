"""OCI hooks: run each hook with the container's state JSON on stdin.

prestart/createRuntime/poststart/poststop run in the runtime's namespaces;
createContainer/startContainer run from the container's init (so in its
namespaces).  A failing hook before the user program starts fails the
operation; poststart/poststop failures are only logged, as the spec says.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import SystemError_
from dockyard.runtime.native import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_hooks(hooks: dict[str, Any] | None, name: str, state: dict[str, Any]) -> None:
    """Run every hook of kind ``name`` in order; raise on the first failure."""
    for index, hook in enumerate((hooks or {}).get(name) or []):
        run_hook(hook, state, f"{name} hook #{index} ({hook.get('path')})")


def run_hook(hook: dict[str, Any], state: dict[str, Any], label: str) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
    timeout = hook.get("timeout")
    payload = fastjson.dumps(state).encode()
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.dup2(in_r, 0)
            os.dup2(err_w, 2)
            os.execve(path, args, env)
        except BaseException as exc:
            os.write(2, f"exec {path}: {exc}".encode())
        os._exit(127)
    os.close(in_r)
    os.close(err_w)
    try:
        try:
            os.write(in_w, payload)
        except BrokenPipeError:
            pass
        os.close(in_w)
        deadline = time.monotonic() + timeout if timeout else None
        os.set_blocking(err_r, False)
        chunks: list[bytes] = []
        while True:
            _drain(err_r, chunks)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if deadline and time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise SystemError_(f"{label} timed out after {timeout}s")
            time.sleep(0.002)
        _drain(err_r, chunks)
    finally:
        os.close(err_r)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        stderr = b"".join(chunks).decode(errors="replace").strip()
        raise SystemError_(f"{label} failed with exit status {code}" + (f": {stderr}" if stderr else ""))


def _drain(fd: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            return
        chunks.append(data)
