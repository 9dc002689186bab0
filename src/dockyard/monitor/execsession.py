"""``docker exec`` through conmon: an extra process in a running container, with conmon's stdio.

conmon ``--exec`` runs ``<runtime> exec --detach --process <spec>`` and then
monitors that process like a container: attach socket, ctl FIFO (TTY resize),
exit code.  The handshake (podman's, libpod/oci_conmon_exec_linux.go):

1. spawn conmon with start, sync and attach pipes; write the start pipe;
2. with ``--exec-attach``, conmon sets up ``<dir>/attach`` and reports on the
   attach pipe, then waits on the start pipe again — we connect the
   attachment now so no output is missed — and write the start pipe;
3. the sync pipe gives ``{"data": pid}`` (negative + message on failure), and
   later ``{"data": exit_code}`` when the process ended.

Each session has its own dir ``<exec_root>/exec/<exec_id>/`` (conmon's bundle
and persist dir): ``process.json``, ``attach``, ``ctl``, ``exits/<container id>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any

from dockyard.errors import os_error
from dockyard.monitor.attach import Attachment, connect_attach_socket
from dockyard.monitor.exitwatch import read_exit_file
from dockyard.monitor.oci import OCIRuntime


class ExecSession:
    """One exec process under its own conmon."""

    def __init__(self, container_id: str, exec_id: str, directory: str, pid: int,
                 attachment: Attachment | None, sync: asyncio.StreamReader,
                 transport: asyncio.BaseTransport) -> None:
        self.container_id = container_id
        self.exec_id = exec_id
        self.dir = directory
        self.pid = pid
        self.attachment = attachment
        self._sync = sync
        self._transport = transport
        self._exit: int | None = None

    async def wait(self) -> int:
        """The process's exit code (conmon reports it on the sync pipe, and in the exit file)."""
        if self._exit is not None:
            return self._exit
        from dockyard.monitor.conmon import parse_sync_message
        line = await self._sync.readline()
        code: int | None = None
        if line:
            code, _ = parse_sync_message(line)
        if code is None or not line:
            code = read_exit_file(os.path.join(self.dir, "exits", self.container_id))
        self._exit = -1 if code is None else code
        return self._exit

    def exit_code(self) -> int | None:
        return self._exit if self._exit is not None else read_exit_file(
            os.path.join(self.dir, "exits", self.container_id))

    async def resize(self, height: int, width: int) -> None:
        path = os.path.join(self.dir, "ctl")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise os_error("open control fifo", path, exc) from None
        try:
            os.write(fd, f"1 {int(height)} {int(width)}\n".encode())
        finally:
            os.close(fd)

    async def cleanup(self) -> None:
        """Close the pipes and remove the session dir (after :meth:`wait`)."""
        if self.attachment is not None:
            self.attachment.close()
        self._transport.close()
        shutil.rmtree(self.dir, ignore_errors=True)


async def start_exec(conmon_path: str, exec_root: str, log_level: str, container_id: str,
                     exec_id: str, runtime: OCIRuntime, process: dict[str, Any], tty: bool,
                     stdin: bool, attach: bool = True) -> ExecSession:
    """Start ``process`` (an OCI ``process`` object) in a running container."""
    from dockyard.monitor.conmon import ContainerStartError, clean_runtime_message, parse_sync_message

    d = os.path.join(exec_root, "exec", exec_id)
    os.makedirs(os.path.join(d, "exits"), exist_ok=True)
    spec_path = os.path.join(d, "process.json")
    with open(spec_path, "w") as f:
        json.dump({**process, "terminal": tty}, f)
    argv = [conmon_path, "--api-version", "1", "-c", container_id, "-u", exec_id,
            "-n", container_id, "-r", runtime.path]
    for arg in runtime.global_args():
        argv += ["--runtime-arg", arg]
    argv += ["-b", d, "-p", os.path.join(d, "pid"), "--exit-dir", os.path.join(d, "exits"),
             "--persist-dir", d, "--socket-dir-path", os.path.join(exec_root, "socks"),
             "--full-attach", "-l", "none", "--log-level", log_level,
             "--conmon-pidfile", os.path.join(d, "conmon.pid"),
             "--exec", "--exec-process-spec", spec_path]
    if attach:
        argv.append("--exec-attach")
    if tty:
        argv.append("-t")
    if stdin:
        argv.append("-i")
    loop = asyncio.get_running_loop()
    sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
    start_r, start_w = os.pipe2(os.O_CLOEXEC)
    att_r, att_w = os.pipe2(os.O_CLOEXEC)
    env = dict(os.environ, _OCI_SYNCPIPE=str(sync_w), _OCI_STARTPIPE=str(start_r),
               _OCI_ATTACHPIPE=str(att_w))
    mine = [sync_r, start_w, att_r]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, pass_fds=(sync_w, start_r, att_w), env=env,
            start_new_session=True)
    except OSError as exc:
        for fd in mine + [sync_w, start_r, att_w]:
            os.close(fd)
        shutil.rmtree(d, ignore_errors=True)
        raise os_error("spawn", conmon_path, exc) from None
    for fd in (sync_w, start_r, att_w):
        os.close(fd)
    attachment: Attachment | None = None
    transport = None
    try:
        os.write(start_w, b"0")
        await proc.wait()  # the first conmon process forks the monitor and exits
        if attach:
            msg = await loop.run_in_executor(None, _read_line, att_r)
            if not msg:
                raise ContainerStartError("conmon exited before setting up the exec attach socket")
            sock = await loop.run_in_executor(None, connect_attach_socket, d)
            attachment = Attachment(sock)
            os.write(start_w, b"0")
        os.close(start_w)
        start_w = -1
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(sync_r, "rb", buffering=0))
        sync_r = -1
        line = await reader.readline()
        if not line:
            raise ContainerStartError("conmon exited without reporting the exec process's pid")
        pid, message = parse_sync_message(line)
        if pid <= 0:
            raise ContainerStartError(clean_runtime_message(message) or "the OCI runtime failed to exec")
    except BaseException:
        if attachment is not None:
            attachment.close()
        if transport is not None:
            transport.close()
        for fd in (sync_r, start_w):
            if fd >= 0:
                os.close(fd)
        os.close(att_r)
        shutil.rmtree(d, ignore_errors=True)
        raise
    os.close(att_r)
    return ExecSession(container_id, exec_id, d, pid, attachment, reader, transport)


def _read_line(fd: int) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data
