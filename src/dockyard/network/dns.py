"""DNS between containers on user networks: aardvark-dns, one per daemon.

aardvark-dns (Debian, the resolver podman uses) reads one file per network
from its config directory: the first line is the addresses it listens on
(the network's gateway), each following line one container (id, IPv4, IPv6,
names).  It answers a name only to queries that arrive on that network's
gateway, and forwards everything else to the host's resolvers.  It
daemonizes itself and outlives dockyardd, like the containers; SIGHUP makes it
re-read the files.  :func:`render_network` is sans-I/O.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass

from dockyard.errors import SystemError_

AARDVARK_CANDIDATES = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns")


@dataclass(frozen=True)
class Record:
    """One container on one network: its addresses and every name it answers to."""

    container_id: str
    ipv4: str
    names: tuple[str, ...]
    ipv6: str = ""  # on an EnableIPv6 network: aardvark answers AAAA queries with it


def render_network(gateway: str, records: list[Record]) -> str:
    lines = [gateway]
    for r in records:
        names = ",".join(dict.fromkeys(n for n in r.names if n))
        lines.append(f"{r.container_id} {r.ipv4} {r.ipv6} {names}")
    return "\n".join(lines) + "\n"


def find_aardvark() -> str | None:
    for path in AARDVARK_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return None


class Aardvark:
    """The daemon's aardvark-dns process and its config directory."""

    def __init__(self, config_dir: str, binary: str | None, port: int = 53) -> None:
        self.config_dir = config_dir
        self.binary = binary
        self.port = port

    @property
    def pid_file(self) -> str:
        return os.path.join(self.config_dir, "aardvark.pid")

    def _pid(self) -> int | None:
        try:
            with open(self.pid_file, encoding="ascii") as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid <= 0:
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            return None
        return pid if b"aardvark" in cmd and self.config_dir.encode() in cmd else None

    def update(self, networks: dict[str, str]) -> None:
        """Write ``networks`` (name → file text), drop the others, and make aardvark serve them."""
        os.makedirs(self.config_dir, mode=0o700, exist_ok=True)
        wanted = set(networks)
        for name in os.listdir(self.config_dir):
            if name not in wanted and not name.startswith("aardvark"):
                os.unlink(os.path.join(self.config_dir, name))
        for name, text in networks.items():
            path = os.path.join(self.config_dir, name)
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
        pid = self._pid()
        if not networks:
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
            return
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
            return
        if self.binary is None:
            raise SystemError_("aardvark-dns is not installed (Debian package aardvark-dns): "
                               "DNS on user-defined networks needs it")
        # it daemonizes: its child keeps stdout/stderr, so those go to a file, not a pipe we would wait on
        log_path = os.path.join(os.path.dirname(self.config_dir), "aardvark.log")
        with open(log_path, "ab") as log:
            proc = subprocess.run([self.binary, "--config", self.config_dir, "-p", str(self.port), "run"],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if proc.returncode != 0:
            with open(log_path, "rb") as f:
                tail = f.read()[-500:].decode(errors="replace").strip()
            raise SystemError_(f"aardvark-dns exited {proc.returncode}: {tail}")

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
