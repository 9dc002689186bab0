"""``userns-remap``: container root as an unprivileged host uid, as dockerd does it.

``userns-remap: "default"`` makes (once) the ``dockremap`` user and group and
gives them a 65536-id range in /etc/subuid and /etc/subgid; a user name (or
``user:group``, names or numbers) uses that user's existing ranges.  The ranges
become the containers' uid/gid maps; the daemon keeps its images and
containers in ``<data-root>/<uid>.<gid>``, Docker's layout, so a daemon with
remapping and one without never share files whose owners mean different things.

Image layers stay owned by host root on disk and are shared: each remapped
container's overlay gets them through idmapped mounts (``image/overlay.py``),
which needs one user namespace with the maps: :meth:`Remap.userns_fd` makes it
once per daemon.  The parsing here is sans-I/O; :func:`setup` does the I/O.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidParameter

DEFAULT_USER = "dockremap"
RANGE_SIZE = 65536
FIRST_ID = 100000


@dataclass(frozen=True)
class IDMap:
    container_id: int
    host_id: int
    size: int

    def oci(self) -> dict[str, int]:
        return {"containerID": self.container_id, "hostID": self.host_id, "size": self.size}


def parse_subid(text: str, name: str, ident: int | None) -> list[tuple[int, int]]:
    """The (start, count) ranges /etc/subuid or /etc/subgid gives ``name`` (or its number)."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) != 3 or line.lstrip().startswith("#"):
            continue
        owner, start, count = parts
        if owner == name or (ident is not None and owner == str(ident)):
            if start.isdigit() and count.isdigit() and int(count) > 0:
                out.append((int(start), int(count)))
    return sorted(out)


def to_maps(ranges: list[tuple[int, int]]) -> list[IDMap]:
    """Consecutive container ids over the host ranges, in order (dockerd's ``createIDMap``)."""
    maps, next_id = [], 0
    for start, count in ranges:
        maps.append(IDMap(next_id, start, count))
        next_id += count
    return maps


def next_free_start(*texts: str) -> int:
    """The first id from 100000 up that no range in the given subid files covers."""
    end = FIRST_ID
    for text in texts:
        for line in text.splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    return end


@dataclass
class Remap:
    """The daemon's remapping: its maps, and (made on demand) a user namespace holding them."""

    user: str
    uid_maps: list[IDMap]
    gid_maps: list[IDMap]
    _userns_fd: int | None = field(default=None, repr=False)

    @property
    def root_uid(self) -> int:
        return next(m.host_id for m in self.uid_maps if m.container_id == 0)

    @property
    def root_gid(self) -> int:
        return next(m.host_id for m in self.gid_maps if m.container_id == 0)

    def map_uid(self, uid: int) -> int:
        """The host uid of a container uid (what owns its files on the host)."""
        for m in self.uid_maps:
            if m.container_id <= uid < m.container_id + m.size:
                return m.host_id + uid - m.container_id
        return 65534

    def map_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """The host (uid, gid) of a container's (uid, gid)."""
        host_gid = 65534
        for m in self.gid_maps:
            if m.container_id <= gid < m.container_id + m.size:
                host_gid = m.host_id + gid - m.container_id
        return self.map_uid(uid), host_gid

    def unmap_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """The container's (uid, gid) of host ids; ids outside the range are nobody's (65534)."""
        def back(maps: list[IDMap], ident: int) -> int:
            for m in maps:
                if m.host_id <= ident < m.host_id + m.size:
                    return m.container_id + ident - m.host_id
            return 65534
        return back(self.uid_maps, uid), back(self.gid_maps, gid)

    def userns_fd(self) -> int:
        """An fd of a user namespace with these maps, for idmapped mounts; made once.

        A short-lived ``unshare --user`` child creates the namespace; we write its
        maps and keep an fd, which keeps the namespace after the child is gone.
        """
        if self._userns_fd is not None:
            return self._userns_fd
        child = subprocess.Popen(["unshare", "--user", "sleep", "60"], stdin=subprocess.DEVNULL)
        try:
            own = os.readlink("/proc/self/ns/user")
            deadline = time.monotonic() + 5
            while os.readlink(f"/proc/{child.pid}/ns/user") == own:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise InvalidParameter("userns-remap: could not create a user namespace (unshare --user)")
                time.sleep(0.001)
            _write(f"/proc/{child.pid}/uid_map", _map_text(self.uid_maps))
            _write(f"/proc/{child.pid}/setgroups", "deny")
            _write(f"/proc/{child.pid}/gid_map", _map_text(self.gid_maps))
            self._userns_fd = os.open(f"/proc/{child.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            child.kill()
            child.wait()
        return self._userns_fd

    def close(self) -> None:
        if self._userns_fd is not None:
            os.close(self._userns_fd)
            self._userns_fd = None


def remap_of(c: Any, cfg: Any) -> Remap | None:
    """The daemon's remapping for container ``c``, or None (no remapping, or ``--userns host``)."""
    remap = getattr(cfg, "remap", None)
    return remap if remap is not None and (c.HostConfig.get("UsernsMode") or "") != "host" else None


def _map_text(maps: list[IDMap]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _ensure_default_user(subuid: str, subgid: str) -> None:
    """dockerd's ``default``: the dockremap user and group, and a free 65536-id range for each."""
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        _run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", DEFAULT_USER])
    uid = pwd.getpwnam(DEFAULT_USER).pw_uid
    gid = grp.getgrnam(DEFAULT_USER).gr_gid
    if not parse_subid(_read(subuid), DEFAULT_USER, uid) or not parse_subid(_read(subgid), DEFAULT_USER, gid):
        start = next_free_start(_read(subuid), _read(subgid))
        span = f"{start}-{start + RANGE_SIZE - 1}"
        _run(["usermod", "--add-subuids", span, "--add-subgids", span, DEFAULT_USER])


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InvalidParameter(f"userns-remap: {' '.join(argv)} failed: {proc.stderr.strip() or proc.returncode}")


def setup(setting: str, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid") -> Remap:
    """The remapping ``setting`` names (``default``, ``user``, ``user:group``), making dockremap if asked."""
    user, _, group = setting.partition(":")
    if user == "default":
        if group:
            raise InvalidParameter("userns-remap: \"default\" takes no group")
        _ensure_default_user(subuid, subgid)
        user = group = DEFAULT_USER
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise InvalidParameter(f"userns-remap: no such user {user!r}") from None
    try:
        gr = (grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)) if group else \
            grp.getgrgid(pw.pw_gid)
    except KeyError:
        raise InvalidParameter(f"userns-remap: no such group {group!r}") from None
    uids = parse_subid(_read(subuid), pw.pw_name, pw.pw_uid)
    gids = parse_subid(_read(subgid), gr.gr_name, gr.gr_gid)
    if not uids:
        raise InvalidParameter(f"userns-remap: no subordinate uid range for user {pw.pw_name} in {subuid}")
    if not gids:
        raise InvalidParameter(f"userns-remap: no subordinate gid range for group {gr.gr_name} in {subgid}")
    return Remap(pw.pw_name, to_maps(uids), to_maps(gids))


def remapped_root(data_root: str, remap: Remap) -> str:
    """``<data-root>/<uid>.<gid>``, made traversable by the remapped root (0711, as dockerd).

    Every parent must let "others" through too: the container's own root
    (an unprivileged uid on the host) walks this path to its rootfs.
    """
    path = os.path.join(data_root, f"{remap.root_uid}.{remap.root_gid}")
    os.makedirs(path, mode=0o711, exist_ok=True)
    os.chmod(path, 0o711)
    probe = path
    while probe not in ("/", ""):
        if not os.stat(probe).st_mode & 0o001:
            raise InvalidParameter(f"userns-remap: {probe} is not traversable by the remapped root "
                                   f"(uid {remap.root_uid}): give it o+x (e.g. chmod 711 {probe})")
        probe = os.path.dirname(probe)
    return path
