"""``docker exec`` through the native runtime's exec server, without conmon.

The conmon path (execsession.py) starts a conmon and a runtime interpreter per
exec; with the native runtime, the engine instead keeps one
``dockyard-runtime exec-server`` per runtime root (started at the first exec,
see runtime/native/execserver.py) and hands it each exec with the process's
stdio: pipes the daemon reads and writes itself, or — with a TTY — a socket
on which the process sends its pty master, which the daemon then holds.

The daemon is the process's monitor for its lifetime, as dockerd is for
execs: the exit code comes back on the reply socket; a daemon restart
forgets running execs (their output has nowhere to go), but does not kill them.

:class:`DirectExecSession` and :class:`FdAttachment` have the shapes of
:class:`~dockyard.monitor.execsession.ExecSession` and
:class:`~dockyard.monitor.attach.Attachment`, so the exec service and the
stream pump do not care which path started the process.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import socket
import struct
import termios
from collections import deque
from typing import Any

from dockyard.errors import os_error
from dockyard.monitor.attach import STDERR, STDOUT
from dockyard.monitor.oci import OCIRuntime

log = logging.getLogger("dockyard.exec")

_READ_SIZE = 65536
_HIGH_WATER = 64  # chunks queued for a slow client before reading pauses
_LOW_WATER = 16
# after the process exits, output still in flight (a pty's line discipline
# flushes asynchronously) is awaited this long once nothing more arrives
_EXIT_GRACE = 0.05


async def _fd_ready(fd: int, *, write: bool = False) -> None:
    """Wait until ``fd`` is readable (or writable) on the running loop."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)
    add(fd, lambda: waiter.done() or waiter.set_result(None))
    try:
        await waiter
    finally:
        remove(fd)


class ExecStartError(Exception):
    """The runtime could not start the process; ``message`` is its text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FdAttachment:
    """The process's stdio as the daemon's own fds: output pipes or a pty master.

    Output is read as soon as it is readable (and dropped after :meth:`close`,
    so a detached process never blocks on a full pipe); reading pauses while a
    slow client has ``_HIGH_WATER`` chunks pending.  The attachment owns its
    fds; :meth:`release` closes them when the session ends.
    """

    def __init__(self, outputs: list[tuple[int, int]], stdin: int | None, tty: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self._stream = dict(outputs)  # output fd -> STDOUT | STDERR
        self._active = set(self._stream)  # output fds not at EOF yet
        self._owned = set(self._stream) | ({stdin} if stdin is not None else set())
        self._stdin = stdin  # a pty master is both the output and the input
        self._tty = tty
        self._pending: deque[tuple[int, bytes]] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self._paused = False
        self._closed = False
        self._exited = False
        self._grace: asyncio.TimerHandle | None = None
        for fd in self._owned:
            os.set_blocking(fd, False)
        for fd in self._active:
            self._loop.add_reader(fd, self._on_readable, fd)

    # -- output ---------------------------------------------------------------------------
    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: every holder of the pty's slave is gone
            if exc.errno != errno.EIO:
                log.debug("read exec output: %s", exc)
            data = b""
        if not data:
            self._loop.remove_reader(fd)
            self._active.discard(fd)
            if not self._active:
                self._end()
            return
        if not self._closed:
            self._pending.append((self._stream[fd], data))
            self._wakeup.set()
            if len(self._pending) >= _HIGH_WATER:
                self._pause()
        if self._exited:
            self._arm_grace()

    def _end(self) -> None:
        """No more output will be read (EOF everywhere, or the process is gone and quiet)."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if not self._paused:
            for fd in self._active:
                self._loop.remove_reader(fd)
        self._active.clear()
        self._ended = True
        self._wakeup.set()

    def _pause(self) -> None:
        if not self._paused:
            self._paused = True
            for fd in self._active:
                self._loop.remove_reader(fd)

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            for fd in self._active:
                self._loop.add_reader(fd, self._on_readable, fd)

    def process_exited(self) -> None:
        """The process ended: what it wrote is still read; the output ends once it stops coming
        (a background child may hold the pipe open forever; a pty flushes asynchronously)."""
        self._exited = True
        if not self._ended:
            self._arm_grace()

    def _arm_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        self._grace = self._loop.call_later(_EXIT_GRACE, self._grace_over)

    def _grace_over(self) -> None:
        self._grace = None
        if self._paused:  # a slow client: output is still being delivered
            self._arm_grace()
            return
        self._end()

    async def read(self) -> tuple[int, bytes] | None:
        """Next chunk as (stream 1|2, bytes); None once the output ended."""
        while True:
            if self._pending:
                item = self._pending.popleft()
                if len(self._pending) <= _LOW_WATER:
                    self._resume()
                return item
            if self._ended or self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    def take_ready(self) -> list[tuple[int, bytes]]:
        """Every chunk already read (the pump sends them in one write)."""
        items = list(self._pending)
        self._pending.clear()
        self._resume()
        return items

    # -- input ----------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        fd = self._stdin
        if fd is None or self._closed:
            raise BrokenPipeError("stdin is closed")
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                await _fd_ready(fd, write=True)
                continue
            view = view[n:]

    def close_stdin(self) -> None:
        """Half-close: the process reads EOF (a terminal has no separate stdin to close)."""
        if self._stdin is not None and not self._tty:
            self._owned.discard(self._stdin)
            os.close(self._stdin)
            self._stdin = None

    def close(self) -> None:
        """The client is done; the process carries on, its output drained and dropped
        (without a terminal its stdin gets EOF, as conmon does when the attach goes)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._resume()
        self.close_stdin()
        self._wakeup.set()

    def release(self) -> None:
        """Close every fd: the session is over."""
        self._closed = True
        self._end()
        for fd in self._owned:
            os.close(fd)
        self._owned.clear()
        self._stdin = None

    def resize(self, height: int, width: int) -> None:
        if self._tty and self._stdin is not None:
            fcntl.ioctl(self._stdin, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class DirectExecSession:
    """One exec process started by the exec server; the daemon holds its stdio."""

    def __init__(self, pid: int, attachment: FdAttachment | None, reply: asyncio.StreamReader,
                 reply_transport: asyncio.StreamWriter) -> None:
        self.pid = pid
        self.attachment = attachment
        self._reply = reply
        self._reply_transport = reply_transport
        self._exit: int | None = None
        self._watch = asyncio.ensure_future(self._watch_exit())

    async def _watch_exit(self) -> int:
        code = -1
        try:
            while line := await self._reply.readline():
                msg = json.loads(line)
                if "exit" in msg:
                    code = int(msg["exit"])
                    break
        except (OSError, ValueError) as exc:
            log.debug("exec %d: reply socket: %s", self.pid, exc)
        self._exit = code
        if self.attachment is not None:
            self.attachment.process_exited()
        return code

    async def wait(self) -> int:
        return await asyncio.shield(self._watch)

    def exit_code(self) -> int | None:
        return self._exit

    async def resize(self, height: int, width: int) -> None:
        if self.attachment is not None:
            try:
                self.attachment.resize(height, width)
            except OSError as exc:
                raise os_error("resize the exec's terminal", f"pid {self.pid}", exc) from None

    async def cleanup(self) -> None:
        if not self._watch.done():
            self._watch.cancel()
        if self.attachment is not None:
            self.attachment.close()
            self.attachment.release()
        self._reply_transport.close()


class ExecServer:
    """One ``dockyard-runtime exec-server`` for a runtime root, started on first use."""

    def __init__(self, runtime: OCIRuntime) -> None:
        self.runtime = runtime
        self._control: socket.socket | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> socket.socket:
        async with self._lock:
            if self._control is not None and self._proc is not None and self._proc.returncode is None:
                return self._control
            self.close()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            os.makedirs(self.runtime.root, exist_ok=True)
            argv = [self.runtime.path, *self.runtime.global_args(), "exec-server", "--fd", str(theirs.fileno())]
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),), start_new_session=True)
            except OSError as exc:
                ours.close()
                raise os_error("start the exec server", self.runtime.path, exc) from None
            finally:
                theirs.close()
            self._control = ours
            return ours

    def close(self) -> None:
        """Close the control socket: the server exits; running execs carry on."""
        if self._control is not None:
            self._control.close()
            self._control = None
        self._proc = None

    async def exec(self, container_id: str, process: dict[str, Any], *, tty: bool, stdin: bool,
                   attach: bool) -> DirectExecSession:
        """Start ``process`` in the container; raise :class:`ExecStartError` with the runtime's text."""
        reply, reply_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        mine: list[int] = []
        theirs: list[int] = [reply_theirs.fileno()]
        console: socket.socket | None = None
        outputs: list[tuple[int, int]] = []
        stdin_fd: int | None = None
        try:
            if tty:
                console, console_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                theirs.append(console_theirs.detach())
            else:
                if stdin and attach:
                    r, stdin_fd = os.pipe2(os.O_CLOEXEC)
                    mine.append(stdin_fd)
                    theirs.append(r)
                else:
                    theirs.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
                for stream in (STDOUT, STDERR):
                    if attach:
                        r, w = os.pipe2(os.O_CLOEXEC)
                        mine.append(r)
                        outputs.append((r, stream))
                        theirs.append(w)
                    else:
                        theirs.append(os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC))
            request = json.dumps({"id": container_id, "process": {**process, "terminal": tty}}).encode()
            await self._send(request, theirs)
        except BaseException:
            for fd in mine:
                os.close(fd)
            if console is not None:
                console.close()
            reply.close()
            raise
        finally:
            reply_theirs.detach()
            for fd in theirs:
                os.close(fd)
        reader, transport = await asyncio.open_unix_connection(sock=reply)
        try:
            pid = await self._started(reader)
            attachment = None
            if tty:
                assert console is not None
                master = await self._receive_master(console)
                # the daemon holds the master for the process's life (closing it would hang
                # the terminal up); unattached, its output is drained and dropped
                attachment = FdAttachment([(master, STDOUT)], master, tty=True)
                if not attach:
                    attachment.close()
            elif attach:
                attachment = FdAttachment(outputs, stdin_fd, tty=False)
        except BaseException:
            for fd in mine:
                os.close(fd)
            transport.close()
            raise
        finally:
            if console is not None:
                console.close()
        return DirectExecSession(pid, attachment, reader, transport)

    async def _send(self, request: bytes, fds: list[int]) -> None:
        for attempt in (1, 2):  # a server that died is started again, once
            control = await self._connection()
            try:
                socket.send_fds(control, [request], fds)
                return
            except (BrokenPipeError, ConnectionError) as exc:
                self.close()
                if attempt == 2:
                    raise os_error("send to the exec server", self.runtime.path, exc) from None

    @staticmethod
    async def _started(reply: asyncio.StreamReader) -> int:
        """Wait for the pid (or the error)."""
        line = await reply.readline()
        if not line:
            raise ExecStartError("the exec server closed the reply before the process started")
        msg = json.loads(line)
        if "error" in msg:
            raise ExecStartError(str(msg["error"]))
        return int(msg["pid"])

    @staticmethod
    async def _receive_master(console: socket.socket) -> int:
        """The pty master the process sent before reporting its pid (already queued)."""
        console.setblocking(False)
        while True:
            try:
                _, fds, _, _ = socket.recv_fds(console, 1024, 1, socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                await _fd_ready(console.fileno())
                continue
            if not fds:
                raise ExecStartError("the exec process did not send its terminal")
            return fds[0]
