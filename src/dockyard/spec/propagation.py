"""Whether a bind mount's source can give the propagation the user asked for (moby's ensureShared).

``-v /src:/dst:rshared`` (or ``bind-propagation=rslave``) only means something
when the host mount holding ``/src`` is itself shared (or a slave): a mount
event cannot propagate out of a private mount. dockerd checks this when it
builds the spec and refuses the start with ``path /src is mounted on / but it
is not a shared mount``; dockyard does the same rather than run the container
with a propagation that silently is not there. Parsing is pure (the
mountinfo text is an argument) so that it is unit-tested.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidParameter


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def source_mount(path: str, mountinfo: str) -> tuple[str, list[str]]:
    """The mount point holding ``path`` (the longest prefix; the last such mount wins) and its
    optional fields (``shared:N``, ``master:N``, …)."""
    best, fields = "", []
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) < 7 or "-" not in parts[6:]:
            continue
        point = _unescape(parts[4])
        inside = point == "/" or path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fields = point, parts[6:parts.index("-", 6)]
    return best, fields


def check_propagation(source: str, propagation: str, mountinfo: str) -> None:
    """A 400 worded as dockerd when ``source``'s mount cannot give ``propagation``."""
    if propagation in ("shared", "rshared"):
        point, fields = source_mount(source, mountinfo)
        if not any(f.startswith("shared:") for f in fields):
            raise InvalidParameter(f"path {source} is mounted on {point} but it is not a shared mount")
    elif propagation in ("slave", "rslave"):
        point, fields = source_mount(source, mountinfo)
        if not any(f.startswith(("shared:", "master:")) for f in fields):
            raise InvalidParameter(f"path {source} is mounted on {point} but it is not a shared or slave mount")


def check_host_propagation(source: str, propagation: str) -> None:
    """:func:`check_propagation` against this process's mount table (symlinks in ``source`` resolved)."""
    if propagation not in ("shared", "rshared", "slave", "rslave"):
        return
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    check_propagation(os.path.realpath(source), propagation, text)
