"""A client's malformed HTTP gets Docker's 400 and costs the daemon no traceback in its log (found by the API fuzz)."""

from __future__ import annotations

import socket


def test_nul_in_a_header_is_a_400_without_a_traceback(dockyard_daemon):
    d = dockyard_daemon
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(d.socket)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Probe: \x00\r\n\r\n")
        answer = s.recv(4096)
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer
    assert d.request("GET", "/_ping")[0] == 200
    log = d.log()
    assert "Invalid header value char" in log  # at debug level, as one line
    assert "BadHttpMessage" not in log and "Traceback" not in log.split("Invalid header value char")[-1][:2000]
