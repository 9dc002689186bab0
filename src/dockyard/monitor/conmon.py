"""The per-container monitor: conmon holds a container's stdio, writes its log, records its exit.

conmon daemonizes (double fork, setsid), so it outlives the daemon: ``kill -9``
the daemon and the container keeps running, its output keeps going to the log,
and its exit code lands in the exit directory.  The daemon re-adopts it later
through the files this module names.

Start sequence (the one podman uses, libpod/oci_conmon_*.go):

1. spawn ``conmon`` with a *start pipe* and a *sync pipe* (``_OCI_STARTPIPE``,
   ``_OCI_SYNCPIPE`` name the inherited fds); conmon blocks on the start pipe;
2. write to the start pipe; conmon forks, runs ``<runtime> create`` and
   reports ``{"data": <pid>}`` on the sync pipe — or ``{"data": -1,
   "message": <the runtime's stderr>}``;
3. the container is now *created* (its process waits before exec), so the
   daemon can attach clients before ``runtime start`` and miss no output.

Files, per container (``<exec_root>/conmon/<id>/``, also conmon's --persist-dir):
``conmon.pid`` (conmon's pid), ``pid`` (container init pid), ``bundle`` (the
bundle path, where conmon puts ``attach``, ``ctl`` and ``oom``), ``exit`` and
``oom`` (written by conmon).  Exit files for the watcher: ``<exec_root>/exits/<id>``.
``docker exec`` sessions get their own conmon too (:meth:`Monitor.exec`,
``monitor/execsession.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from typing import TYPE_CHECKING, Any

from dockyard.errors import NotFound, SystemError_, os_error
from dockyard.monitor.attach import Attachment, connect_attach_socket
from dockyard.monitor.exitwatch import ExitWatcher, read_exit_file
from dockyard.monitor.oci import OCIRuntime

if TYPE_CHECKING:
    from dockyard.monitor.execsession import ExecSession

__all__ = ["Monitor", "Attachment", "ExitWatcher", "ContainerStartError", "start_error_exit_code",
           "move_to_cgroup",
           "clean_runtime_message"]

WIN_RESIZE_EVENT = 1
REOPEN_LOGS_EVENT = 2


class ContainerStartError(SystemError_):
    """``runtime create`` failed under conmon; ``message`` is the runtime's own text."""


def start_error_exit_code(message: str) -> int | None:
    """Docker's exit code for a start failure: 127 command not found, 126 not executable."""
    low = message.lower()
    if ("executable file not found" in low or "no such file or directory" in low
            or "not found in $path" in low):
        return 127
    if "permission denied" in low or "is a directory" in low or "exec format error" in low:
        return 126
    if "operation not permitted" in low and "exec" in low:  # crun: "open executable: ..."
        return 126
    return None


def parse_sync_message(raw: bytes) -> tuple[int, str]:
    """conmon's sync pipe JSON → (data, message).  Tolerates older conmons' loose escaping."""
    text = raw.decode("utf-8", "replace").strip()
    first = text.splitlines()[0] if text else ""
    try:
        obj = json.loads(first)
        return int(obj.get("data", obj.get("pid", -1))), str(obj.get("message", ""))
    except (ValueError, AttributeError):
        m = re.search(r'"(?:data|pid)"\s*:\s*(-?\d+)', text)
        msg = re.search(r'"message"\s*:\s*"(.*)"\s*}', text, re.S)
        return (int(m.group(1)) if m else -1), (msg.group(1) if msg else text)


def clean_runtime_message(text: str) -> str:
    """Strip logrus framing (``time=... level=error msg="..."``, runc's stderr) off a message."""
    msgs = []
    for line in text.strip().splitlines():
        m = re.search(r'level=(?:error|fatal)\s+msg="((?:[^"\\]|\\.)*)"', line)
        if m:
            try:
                msgs.append(json.loads('"' + m.group(1) + '"'))
            except ValueError:
                msgs.append(m.group(1))
        elif "level=" not in line and line.strip():
            msgs.append(line.strip())
    return "\n".join(msgs) if msgs else text.strip()


class Monitor:
    """Spawn and find conmon monitors under one exec root."""

    def __init__(self, conmon_path: str = "/usr/bin/conmon", exec_root: str = "/run/dockyard",
                 log_level: str = "error", conmon_cgroup: str | None = None) -> None:
        """``conmon_cgroup`` (e.g. ``/dockyard-conmon``): a cgroup, on the process-tracking
        hierarchies only (cgroup2 and v1 ``name=systemd``), that conmon is moved into
        before it starts anything — so stopping the daemon's service (systemd kills
        its whole cgroup) does not take the monitors down with it.  None: conmon
        stays in the daemon's cgroup."""
        self.conmon_path = conmon_path
        self.exec_root = exec_root
        self.log_level = log_level
        self.conmon_cgroup = conmon_cgroup
        self.exit_dir = os.path.join(exec_root, "exits")
        self.socket_dir = os.path.join(exec_root, "socks")

    # -- paths -------------------------------------------------------------
    def container_dir(self, container_id: str) -> str:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise NotFound(f"No such container: {container_id}")
        return os.path.join(self.exec_root, "conmon", container_id)

    def exit_file(self, container_id: str) -> str:
        return os.path.join(self.exit_dir, container_id)

    def bundle_of(self, container_id: str) -> str:
        try:
            with open(os.path.join(self.container_dir(container_id), "bundle")) as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"No such container: {container_id} (no monitor state)") from None

    def conmon_pid(self, container_id: str) -> int | None:
        return _read_int(os.path.join(self.container_dir(container_id), "conmon.pid"))

    def container_pid(self, container_id: str) -> int | None:
        return _read_int(os.path.join(self.container_dir(container_id), "pid"))

    # -- start -------------------------------------------------------------
    def conmon_argv(self, container_id: str, name: str, bundle: str, runtime: OCIRuntime,
                    log_path: str, tty: bool, stdin: bool, stdin_once: bool,
                    log_size_max: int | None = None) -> list[str]:
        d = self.container_dir(container_id)
        argv = [self.conmon_path, "--api-version", "1",
                "-c", container_id, "-u", container_id, "-n", name or container_id,
                "-r", runtime.path]
        for arg in runtime.global_args():
            argv += ["--runtime-arg", arg]
        argv += ["-b", bundle, "-p", os.path.join(d, "pid"),
                 "--exit-dir", self.exit_dir, "--persist-dir", d,
                 "--socket-dir-path", self.socket_dir, "--full-attach",
                 "-l", f"k8s-file:{log_path}", "--log-level", self.log_level,
                 "--conmon-pidfile", os.path.join(d, "conmon.pid")]
        if log_size_max and log_size_max > 0:
            argv += ["--log-size-max", str(log_size_max)]
        if tty:
            argv.append("-t")
        if stdin:
            argv.append("-i")
            if not stdin_once:
                argv.append("--leave-stdin-open")
        return argv

    async def create(self, container_id: str, name: str, bundle: str, runtime: OCIRuntime,
                     log_path: str, tty: bool = False, stdin: bool = False,
                     stdin_once: bool = False, log_size_max: int | None = None) -> int:
        """Spawn conmon, which runs ``runtime create``; return the container's pid.

        The container is left *created*: call ``runtime.start`` next.
        ``log_size_max`` (``--log-opt max-size``): conmon starts the log afresh
        (a new file renamed over the old) once it would grow past this size.  On failure
        raises :class:`ContainerStartError` with the runtime's message; nothing
        is left behind (no conmon, no runtime state, no monitor dir).
        """
        d = self.container_dir(container_id)
        for path in (d, self.exit_dir, self.socket_dir, os.path.dirname(log_path) or "."):
            os.makedirs(path, exist_ok=True)
        for stale in (self.exit_file(container_id), os.path.join(d, "exit"), os.path.join(d, "oom"),
                      os.path.join(bundle, "oom")):
            _unlink(stale)
        with open(os.path.join(d, "bundle"), "w") as f:
            f.write(bundle)
        argv = self.conmon_argv(container_id, name, bundle, runtime, log_path, tty, stdin, stdin_once,
                                log_size_max)
        try:
            pid = await self._spawn(argv, cwd=bundle)
        except BaseException:
            await self._undo_create(container_id, runtime)
            raise
        return pid

    async def _spawn(self, argv: list[str], cwd: str) -> int:
        """Start conmon in ``cwd`` (the bundle): it writes its ``oom`` marker relative to it."""
        sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
        start_r, start_w = os.pipe2(os.O_CLOEXEC)
        env = dict(os.environ, _OCI_SYNCPIPE=str(sync_w), _OCI_STARTPIPE=str(start_r))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, pass_fds=(sync_w, start_r), env=env,
                start_new_session=True, cwd=cwd)
        except OSError as exc:
            for fd in (sync_r, sync_w, start_r, start_w):
                os.close(fd)
            raise os_error("spawn", argv[0], exc) from None
        os.close(sync_w)
        os.close(start_r)
        try:
            if self.conmon_cgroup:
                # conmon blocks on the start pipe until it is in its cgroup (podman's order)
                move_to_cgroup(proc.pid, self.conmon_cgroup)
            os.write(start_w, b"0")
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()  # still blocked on the start pipe: nothing was started yet
            await proc.wait()
            os.close(sync_r)
            raise
        finally:
            os.close(start_w)
        # the first conmon process forks the monitor and exits at once
        err = await proc.stderr.read() if proc.stderr else b""
        await proc.wait()
        raw = await asyncio.get_running_loop().run_in_executor(None, _read_all, sync_r)
        if not raw:
            text = err.decode(errors="replace").strip()
            raise ContainerStartError(
                f"conmon exited without reporting the container's pid: {text or 'no output'}")
        data, message = parse_sync_message(raw)
        if data < 0:
            raise ContainerStartError(clean_runtime_message(message)
                                      or "the OCI runtime failed to create the container")
        return data

    async def _undo_create(self, container_id: str, runtime: OCIRuntime) -> None:
        pid = self.conmon_pid(container_id)
        try:
            await runtime.delete(container_id, force=True)
        except Exception:  # noqa: BLE001 - best effort: it may never have been created
            pass
        if pid and is_conmon_of(pid, container_id):
            await _wait_gone(pid, 5.0)
        await self.cleanup(container_id)

    async def exec(self, container_id: str, exec_id: str, runtime: OCIRuntime,
                   process: dict[str, Any], tty: bool = False, stdin: bool = False,
                   attach: bool = True) -> ExecSession:
        """``docker exec``: run an OCI ``process`` in the running container under its own conmon.

        With ``attach`` the session's :class:`Attachment` is connected before the
        process runs.  Failures raise :class:`ContainerStartError` with the runtime's text.
        """
        from dockyard.monitor.execsession import start_exec
        return await start_exec(self.conmon_path, self.exec_root, self.log_level, container_id,
                                exec_id, runtime, process, tty, stdin, attach)

    # -- running containers -------------------------------------------------
    async def attach(self, container_id: str) -> Attachment:
        """Connect to the container's stdio (works between create and start)."""
        bundle = self.bundle_of(container_id)
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, connect_attach_socket, bundle)
        return Attachment(sock)

    async def resize(self, container_id: str, height: int, width: int) -> None:
        """Resize the container's TTY through conmon's ctl FIFO (``1 H W``)."""
        self._ctl(container_id, f"{WIN_RESIZE_EVENT} {int(height)} {int(width)}\n")

    async def reopen_log(self, container_id: str) -> None:
        """Ask conmon to reopen its log file (after the daemon rotated it)."""
        self._ctl(container_id, f"{REOPEN_LOGS_EVENT} 0 0\n")

    def _ctl(self, container_id: str, line: str) -> None:
        path = os.path.join(self.bundle_of(container_id), "ctl")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise os_error("open control fifo", path, exc) from None
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def exit_code(self, container_id: str) -> int | None:
        """The exit code conmon recorded, or None while running (survives daemon restarts)."""
        code = read_exit_file(self.exit_file(container_id))
        if code is None:
            code = read_exit_file(os.path.join(self.container_dir(container_id), "exit"))
        return code

    def oom_killed(self, container_id: str) -> bool:
        """True when conmon saw the kernel OOM-kill in the container's cgroup."""
        d = self.container_dir(container_id)
        if os.path.exists(os.path.join(d, "oom")):
            return True
        try:
            return os.path.exists(os.path.join(self.bundle_of(container_id), "oom"))
        except NotFound:
            return False

    def alive(self, container_id: str) -> bool:
        """Is this container's conmon still running? (for re-adoption after a restart)"""
        pid = self.conmon_pid(container_id)
        return bool(pid) and is_conmon_of(pid, container_id)

    async def wait(self, container_id: str, poll: float = 0.05) -> int:
        """Wait for the exit code file (simple polling; the daemon uses ExitWatcher)."""
        while True:
            code = self.exit_code(container_id)
            if code is not None:
                return code
            if not self.alive(container_id):
                code = self.exit_code(container_id)
                if code is not None:
                    return code
                raise SystemError_(f"monitor of container {container_id} died without an exit code")
            await asyncio.sleep(poll)

    async def cleanup(self, container_id: str) -> None:
        """Forget the container: monitor dir, exit file, conmon's files in the bundle."""
        d = self.container_dir(container_id)
        try:
            bundle = self.bundle_of(container_id)
        except NotFound:
            bundle = None
        if bundle:
            for leftover in ("attach", "ctl", "winsz", "oom"):
                _unlink(os.path.join(bundle, leftover))
        _unlink(self.exit_file(container_id))
        _unlink(os.path.join(self.socket_dir, container_id))
        shutil.rmtree(d, ignore_errors=True)


TRACKING_HIERARCHIES = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup")


def move_to_cgroup(pid: int, path: str, hierarchies: tuple[str, ...] = TRACKING_HIERARCHIES) -> list[str]:
    """Put ``pid`` into cgroup ``path`` on each process-tracking hierarchy mounted here.

    Resource controllers are left alone.  The cgroup is shared by all monitors
    and stays (like the daemon's other state dirs).  Returns the dirs used.
    """
    used = []
    for base in hierarchies:
        if not os.path.exists(os.path.join(base, "cgroup.procs")):
            continue
        if base == "/sys/fs/cgroup" and not os.path.exists(os.path.join(base, "cgroup.controllers")):
            continue  # a v1 tmpfs of controller mounts, not a cgroup2 root
        target = os.path.join(base, path.strip("/"))
        try:
            os.makedirs(target, exist_ok=True)
            with open(os.path.join(target, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except OSError as exc:
            raise os_error("move conmon into cgroup", target, exc) from None
        used.append(target)
    return used


def _read_all(fd: int) -> bytes:
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            if b"\n" in chunk:
                break  # api-version 1 create: exactly one message
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (FileNotFoundError, ValueError):
        return None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(path, ignore_errors=True)


def is_conmon_of(pid: int, container_id: str) -> bool:
    """pid is alive and is this container's conmon (guards against pid reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if not argv or not os.path.basename(argv[0]).startswith(b"conmon"):
        return False
    try:
        i = argv.index(b"-c")
    except ValueError:
        return False
    return i + 1 < len(argv) and argv[i + 1] == container_id.encode()


async def _wait_gone(pid: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while os.path.exists(f"/proc/{pid}") and loop.time() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except (FileNotFoundError, IndexError):
            return
        await asyncio.sleep(0.02)
