"""Resolve a path inside a root directory as if that root were ``/``.

The one implementation behind every place that follows a path an untrusted
tree chose: a mount destination in a container's rootfs (the runtime), a
member of an image layer (the unpacker), /etc/passwd of a container (user
lookup).  Like runc's securejoin and moby's ``FollowSymlinkInScope``: an
absolute symlink target restarts at the root, ``..`` stops at it, so the
result always lies under the root.  Missing components are kept as they are
(the caller may create them).  Light on imports: the runtime imports it on
every container start.
"""

from __future__ import annotations

import os
import stat

from dockyard.errors import InvalidParameter

MAX_SYMLINKS = 255


def secure_join(root: str, unsafe: str, *, follow_last: bool = True) -> str:
    """``root``/``unsafe`` with symlinks resolved inside ``root``.

    With ``follow_last`` False the last component is not followed (it is
    about to be created or replaced).  A symlink loop raises InvalidParameter.
    """
    root = os.path.abspath(root)
    pending = [p for p in unsafe.split("/") if p not in ("", ".")]
    pending.reverse()
    current: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if current:
                current.pop()
            continue
        if not pending and not follow_last:
            current.append(part)
            break
        path = os.path.join(root, *current, part)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            current.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            current.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise InvalidParameter(f"too many levels of symbolic links resolving {unsafe!r} in {root}")
        target = os.readlink(path)
        if target.startswith("/"):
            current = []
        extra = [p for p in target.split("/") if p]
        extra.reverse()
        pending.extend(extra)
    return os.path.join(root, *current) if current else root
