"""DNS messages, as far as dockyard needs them: an A query and the A records of its reply.

Sans-I/O.  The daemon asks aardvark-dns for a name to learn whether a reload is
done (see :meth:`dockyard.network.dns.Aardvark.update`); nothing else here
speaks DNS, so a library (dnspython) would be a dependency for two functions.
"""

from __future__ import annotations

import socket
import struct

TYPE_A = 1
RCODE_NXDOMAIN = 3


def query(qid: int, name: str, qtype: int = TYPE_A) -> bytes:
    """A standard query (RD set) for ``name``."""
    labels = b"".join(bytes([len(part)]) + part.encode("ascii") for part in name.rstrip(".").split(".") if part)
    return struct.pack("!HHHHHH", qid & 0xFFFF, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", qtype, 1)


def parse_question(packet: bytes) -> tuple[int, str, int, int]:
    """(id, name, qtype, offset after the question) of a message's first question."""
    qid = struct.unpack("!H", packet[:2])[0]
    labels, pos = [], 12
    while packet[pos]:
        n = packet[pos]
        labels.append(packet[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    qtype = struct.unpack("!H", packet[pos + 1:pos + 3])[0]
    return qid, ".".join(labels).lower(), qtype, pos + 5


def _skip_name(packet: bytes, pos: int) -> int:
    """The offset after an owner name (labels, ending in a zero byte or a compression pointer)."""
    while True:
        n = packet[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + n


def parse_reply(packet: bytes) -> tuple[int, int, list[str]]:
    """(id, rcode, IPv4 addresses of the A records in the answer section) of a reply.

    Raises ValueError for a message that is not a well-formed reply.
    """
    try:
        qid, flags, qdcount, ancount = struct.unpack("!HHHH", packet[:8])
        if not flags & 0x8000:
            raise ValueError("not a reply")
        pos = 12
        for _ in range(qdcount):
            pos = _skip_name(packet, pos) + 4
        addrs = []
        for _ in range(ancount):
            pos = _skip_name(packet, pos)
            rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", packet[pos:pos + 10])
            pos += 10
            if rtype == TYPE_A and rdlen == 4:
                addrs.append(socket.inet_ntoa(packet[pos:pos + 4]))
            pos += rdlen
        if pos > len(packet):
            raise ValueError("truncated reply")
    except (IndexError, struct.error) as exc:
        raise ValueError(f"malformed DNS reply: {exc}") from None
    return qid, flags & 0x000F, addrs
