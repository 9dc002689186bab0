"""Watch conmon's exit directory with inotify: one file per exited container, named by id.

conmon writes ``<exit-dir>/<container id>`` (content: the exit status as
decimal) with ``g_file_set_contents``, i.e. a temporary file renamed into
place, after it drained the container's output into the log.  So the
appearance of the file (IN_MOVED_TO, or IN_CLOSE_WRITE for a plain writer) means
"exited, and the log is complete".  Files already present when the watcher
starts are exits that happened while the daemon was down; :meth:`start`
replays them.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import struct
from typing import Callable

from dockyard.errors import os_error

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


def read_exit_file(path: str) -> int | None:
    """The exit code in a conmon exit file; None if missing or not (yet) a number."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_events(buf: bytes) -> list[tuple[int, str]]:
    """Decode a read() of an inotify fd into (mask, name) pairs."""
    out = []
    off = 0
    while off + _EVENT.size <= len(buf):
        _wd, mask, _cookie, length = _EVENT.unpack_from(buf, off)
        off += _EVENT.size
        name = buf[off:off + length].split(b"\0", 1)[0].decode("utf-8", "replace")
        off += length
        out.append((mask, name))
    return out


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class ExitWatcher:
    """Call ``callback(container_id, exit_code)`` once per exit file in ``exit_dir``."""

    def __init__(self, exit_dir: str, callback: Callable[[str, int], object]) -> None:
        self.exit_dir = exit_dir
        self.callback = callback
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reported: dict[str, float] = {}

    def start(self, loop: asyncio.AbstractEventLoop | None = None, replay: bool = True) -> None:
        """Begin watching; with ``replay``, report exit files already present."""
        os.makedirs(self.exit_dir, exist_ok=True)
        libc = _libc()
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise os_error("inotify_init1", self.exit_dir, OSError(ctypes.get_errno(),
                                                                   os.strerror(ctypes.get_errno())))
        wd = libc.inotify_add_watch(fd, os.fsencode(self.exit_dir), IN_CLOSE_WRITE | IN_MOVED_TO)
        if wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise os_error("inotify_add_watch", self.exit_dir, OSError(err, os.strerror(err)))
        self._fd = fd
        self._loop = loop or asyncio.get_event_loop()
        self._loop.add_reader(fd, self._on_readable)
        if replay:
            for name in sorted(os.listdir(self.exit_dir)):
                self._report(name)

    def _report(self, name: str) -> None:
        if not name or name.startswith(".") or "." in name:
            return  # conmon's temporary files are "<id>.XXXXXX"
        path = os.path.join(self.exit_dir, name)
        try:
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            return
        if self._reported.get(name) == mtime:
            return
        code = read_exit_file(path)
        if code is None:
            return
        self._reported[name] = mtime
        self.callback(name, code)

    def forget(self, container_id: str) -> None:
        """Let a new exit of a re-created container with the same id be reported again."""
        self._reported.pop(container_id, None)

    def _on_readable(self) -> None:
        while True:
            try:
                buf = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                return
            if not buf:
                return
            for _mask, name in parse_events(buf):
                self._report(name)

    def stop(self) -> None:
        if self._fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
