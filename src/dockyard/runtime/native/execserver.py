"""``dockyard-runtime exec-server``: ``exec`` without an interpreter start per call.

An engine that runs many ``exec`` calls (``docker exec``) pays, per call, a
Python start-up and the imports of the runtime (~25 ms here) before any
kernel work.  The exec server is the runtime started once, with everything
``exec`` needs already imported, waiting on a unix socket the engine holds
(like a zygote).  Each request forks the exec process itself, with the code
of ``dockyard-runtime exec`` (:func:`exec.fork_process`: the same cgroup and
namespace joins, seccomp, capabilities and fd hygiene), so the guarantees are
those of the command line; the server is the process's parent and reports
its exit.

Wire format (one SOCK_SEQPACKET datagram per request, from the engine):

    {"id": CONTAINER_ID, "process": {OCI process}}   + SCM_RIGHTS fds

fds: ``[reply, stdin, stdout, stderr]`` without a terminal, ``[reply,
console]`` with ``process.terminal`` (console: a connected unix socket that
receives the pty master, as ``--console-socket`` would).  The server answers
on ``reply`` (a stream socket) with newline-delimited JSON:

    {"pid": N}            the process is about to exec the user program
    {"exit": CODE}        it ended (128+n for a signal)
    {"error": TEXT}       it could not be started (nothing was left running)

The server exits when the engine closes its end of the control socket;
running execs carry on (nobody is left to hear their exit).

It also keeps, per container, what every exec reads from the container's
state and config (:class:`exec.ContainerInfo`: the parsed config, the
compiled seccomp program, the cgroup manager), reused while those files are
unchanged: the processes inherit it instead of reading and hashing again.
"""

from __future__ import annotations

import os
import signal

from dockyard.runtime.native import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.runtime.native.channel import Channel

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


class _Exec:
    """One process the server started: where to answer, and whether it said "ready"."""

    def __init__(self, pid: int, reply: int, channel: Channel) -> None:
        self.pid = pid
        self.reply = reply
        self.channel: Channel | None = channel
        self.ready = False
        self.failed = False


class _Server:
    def __init__(self, root: str, control_fd: int) -> None:
        import selectors
        import socket

        self.root = root
        self.ctl = socket.socket(fileno=control_fd)
        os.set_inheritable(control_fd, False)
        self.selector = selectors.DefaultSelector()
        self.read = selectors.EVENT_READ
        self.running: dict[int, _Exec] = {}
        self.infos: dict[str, Any] = {}
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        # SIGCHLD wakes the loop through a pipe (the handler itself does nothing)
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.ctl, self.read, None)
        self.selector.register(self.wake_r, self.read, None)

    def loop(self) -> int:
        while True:
            for key, _ in self.selector.select():
                try:
                    if key.fileobj is self.ctl:
                        if not self._request():
                            return 0
                    elif key.fileobj == self.wake_r:
                        try:
                            while os.read(self.wake_r, 512):
                                pass
                        except BlockingIOError:
                            pass
                        self._reap()
                    else:
                        self._message(key.data)
                except Exception as exc:  # noqa: BLE001 - one exec's trouble must not stop the others
                    os.write(2, f"dockyard-runtime exec-server: {_describe(exc)}\n".encode())

    # -- requests ---------------------------------------------------------------------------
    def _request(self) -> bool:
        """Serve one request; False once the engine closed the control socket."""
        import socket

        try:
            data, fds, _, _ = socket.recv_fds(self.ctl, MAX_REQUEST, MAX_FDS, socket.MSG_CMSG_CLOEXEC)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            for fd in fds:
                os.close(fd)
            return False
        reply = fds[0] if fds else -1
        try:
            self._start(fastjson.loads(data), fds)
        except BaseException as exc:  # noqa: BLE001 - a bad request or container: answer, serve on
            _answer(reply, {"error": _describe(exc)})
            if reply >= 0:
                os.close(reply)
        finally:
            for fd in fds[1:]:
                os.close(fd)
        return True

    def _start(self, request: dict[str, Any], fds: list[int]) -> None:
        from dockyard.runtime.native import exec as exec_mod

        process: dict[str, Any] = request["process"]
        container_id = str(request["id"])
        console, stdio = None, None
        if process.get("terminal"):
            if len(fds) != 2:
                raise ValueError("a terminal exec needs [reply, console] fds")
            console = fds[1]
        elif len(fds) == 4:
            stdio = (fds[1], fds[2], fds[3])
        else:
            raise ValueError("an exec without a terminal needs [reply, stdin, stdout, stderr] fds")
        info = self._info(container_id)
        exec_mod.check_startable(info, process)
        pid, channel = exec_mod.fork_process(info, process, console, stdio=stdio, own_pidns=self.own_pidns)
        self.running[pid] = job = _Exec(pid, fds[0], channel)
        self.selector.register(channel.rfd, self.read, job)

    def _info(self, container_id: str) -> Any:
        """The container's cached ContainerInfo, read again when its files changed."""
        from dockyard.runtime.native.exec import ContainerInfo

        info = self.infos.get(container_id)
        if info is None or not info.fresh():
            self.infos.pop(container_id, None)
            if len(self.infos) >= MAX_CACHED:
                self.infos.clear()
            info = self.infos[container_id] = ContainerInfo(self.root, container_id)
        return info

    # -- the processes ----------------------------------------------------------------------
    def _message(self, job: _Exec) -> None:
        """The process's channel is readable: "ready", an error, or EOF (it exec'd or died)."""
        channel = job.channel
        if channel is None:  # closed by _reap in the same round of events
            return
        try:
            msg = channel.recv()
        except (OSError, ValueError):
            msg = None
        if msg is not None and msg.get("ready"):
            job.ready = True
            _answer(job.reply, {"pid": job.pid})
            return
        if msg is not None and "error" in msg:
            job.failed = True
            _answer(job.reply, {"error": str(msg["error"])})
        elif msg is None and not job.ready and not job.failed:
            job.failed = True
            _answer(job.reply, {"error": "the exec process exited before it started"})
        if msg is None or job.failed:
            self.selector.unregister(channel.rfd)
            channel.close()
            job.channel = None
            if job.failed:
                try:
                    os.kill(job.pid, 9)
                except ProcessLookupError:
                    pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.running.pop(pid, None)
            if job is None:
                continue
            while job.channel is not None:  # what it said before it died comes first
                self._message(job)
            if job.ready and not job.failed:
                code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                _answer(job.reply, {"exit": code})
            os.close(job.reply)


def serve(root: str, control_fd: int) -> int:
    """Answer requests on ``control_fd`` until the engine closes it."""
    preload()
    return _Server(root, control_fd).loop()


def _describe(exc: BaseException) -> str:
    from dockyard.runtime.native.create import error_text

    return error_text(exc)


def _answer(fd: int, message: dict[str, Any]) -> None:
    """One JSON line on a reply socket; an engine that went away is nobody to tell."""
    from dockyard.runtime.native.channel import Channel

    if fd < 0:
        return
    try:
        Channel(-1, fd).send(**message)
    except OSError:
        pass
