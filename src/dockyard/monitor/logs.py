"""Read the container log conmon writes (``k8s-file`` format) with json-file semantics.

One line per record::

    2026-11-29T00:31:00.409935878+00:00 stdout F hello

``F`` ends a line, ``P`` is a partial chunk (conmon's buffer filled before a
newline) continued by the next record of the same stream.  :class:`K8sLogParser`
is sans-I/O (bytes in, entries out); :func:`read_logs` adds the file handling:
``--tail`` (counted over both streams, like Docker), ``--since``/``--until``,
stream selection and ``--follow`` until the container exits (``stop_event``)
and the file is drained, surviving a rotation (new inode) or truncation.
"""

from __future__ import annotations

import asyncio
import calendar
import os
from dataclasses import dataclass
from typing import AsyncIterator

from dockyard.errors import os_error

STDOUT = 1
STDERR = 2
_STREAMS = {b"stdout": STDOUT, b"stderr": STDERR}
_POLL = 0.1


@dataclass(frozen=True)
class LogEntry:
    time_ns: int
    stream: int  # 1 stdout, 2 stderr
    data: bytes


def parse_timestamp(ts: bytes) -> int:
    """RFC 3339 with nanoseconds and a numeric offset (or Z) → ns since the epoch."""
    s = ts.decode("ascii")
    date, _, rest = s.partition("T")
    if not rest:
        raise ValueError(f"bad timestamp {s!r}")
    if rest.endswith("Z"):
        clock, offset = rest[:-1], 0
    else:
        cut = max(rest.rfind("+"), rest.rfind("-"))
        if cut <= 0:
            raise ValueError(f"bad timestamp {s!r}")
        clock, off = rest[:cut], rest[cut:]
        oh, _, om = off[1:].partition(":")
        offset = (int(oh) * 3600 + int(om or 0) * 60) * (1 if off[0] == "+" else -1)
    hms, _, frac = clock.partition(".")
    y, mo, d = (int(x) for x in date.split("-"))
    h, mi, sec = (int(x) for x in hms.split(":"))
    seconds = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) - offset
    return seconds * 10**9 + int((frac + "000000000")[:9] or 0)


def format_timestamp(time_ns: int) -> str:
    """RFC 3339 with nanoseconds in UTC, as Docker prints for ``logs -t``."""
    import time
    sec, ns = divmod(time_ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{ns:09d}Z"


class K8sLogParser:
    """Feed raw log bytes; get complete entries.  Partial (P) records are joined per stream."""

    def __init__(self) -> None:
        self._buf = b""
        self._pending: dict[int, tuple[int, bytearray]] = {}

    def feed(self, data: bytes) -> list[LogEntry]:
        self._buf += data
        out: list[LogEntry] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            line, self._buf = self._buf[:nl], self._buf[nl + 1:]
            entry = self._line(line)
            if entry is not None:
                out.append(entry)
        return out

    def _line(self, line: bytes) -> LogEntry | None:
        parts = line.split(b" ", 3)
        if len(parts) < 3 or parts[1] not in _STREAMS:
            return None  # not a record (corrupt or foreign line): skip it
        try:
            t = parse_timestamp(parts[0])
        except ValueError:
            return None
        stream = _STREAMS[parts[1]]
        tag = parts[2].split(b",")  # conmon may add more flags after P/F
        data = parts[3] if len(parts) > 3 else b""
        if b"P" in tag:
            start, buf = self._pending.setdefault(stream, (t, bytearray()))
            buf += data
            return None
        pending = self._pending.pop(stream, None)
        if pending is not None:
            start, buf = pending
            return LogEntry(start, stream, bytes(buf) + data + b"\n")
        return LogEntry(t, stream, data + b"\n")

    def flush(self) -> list[LogEntry]:
        """Partial records still waiting for their end (the container stopped mid-line)."""
        out = [LogEntry(t, s, bytes(b)) for s, (t, b) in self._pending.items() if b]
        self._pending.clear()
        out.sort(key=lambda e: e.time_ns)
        return out


def _keep(e: LogEntry, stdout: bool, stderr: bool, since_ns: int, until_ns: int) -> bool:
    if e.stream == STDOUT and not stdout or e.stream == STDERR and not stderr:
        return False
    if since_ns and e.time_ns < since_ns:
        return False
    return not (until_ns and e.time_ns > until_ns)


# descriptors are not inherited anyway (PEP 446); O_BINARY: no newline translation on Windows
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _pread(fd: int, size: int, pos: int) -> bytes:
    """``pread`` from seek and read: Windows has no ``os.pread``, and the descriptor is this reader's own."""
    os.lseek(fd, pos, os.SEEK_SET)
    return os.read(fd, size)


def _tail_offset(fd: int, size: int, tail: int) -> int:
    """Offset of the line starting the last ``tail`` complete (F) records."""
    if tail == 0:
        return size
    block = 65536
    pos = size
    data = b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        data = _pread(fd, step, pos) + data
        lines = data.split(b"\n")
        # lines[0] may be cut; count complete records after it
        finals = 0
        later: set[bytes] = set()  # streams with a record after this one
        first = 0 if pos == 0 else 1
        for idx in range(len(lines) - 1, first - 1, -1):
            fields = lines[idx].split(b" ", 3)
            if len(fields) < 3:
                continue
            # a record ends a line if F, or if it is a stream's unterminated last chunk
            ends = b"F" in fields[2].split(b",") or fields[1] not in later
            later.add(fields[1])
            if ends:
                finals += 1
                if finals > tail:
                    # start right after this record's line
                    return pos + len(b"\n".join(lines[:idx + 1])) + 1
    return 0


async def read_logs(path: str, *, stdout: bool = True, stderr: bool = True, since_ns: int = 0,
                    until_ns: int = 0, tail: int = -1, follow: bool = False,
                    stop_event: asyncio.Event | None = None) -> AsyncIterator[LogEntry]:
    """Yield log entries of a conmon k8s-file log with ``docker logs`` semantics.

    ``tail`` < 0 means all.  With ``follow`` the reader keeps waiting for new
    records until ``stop_event`` is set (the container exited: conmon has
    written everything by then) and the file is drained, or ``until_ns`` passed.
    """
    parser = K8sLogParser()
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        if not follow:
            return
        fd = -1
    except OSError as exc:
        raise os_error("open log", path, exc) from None
    try:
        if fd >= 0:
            size = os.fstat(fd).st_size
            pos = _tail_offset(fd, size, tail) if tail >= 0 else 0
        else:
            pos = 0
        while True:
            if fd < 0:
                try:
                    fd = os.open(path, _OPEN_FLAGS)
                    pos = 0
                except FileNotFoundError:
                    fd = -1
            progressed = False
            if fd >= 0:
                while True:
                    chunk = _pread(fd, 1 << 16, pos)
                    if not chunk:
                        break
                    pos += len(chunk)
                    progressed = True
                    for e in parser.feed(chunk):
                        if until_ns and e.time_ns > until_ns:
                            return
                        if _keep(e, stdout, stderr, since_ns, until_ns):
                            yield e
            if not follow:
                break
            if not progressed:
                # rotation (a new file at path) or truncation: continue from the start
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    st = None
                if fd >= 0 and st is not None:
                    cur = os.fstat(fd)
                    if (st.st_ino, st.st_dev) != (cur.st_ino, cur.st_dev):
                        os.close(fd)
                        fd = os.open(path, _OPEN_FLAGS)
                        pos = 0
                        continue
                    if cur.st_size < pos:
                        pos = 0
                        continue
                if stop_event is not None and stop_event.is_set():
                    # one last pass happened above with nothing new: drained
                    break
                if until_ns and _now_ns() > until_ns:
                    break
                waiter = asyncio.ensure_future(stop_event.wait()) if stop_event is not None else None
                try:
                    if waiter is not None:
                        await asyncio.wait([waiter], timeout=_POLL)
                    else:
                        await asyncio.sleep(_POLL)
                finally:
                    if waiter is not None and not waiter.done():
                        waiter.cancel()
        for e in parser.flush():
            if _keep(e, stdout, stderr, since_ns, until_ns):
                yield e
    finally:
        if fd >= 0:
            os.close(fd)


def _now_ns() -> int:
    import time
    return time.time_ns()
