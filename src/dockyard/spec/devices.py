"""The host's device nodes, for ``--privileged`` (moby's ``WithDevices`` with libcontainer's ``HostDevices``).

A privileged container sees every device the host has, under the same paths,
and its device cgroup allows all.  This walks /dev once per privileged start
(about a hundred nodes); non-privileged containers never call it.
"""

from __future__ import annotations

import os
import stat
from typing import Any

# What libcontainer leaves out of the walk: per-container or per-session trees.
SKIPPED_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})
SKIPPED_FILES = frozenset({"console"})  # the container gets its own console (its pty)


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every character and block device below ``root`` as OCI ``linux.devices`` entries."""
    found: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            if dirpath == root and name in SKIPPED_FILES:
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue  # symlinks, sockets, fifos, regular files
            found.append({"path": path, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                          "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return found
