"""Resolve ``docker run -u user[:group]`` against the container's own /etc/passwd and /etc/group.

The files are read from the container's rootfs, which is untrusted: a symlink
there must never lead the daemon out of the rootfs.  :func:`secure_join`
resolves a path component by component the way runc's securejoin does, with
every symlink interpreted relative to the rootfs.  Parsing is sans-I/O
(:func:`parse_passwd`, :func:`parse_group`, :func:`lookup_user`) so it is tested
with strings.

Semantics follow runc's ``user.GetExecUser`` (which Docker uses):
``-u name`` must exist in passwd; ``-u 1234`` needs no entry (gid 0, home /);
``name:group`` / ``uid:gid`` likewise for the group; supplementary groups come
from /etc/group membership only when no group was given.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from dockyard.errors import InvalidParameter
from dockyard.securejoin import secure_join

MAX_ID = 2**31 - 1
_MAX_FILE = 4 * 1024 * 1024  # a passwd file bigger than this is not a passwd file


@dataclass
class ResolvedUser:
    """The numeric identity the container process runs as."""

    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


@dataclass
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass
class GroupEntry:
    name: str
    gid: int
    members: list[str]


def _int_or_none(s: str) -> int | None:
    s = s.strip()
    if not s or not s.isdigit():
        return None
    return int(s)


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Parse /etc/passwd; malformed lines are skipped like libc does."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 4:
            continue
        uid, gid = _int_or_none(parts[2]), _int_or_none(parts[3])
        if uid is None or gid is None:
            continue
        home = parts[5] if len(parts) > 5 and parts[5] else "/"
        out.append(PasswdEntry(parts[0], uid, gid, home))
    return out


def parse_group(text: str) -> list[GroupEntry]:
    """Parse /etc/group; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 3:
            continue
        gid = _int_or_none(parts[2])
        if gid is None:
            continue
        members = [m for m in parts[3].split(",") if m] if len(parts) > 3 else []
        out.append(GroupEntry(parts[0], gid, members))
    return out


def _check_range(kind: str, value: int) -> int:
    if value > MAX_ID:
        raise InvalidParameter(f"{kind}s and gids must be in range 0-{MAX_ID}")
    return value


def _find_group(groups: list[GroupEntry], spec: str, word: str = "unable") -> int:
    for g in groups:
        if g.name == spec:
            return g.gid
    num = _int_or_none(spec)
    if num is not None:
        return _check_range("uid", num)
    raise InvalidParameter(f"{word} to find group {spec}: no matching entries in group file")


def lookup_user(user: str, passwd: str | None, group: str | None,
                group_add: list[str] | tuple[str, ...] = ()) -> ResolvedUser:
    """Resolve ``user[:group]`` (and ``--group-add`` entries) with the files' texts.

    ``passwd``/``group`` are None when the file does not exist in the image.
    """
    users = parse_passwd(passwd or "")
    groups = parse_group(group or "")
    user_part, _, group_part = (user or "").partition(":")
    res = ResolvedUser()
    name: str | None = None
    if user_part:
        entry = next((u for u in users if u.name == user_part), None)
        if entry is None:
            num = _int_or_none(user_part)
            if num is None:
                raise InvalidParameter(
                    f"unable to find user {user_part}: no matching entries in passwd file")
            res.uid = _check_range("uid", num)
            entry = next((u for u in users if u.uid == num), None)
        if entry is not None:
            res.uid, res.gid, res.home, name = entry.uid, entry.gid, entry.home, entry.name
    else:
        root = next((u for u in users if u.uid == 0), None)
        if root is not None:
            res.home, name = root.home, root.name
    if group_part:
        res.gid = _find_group(groups, group_part)
    elif name is not None:
        seen = set()
        for g in groups:
            if name in g.members and g.gid not in seen:
                seen.add(g.gid)
                res.additional_gids.append(g.gid)
    for extra in group_add:  # moby looks these up itself (GetAdditionalGroups: "Unable …"); -u's group is runc's
        gid = _find_group(groups, extra, "Unable")
        if gid not in res.additional_gids:
            res.additional_gids.append(gid)
    # dockerd puts the primary group first in the supplementary list (``id`` shows groups=65534(nogroup))
    res.additional_gids.insert(0, res.gid)
    return res


def read_rootfs_file(rootfs: str, path: str) -> str | None:
    """Read a small regular file inside the rootfs without following symlinks out of it."""
    host = secure_join(rootfs, path)
    try:
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _MAX_FILE)
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def resolve_user(rootfs: str, user: str, group_add: list[str] | tuple[str, ...] = ()) -> ResolvedUser:
    """``-u user[:group]`` → numeric ids, reading the container's passwd/group files safely."""
    # read even for the default user: HOME for root comes from passwd too
    passwd = read_rootfs_file(rootfs, "/etc/passwd")
    group = read_rootfs_file(rootfs, "/etc/group")
    return lookup_user(user, passwd, group, group_add)
