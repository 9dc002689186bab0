"""The container's stdout and stderr written to a log file by the supervisor.

On Linux conmon holds the container's pipes and writes its log; a Windows
engine has no conmon, and the supervisor is already the process that outlives
both the runtime command and the engine.  So with ``create --log-path FILE``
the supervisor makes two pipes, gives their write ends to the container
(stdin is ``NUL``), and copies what arrives into FILE in conmon's
``k8s-file`` format — one record per line, ``F`` for a full line, ``P`` for
a chunk that ends without a newline — which the engine's log reader
(``dockyard.monitor.logs``) already reads: ``docker logs`` keeps stdout and
stderr apart, ``-f`` follows, and the log survives an engine restart.

``records`` is pure (bytes in, bytes out) and unit-tested on Linux.
"""

from __future__ import annotations

import os
import threading
import time


def timestamp(time_ns: int) -> bytes:
    sec, ns = divmod(time_ns, 10**9)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{ns:09d}Z").encode()


def records(stream: bytes, chunk: bytes, time_ns: int) -> bytes:
    """``chunk`` read from ``stream`` (b"stdout"/b"stderr") as k8s-file records."""
    ts = timestamp(time_ns)
    lines = chunk.split(b"\n")
    out = [b"%s %s F %s\n" % (ts, stream, line) for line in lines[:-1]]
    if lines[-1]:
        out.append(b"%s %s P %s\n" % (ts, stream, lines[-1]))
    return b"".join(out)


class ContainerLog:
    """Two pipes and the threads that copy them into the log file."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "ab", buffering=0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.stdin = os.open(os.devnull, os.O_RDONLY)
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()

    def child_handles(self) -> tuple[int, int, int]:
        """The Win32 handles the container gets as stdin, stdout and stderr."""
        import msvcrt

        return tuple(msvcrt.get_osfhandle(fd) for fd in (self.stdin, self.out_w, self.err_w))  # type: ignore[return-value]

    def start(self) -> None:
        """Once the container holds its copies: drop ours (EOF comes when its last writer ends) and copy."""
        for fd in (self.stdin, self.out_w, self.err_w):
            os.close(fd)
        self.stdin = self.out_w = self.err_w = -1
        for fd, name in ((self.out_r, b"stdout"), (self.err_r, b"stderr")):
            t = threading.Thread(target=self._pump, args=(fd, name), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, fd: int, stream: bytes) -> None:
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the pipe broke: same as its end
                    chunk = b""
                if not chunk:
                    return
                data = records(stream, chunk, time.time_ns())
                with self._lock:
                    self.file.write(data)
        finally:
            os.close(fd)

    def close(self, timeout: float = 10.0) -> None:
        """Wait for both pipes to end (the job is gone, so every writer is), then close the file."""
        for t in self._threads:
            t.join(timeout)
        for fd in (self.stdin, self.out_w, self.err_w):
            if fd >= 0:
                os.close(fd)
        if not self._threads:
            for fd in (self.out_r, self.err_r):
                os.close(fd)
        self.file.close()
