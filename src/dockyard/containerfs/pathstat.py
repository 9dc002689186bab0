"""``X-Docker-Container-Path-Stat``: a path's stat as Docker's ContainerPathStat (pure).

``mode`` is Go's ``os.FileMode`` (type bits high, permissions low), ``mtime``
Go's RFC3339Nano; the header is base64 of the JSON.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from typing import Any

GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHARDEV = 1 << 21
GO_STICKY = 1 << 20


def go_file_mode(st_mode: int) -> int:
    mode = stat.S_IMODE(st_mode) & 0o777
    if stat.S_ISDIR(st_mode):
        mode |= GO_DIR
    elif stat.S_ISLNK(st_mode):
        mode |= GO_SYMLINK
    elif stat.S_ISBLK(st_mode):
        mode |= GO_DEVICE
    elif stat.S_ISCHR(st_mode):
        mode |= GO_DEVICE | GO_CHARDEV
    elif stat.S_ISFIFO(st_mode):
        mode |= GO_PIPE
    elif stat.S_ISSOCK(st_mode):
        mode |= GO_SOCKET
    if st_mode & stat.S_ISUID:
        mode |= GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_STICKY
    return mode


def go_time(ns: int) -> str:
    """Go's RFC3339Nano in UTC: fraction without trailing zeros."""
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def path_stat(name: str, st: os.stat_result, link_target: str = "") -> dict[str, Any]:
    return {"name": name, "size": st.st_size, "mode": go_file_mode(st.st_mode), "mtime": go_time(st.st_mtime_ns),
            "linkTarget": link_target}


def encode_header(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()
