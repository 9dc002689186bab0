"""Copy-up: an empty volume takes the image's content at its mount path on first use.

Docker's ``CopyImagePathContent``: when a container is created with a volume
on ``/path`` and the container's filesystem has a directory there, an empty
volume is filled with that directory's files, owners, modes, timestamps,
symlinks and hard links kept (Debian's ``cp -a``), and the volume's own
directory takes the source directory's owner and mode.  A volume that holds
anything is left alone; ``nocopy`` skips the whole step (the caller).
"""

from __future__ import annotations

import os
import stat
import subprocess

from dockyard.errors import SystemError_
from dockyard.securejoin import secure_join


def copy_up(rootfs: str, destination: str, volume_dir: str) -> bool:
    """Fill ``volume_dir`` from ``destination`` inside ``rootfs``; True when something was copied.

    ``destination`` is resolved inside ``rootfs`` (symlinks of the image
    cannot point the copy at a host directory); nothing runs in the
    container yet, so nothing can swap the path meanwhile.
    """
    src = secure_join(rootfs, destination)
    try:
        st = os.lstat(src)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISDIR(st.st_mode) or os.listdir(volume_dir):
        return False
    proc = subprocess.run(["cp", "-a", "--", src + "/.", volume_dir + "/"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemError_(f"copy the image's {destination} into its volume: {proc.stderr.strip()}")
    os.chown(volume_dir, st.st_uid, st.st_gid)
    os.chmod(volume_dir, stat.S_IMODE(st.st_mode))
    return True
