"""Debian's docker-registry (Distribution 2.8) on a loopback port, for tests and benchmarks.

Anonymous by default; ``htpasswd`` (a path to a bcrypt htpasswd file) turns on
basic auth, ``token`` (realm, service, issuer, a PEM certificate bundle) turns
on the bearer-token flow.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    root: str
    port: int
    auth: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def config_text(self) -> str:
        lines = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
                 f"    rootdirectory: {self.root}/data", "  delete:", "    enabled: true",
                 "http:", f"  addr: 127.0.0.1:{self.port}", "  headers:",
                 "    X-Content-Type-Options: [nosniff]"]
        if "tls" in self.auth:  # (certificate path, key path)
            cert, key = self.auth["tls"]
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if "htpasswd" in self.auth:
            lines += ["auth:", "  htpasswd:", "    realm: dockyard-test", f"    path: {self.auth['htpasswd']}"]
        elif "token" in self.auth:
            t = self.auth["token"]
            lines += ["auth:", "  token:", f"    realm: {t['realm']}", f"    service: {t['service']}",
                      f"    issuer: {t['issuer']}", f"    rootcertbundle: {t['rootcertbundle']}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15) -> None:
        os.makedirs(os.path.join(self.root, "data"), exist_ok=True)
        cfg = os.path.join(self.root, "config.yml")
        with open(cfg, "w") as f:
            f.write(self.config_text())
        log = open(os.path.join(self.root, "registry.log"), "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited {self.proc.returncode}: {self.log()}")
            try:
                if "tls" in self.auth:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # 401: up, with auth
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not answer within {timeout}s: {self.log()}")

    def log(self) -> str:
        try:
            with open(os.path.join(self.root, "registry.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def new_registry(**auth: Any) -> Registry:
    root = tempfile.mkdtemp(prefix="dyreg-", dir="/tmp")
    return Registry(root=root, port=free_port(), auth=auth)

