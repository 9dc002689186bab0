"""DNS between containers on user networks: aardvark-dns, one per daemon.

aardvark-dns (Debian, the resolver podman uses) reads one file per network
from its config directory: the first line is the addresses it listens on
(the network's gateway), each following line one container (id, IPv4, IPv6,
names, and the upstream servers for that container's other names).  It looks a
name up in every file the asking address belongs to (membership is by
container id), and forwards everything else to the container's upstream
servers, or to the host's resolvers when it has none.  It daemonizes itself and
outlives dockyardd, like the containers; SIGHUP makes it re-read the files.
:func:`render_network`, :func:`render_links` and :func:`probe` are sans-I/O.

A reload is asynchronous and, in aardvark 1.4, closes every socket before it
parses the files and binds again: for that moment queries are refused.  So
:meth:`Aardvark.update` only signals when a file changed, and returns once
aardvark answers a question whose answer the change altered (see
``docs/decisions.md``, "DNS updates are synchronous").
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import SystemError_
from dockyard.network import dnswire

log = logging.getLogger("dockyard.networks")

_BAD_NAME = re.compile(r"[\s,]")
_ASKABLE = re.compile(r"(?=.{1,253}$)[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")  # a name a DNS question can carry
NO_LISTEN = "240.0.0.1"  # reserved (RFC 1112 class E): never a host's address
# the upstream of a container on an --internal network: no route leads there, so aardvark's
# forward fails at once (SERVFAIL) and no question leaves the machine (as Docker's resolver,
# which forwards from the container's own namespace, where an internal network has no way out)
NO_UPSTREAM = (NO_LISTEN,)
AARDVARK_CANDIDATES = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns")
SERVE_TIMEOUT = 5.0  # seconds a change may take to be served (a client's resolver waits as long: glibc's default)
UNANSWERED_TIMEOUT = 0.25  # the same, on an address whose last wait ran out: a stuck aardvark costs 5 s once


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


@dataclass(frozen=True)
class Probe:
    """A question to aardvark whose answer tells whether it serves a file's new version."""

    listen: str  # the network's DNS address (its gateway)
    name: str
    want: frozenset[str]  # the IPv4 addresses it must answer; empty: NXDOMAIN
    gone: bool = False  # the file is gone: nothing listening on ``listen`` is fine too


def served_names(text: str) -> tuple[str, dict[str, frozenset[str]]]:
    """(listen address, name -> IPv4 addresses) of one network file, as aardvark 1.4 reads it."""
    lines = [ln for ln in text.split("\n") if ln]
    if not lines:
        return "", {}
    names: dict[str, set[str]] = {}
    for line in lines[1:]:
        parts = line.split(" ")
        if len(parts) < 4:
            continue
        for name in parts[3].split(","):
            names.setdefault(name.lower(), set()).update(a for a in parts[1].split(",") if a)
    return lines[0].split(" ")[0], {n: frozenset(a) for n, a in names.items() if n}


def probe(old: str, new: str) -> Probe | None:
    """The question that tells ``new`` (a network file's text, "" when removed) from ``old``.

    Every file is parsed in one go at a reload, so one name per file is enough:
    one whose answer differs, preferably a name that must now resolve.  A name
    that must stop resolving is only asked when it is a single label: aardvark
    answers those itself (NXDOMAIN) and forwards the others.  Names no question
    can carry (a label over 63 bytes, a trailing dot: Docker allows both in
    container names and aliases) are passed over.  None when no answer
    differs (only the upstream servers changed) or nobody can ask (a links file,
    which listens on no address).
    """
    old_listen, old_names = served_names(old)
    new_listen, new_names = served_names(new)
    listen = new_listen or old_listen
    if not listen or listen == NO_LISTEN:
        return None
    empty: frozenset[str] = frozenset()
    differ = sorted(n for n in set(old_names) | set(new_names) if old_names.get(n, empty) != new_names.get(n, empty))
    for name in sorted(differ, key=lambda n: (not new_names.get(n), "." in n)):
        want = new_names.get(name, empty)
        if _ASKABLE.fullmatch(name) and (want or "." not in name):
            return Probe(listen, name, want, gone=not new)
    return None


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
        self._lock = threading.Lock()  # one update at a time: each waits for the reload its SIGHUP asked for
        self._unanswered: set[str] = set()  # listen addresses whose last wait ran out

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

    def _files(self) -> dict[str, str]:
        """The network files as they are now (what aardvark serves once its last reload is done)."""
        out = {}
        for name in os.listdir(self.config_dir):
            if not name.startswith("aardvark") and not name.endswith(".tmp"):
                try:
                    with open(os.path.join(self.config_dir, name), encoding="utf-8") as f:
                        out[name] = f.read()
                except OSError:
                    continue
        return out

    def update(self, networks: dict[str, str]) -> None:
        """Write ``networks`` (name → file text), drop the others; return once aardvark serves them.

        Nothing changed: no signal (a reload makes aardvark 1.4 refuse queries for
        a moment).  Otherwise SIGHUP (or start it) and ask it, for each changed
        network, a name whose answer the change altered, until it answers as the
        new file says, for at most SERVE_TIMEOUT seconds (then a warning, and the
        caller goes on: a slow DNS must not fail a container's start; until that
        address answers again, later waits on it are UNANSWERED_TIMEOUT short).
        """
        os.makedirs(self.config_dir, mode=0o700, exist_ok=True)
        with self._lock:
            pid = self._pid()
            old = self._files() if pid is not None else {}  # not running: it serves nothing yet
            changed = [n for n in sorted(set(old) | set(networks)) if old.get(n) != networks.get(n)]
            if pid is not None and not changed:
                return
            for name in os.listdir(self.config_dir):
                if name not in networks and not name.startswith("aardvark"):
                    os.unlink(os.path.join(self.config_dir, name))
            for name, text in networks.items():
                path = os.path.join(self.config_dir, name)
                with open(path + ".tmp", "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(path + ".tmp", path)
            if not networks:
                if pid is not None:
                    os.kill(pid, signal.SIGTERM)
                return
            if pid is not None:
                os.kill(pid, signal.SIGHUP)
            else:
                self._start()
            probes = [p for n in changed if (p := probe(old.get(n, ""), networks.get(n, ""))) is not None]
            self._wait_served(probes)

    def _start(self) -> None:
        if self.binary is None:
            raise SystemError_("aardvark-dns is not installed (Debian package aardvark-dns): "
                               "DNS on user-defined networks needs it")
        # it daemonizes: its child keeps stdout/stderr, so those go to a file, not a pipe we would wait on
        log_path = os.path.join(os.path.dirname(self.config_dir), "aardvark.log")
        with open(log_path, "ab") as log_file:
            proc = subprocess.run([self.binary, "--config", self.config_dir, "-p", str(self.port), "run"],
                                  stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        if proc.returncode != 0:
            with open(log_path, "rb") as f:
                tail = f.read()[-500:].decode(errors="replace").strip()
            raise SystemError_(f"aardvark-dns exited {proc.returncode}: {tail}")

    def _wait_served(self, probes: list[Probe]) -> None:
        start = time.monotonic()
        for p in probes:
            timeout = UNANSWERED_TIMEOUT if p.listen in self._unanswered else SERVE_TIMEOUT
            outcome = self._ask_until(p, min(start + SERVE_TIMEOUT, time.monotonic() + timeout))
            if not outcome:
                self._unanswered.discard(p.listen)
                log.debug("aardvark-dns answers %r on %s as its new files say after %.1f ms", p.name, p.listen,
                          (time.monotonic() - start) * 1000)
                continue
            if p.listen not in self._unanswered:  # once: the next waits on it are short until it answers
                log.warning("aardvark-dns (%s) did not answer %r on %s with %s within %gs (%s): containers may "
                            "not resolve the change yet", self.config_dir, p.name, p.listen,
                            sorted(p.want) or "NXDOMAIN", timeout, outcome)
            else:
                log.debug("aardvark-dns still does not answer on %s (%s)", p.listen, outcome)
            self._unanswered.add(p.listen)

    def _ask_until(self, p: Probe, deadline: float) -> str:
        """Ask aardvark for ``p.name`` until it answers ``p.want``: "" once it does, else what it did last.

        The question goes to the network's address from the host's side, so its
        source is that same address, which is no container's: aardvark then
        answers from the names of the network it listens for (see coredns.rs).
        """
        pause, wait, last = 0.001, 0.002, "no answer"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((p.listen, self.port))  # connected: a closed port comes back as ECONNREFUSED
            while time.monotonic() < deadline:
                try:
                    s.send(dnswire.query(secrets.randbits(16), p.name))
                    s.settimeout(max(0.001, min(wait, deadline - time.monotonic())))
                    # any reply will do, also one to an earlier question (queued while aardvark was
                    # busy): it says what aardvark served when it answered
                    _rid, rcode, addrs = dnswire.parse_reply(s.recv(4096))
                    if frozenset(addrs) == p.want if p.want else rcode == dnswire.RCODE_NXDOMAIN or not addrs:
                        return ""
                    last = "answered " + (", ".join(addrs) or ("NXDOMAIN" if rcode == dnswire.RCODE_NXDOMAIN
                                                               else f"rcode {rcode}"))
                except ConnectionRefusedError:  # between two reloads' sockets, or not started yet
                    if p.gone:
                        return ""
                    last = "refused"
                    if self._pid() is None:
                        return "aardvark-dns is not running"
                except (TimeoutError, ValueError):  # lost with a socket a reload closed, or aardvark is busy
                    last, wait = "no answer", min(wait * 2, 0.2)
                    continue
                except OSError as exc:
                    return str(exc)
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
        return last

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
