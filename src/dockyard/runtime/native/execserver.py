"""``dockyard-runtime exec-server``: ``exec`` without an interpreter start per call.

An engine that runs many ``exec`` calls (``docker exec``) pays, per call, a
Python start-up and the imports of the runtime (~25 ms here) before any
kernel work.  The exec server is the runtime started once, with everything
``exec`` needs already imported, waiting on a unix socket the engine holds
(like a zygote).  Each request forks a child that runs exactly the code of
``dockyard-runtime exec`` (:func:`exec.exec_process`, foreground) — the same
namespace joins, cgroup, seccomp, capabilities and fd hygiene — so the
guarantees are those of the command line.

Wire format (one SOCK_SEQPACKET datagram per request, from the engine):

    {"id": CONTAINER_ID, "process": {OCI process}}   + SCM_RIGHTS fds

fds: ``[reply, stdin, stdout, stderr]`` without a terminal, ``[reply,
console]`` with ``process.terminal`` (console: a connected unix socket that
receives the pty master, as ``--console-socket`` would).  The child answers
on ``reply`` (a stream socket) with newline-delimited JSON:

    {"pid": N}            the process is about to exec the user program
    {"exit": CODE}        it ended (128+n for a signal)
    {"error": TEXT}       it could not be started (nothing was left running)

EOF on ``reply`` without ``exit`` means the child died.  The server exits when
the engine closes its end of the control socket; running execs carry on.

The server also keeps, per container, what every exec reads from the
container's state and config (:class:`exec.ContainerInfo`: the parsed config,
the compiled seccomp program, the cgroup manager), reused while those files
are unchanged: the children inherit it instead of reading and hashing again.
"""

from __future__ import annotations

import os
import signal

from dockyard.errors import DockyardError
from dockyard.runtime.native import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_REQUEST = 1 << 20  # one OCI process object
MAX_FDS = 4
MAX_CACHED = 256  # containers whose ContainerInfo is kept


def preload() -> None:
    """Import, once, every module an exec needs (the point of the server)."""
    import fcntl  # noqa: F401
    import resource  # noqa: F401

    from dockyard.runtime.native import (  # noqa: F401
        caps, cgroups, create, exec as exec_mod, init, ops, seccomp, selfprotect, syscalls, terminal)
    from dockyard.runtime.native.cgroups import v1, v2  # noqa: F401


def serve(root: str, control_fd: int) -> int:
    """Answer requests on ``control_fd`` until the engine closes it."""
    import socket

    preload()
    # children are reaped by the kernel: the server never waits for them
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    ctl = socket.socket(fileno=control_fd)
    os.set_inheritable(control_fd, False)
    infos: dict[str, Any] = {}
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctl, MAX_REQUEST, MAX_FDS, socket.MSG_CMSG_CLOEXEC)
        except InterruptedError:
            continue
        except OSError:
            return 1
        if not data:
            for fd in fds:
                os.close(fd)
            return 0
        reply = fds[0] if fds else -1
        try:
            request = fastjson.loads(data)
            info = _container_info(infos, root, str(request["id"]))
            pid = os.fork()
        except BaseException as exc:  # noqa: BLE001 - a bad request or container: answer, serve on
            _answer(reply, {"error": _describe(exc)})
            pid = -1
        if pid == 0:  # pragma: no cover - the child, measured through the engine's tests
            ctl.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # it waits for its process
            _child(root, request, info, fds)
        for fd in fds:
            os.close(fd)


def _container_info(infos: dict[str, Any], root: str, container_id: str) -> Any:
    """The container's cached ContainerInfo, read again when its files changed."""
    from dockyard.runtime.native.exec import ContainerInfo

    info = infos.get(container_id)
    if info is None or not info.fresh():
        infos.pop(container_id, None)
        if len(infos) >= MAX_CACHED:
            infos.clear()
        info = infos[container_id] = ContainerInfo(root, container_id)
    return info


def _child(root: str, request: dict[str, Any], info: Any, fds: list[int]) -> None:  # pragma: no cover
    """One request: run the exec in the foreground, report on the reply socket, exit."""
    reply = fds[0] if fds else -1
    code = 1
    try:
        process: dict[str, Any] = request["process"]
        console = None
        if process.get("terminal"):
            if len(fds) != 2:
                raise ValueError("a terminal exec needs [reply, console] fds")
            console = fds[1]
        else:
            if len(fds) != 4:
                raise ValueError("an exec without a terminal needs [reply, stdin, stdout, stderr] fds")
            for target, fd in enumerate(fds[1:]):
                os.dup2(fd, target)  # inheritable: the process gets them as 0, 1, 2
                os.close(fd)
        from dockyard.runtime.native import exec as exec_mod

        status = exec_mod.exec_process(root, str(request["id"]), process, console_fd=console, info=info,
                                       on_started=lambda pid: _answer(reply, {"pid": pid}))
        _answer(reply, {"exit": status})
        code = 0
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the engine
        _answer(reply, {"error": _describe(exc)})
    os._exit(code)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DockyardError):
        return exc.message
    if isinstance(exc, OSError):
        from dockyard.runtime.native.init import describe_os_error

        return describe_os_error(exc)
    return f"{type(exc).__name__}: {exc}"


def _answer(fd: int, message: dict[str, Any]) -> None:
    if fd < 0:
        return
    data = (fastjson.dumps(message) + "\n").encode()
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:  # the engine is gone: nobody to tell
        pass
