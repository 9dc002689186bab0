"""DNS between containers on user networks: aardvark-dns, one per daemon.

aardvark-dns (Debian, the resolver podman uses) reads one file per network
from its config directory: the first line is the addresses it listens on
(the network's gateway), each following line one container (id, IPv4, IPv6,
names, and the upstream servers for that container's other names).  It looks a
name up in every file the asking address belongs to (membership is by
container id), and forwards everything else to the container's upstream
servers, or to the host's resolvers when it has none.  It daemonizes itself and
outlives dockyardd, like the containers; SIGHUP makes it re-read the files.
:func:`render_network` and :func:`render_links` are sans-I/O.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import SystemError_

_BAD_NAME = re.compile(r"[\s,]")
NO_LISTEN = "240.0.0.1"  # reserved (RFC 1112 class E): never a host's address
AARDVARK_CANDIDATES = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns")


@dataclass(frozen=True)
class Record:
    """One container on one network: its addresses and every name it answers to."""

    container_id: str
    ipv4: str
    names: tuple[str, ...]
    ipv6: str = ""  # on an EnableIPv6 network: aardvark answers AAAA queries with it
    dns_servers: tuple[str, ...] = ()  # --dns (or the daemon's "dns"): where its other names go


def _names(names: Iterable[str]) -> str:
    """The comma-separated names field; a name with a space or comma would break the line's format."""
    return ",".join(dict.fromkeys(n.lower() for n in names if n and not _BAD_NAME.search(n)))


def render_network(gateway: str, records: list[Record]) -> str:
    lines = [gateway]
    for r in records:
        line = f"{r.container_id} {r.ipv4} {r.ipv6} {_names(r.names)}"  # four fields, even empty ones
        lines.append(line + (" " + ",".join(r.dns_servers) if r.dns_servers else ""))
    return "\n".join(lines) + "\n"


def find_record(records: list[Record], name: str) -> Record | None:
    """The container that ``name`` (its name, an alias, or its id or an id prefix of 12+) means on the network."""
    name = name.lower()
    return next((r for r in records if name in (n.lower() for n in r.names)
                 or (len(name) >= 12 and r.container_id.startswith(name))), None)


def render_links(linker_id: str, targets: list[tuple[str, Record]]) -> str:
    """A pseudo-network that gives one container the aliases of its links (``--link target:alias``).

    Docker's links on a user network are container-scoped names.  aardvark has no
    such thing, but it looks names up in every file the asking container belongs
    to: this file makes the linking container a member (a line with its id and
    no address, so it answers nothing) and names each target's addresses with its
    alias.  The target's address becomes a member too (aardvark keys membership
    by address): it also resolves the alias, to itself.

    Every file needs an address to listen on, and a server answers names of its
    own file to anyone its lookup fails for: this one must never get a socket, so
    it "listens" on a reserved address no host has (its bind fails, aardvark logs
    it and serves the rest).
    """
    lines = [NO_LISTEN, f"{linker_id}   "]
    for i, (alias, r) in enumerate(targets):
        names = _names([alias])
        if names:
            lines.append(f"{linker_id[:12]}-link{i} {r.ipv4} {r.ipv6} {names}")
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
