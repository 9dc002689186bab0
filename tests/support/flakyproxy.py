"""A loopback HTTP proxy in front of a registry that misbehaves on blob downloads (tests only).

``mode`` says what a ``GET …/blobs/sha256:…`` gets: ``ok`` (forwarded),
``error`` (500, ``budget`` times, then forwarded; -1 = always), ``close``
(headers and half the body, then the connection is closed), ``hang`` (headers
and half the body, then nothing), ``slow`` (the body in 16 KiB pieces, ``delay``
seconds apart).  Every other request is forwarded as is.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import time


class FlakyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "ok"
        self.budget = -1
        self.delay = 0.05
        self.blob_requests = 0
        self._stop = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                return resp.status, resp.getheaders(), data

            def _send(self, status: int, headers: list[tuple[str, str]], data: bytes, head: bool) -> None:
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def handle_one(self, head: bool) -> None:
                is_blob = "/blobs/sha256:" in self.path and self.command == "GET"
                status, headers, data = self._forward()
                if not is_blob or proxy.mode == "ok" or status != 200:
                    self._send(status, headers, data, head)
                    return
                proxy.blob_requests += 1
                if proxy.mode == "error":
                    if proxy.budget != 0:
                        proxy.budget -= 1 if proxy.budget > 0 else 0
                        self._send(500, [("Content-Type", "text/plain")], b"injected failure\n", head)
                        return
                    self._send(status, headers, data, head)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if proxy.mode == "slow":
                    for i in range(0, len(data), 16384):
                        if proxy._stop.is_set():
                            return
                        self.wfile.write(data[i:i + 16384])
                        self.wfile.flush()
                        time.sleep(proxy.delay)
                    return
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                if proxy.mode == "hang":
                    proxy._stop.wait(120)
                self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802
                self.handle_one(False)

            def do_HEAD(self) -> None:  # noqa: N802
                self.handle_one(True)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
