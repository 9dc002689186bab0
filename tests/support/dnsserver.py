"""A tiny authoritative DNS server for tests (stdlib only): fixed A records over UDP.

It stands in for "the host's resolvers" or a container's ``--dns`` server, so
that forwarding can be proven offline: it answers the names it was given and
NXDOMAIN for the rest, and records every question it saw.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator
from types import TracebackType

from dockyard.network.dnswire import parse_question, parse_reply, query


def answer(packet: bytes, records: dict[str, str]) -> bytes:
    """The reply to ``packet``: A records from ``records``; NOERROR without answers for other types."""
    qid, name, qtype, end = parse_question(packet)
    question = packet[12:end]
    flags = packet[2] & 0x01  # keep RD
    if name not in records:
        return struct.pack("!HBBHHHH", qid, 0x84 | flags, 0x83, 1, 0, 0, 0) + question  # NXDOMAIN
    answers = b""
    if qtype == 1:
        answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(records[name])
    return struct.pack("!HBBHHHH", qid, 0x84 | flags, 0x80, 1, 1 if answers else 0, 0, 0) + question + answers


def ask(ip: str, name: str, port: int = 53, timeout: float = 3) -> tuple[int, list[str]] | str:
    """One A question, asked once (no retry, unlike a resolver): (rcode, addresses), or what went wrong."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((ip, port))
        s.settimeout(timeout)
        s.send(query(4242, name))
        try:
            _qid, rcode, addrs = parse_reply(s.recv(4096))
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        return rcode, addrs


def bound_socket(ip: str, port: int) -> str | None:
    """The inode of the UDP socket bound to ip:port (a reload closes it and binds a new one)."""
    local = f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local:
                return fields[9]
    return None


@contextlib.contextmanager
def frozen(pid: int, seconds: float) -> Iterator[None]:
    """SIGSTOP ``pid`` (a process the test's own daemon started) for ``seconds``, as if it were very slow."""
    os.kill(pid, signal.SIGSTOP)
    thaw = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    thaw.start()
    try:
        yield
    except BaseException:
        thaw.cancel()
        os.kill(pid, signal.SIGCONT)
        raise
    thaw.join()


class DNSServer:
    """``with DNSServer(ip, {"some.name": "203.0.113.7"}) as s:`` serves on ``ip``:53 in a thread."""

    def __init__(self, ip: str, records: dict[str, str], port: int = 53) -> None:
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.settimeout(0.2)
        self.seen: list[tuple[str, str]] = []  # (client address, name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            try:
                self.seen.append((peer[0], parse_question(packet)[1]))
                self.sock.sendto(answer(packet, self.records), peer)
            except (IndexError, struct.error, OSError):
                continue  # not a query we understand: dropped

    def __enter__(self) -> "DNSServer":
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
