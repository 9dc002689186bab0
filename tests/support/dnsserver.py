"""A tiny authoritative DNS server for tests (stdlib only): fixed A records over UDP.

It stands in for "the host's resolvers" or a container's ``--dns`` server, so
that forwarding can be proven offline: it answers the names it was given and
NXDOMAIN for the rest, and records every question it saw.
"""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType


def parse_question(packet: bytes) -> tuple[int, str, int]:
    """(id, name, qtype) of a query's first question."""
    qid = struct.unpack("!H", packet[:2])[0]
    labels, pos = [], 12
    while packet[pos]:
        n = packet[pos]
        labels.append(packet[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    qtype = struct.unpack("!H", packet[pos + 1:pos + 3])[0]
    return qid, ".".join(labels).lower(), qtype


def answer(packet: bytes, records: dict[str, str]) -> bytes:
    """The reply to ``packet``: A records from ``records``; NOERROR without answers for other types."""
    qid, name, qtype = parse_question(packet)
    end = 12
    while packet[end]:
        end += 1 + packet[end]
    question = packet[12:end + 5]
    flags = packet[2] & 0x01  # keep RD
    if name not in records:
        return struct.pack("!HBBHHHH", qid, 0x84 | flags, 0x83, 1, 0, 0, 0) + question  # NXDOMAIN
    answers = b""
    if qtype == 1:
        answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(records[name])
    return struct.pack("!HBBHHHH", qid, 0x84 | flags, 0x80, 1, 1 if answers else 0, 0, 0) + question + answers


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
