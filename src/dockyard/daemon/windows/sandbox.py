"""A Windows container's folder: the image's layers copied into one directory.

Windows has no overlay filesystem (Docker's ``windowsfilter`` builds the view
with the ``wcifs`` filter driver, which Wine lacks), so at the first start the
layers are **copied**, bottom layer first, into the RW layer's ``merged``
directory; that folder is the container's from then on (its writes stay there
across restarts, and ``rm`` deletes it).  Copied rather than hard-linked: a
hard link shares the file's data, so a container writing into a file in place
(a ``._pth``, a config, a database) would change the image under every other
container — NTFS has no copy-on-write for links.  The cost is the image's size
per container start-up once (measured by ``bench/windows_bench.py``).

The process sees the folder as ``CONTAINER_SANDBOX_MOUNT_POINT`` and as its
default working directory, as HostProcess containers do.
"""

from __future__ import annotations

import os
import shutil

from dockyard.errors import os_error
from dockyard.image.layers import RWLayer, dir_size

COPIED = "copied"  # in the layer's home, beside merged: the copy finished


class SandboxLayer(RWLayer):
    """The RW layer of a Windows container; ``mount`` makes the copy (once)."""

    @property
    def lower(self) -> list[str]:
        """The image's diff dirs, topmost first, from the layer records (not the ``l/`` links)."""
        return [self._store.diff_dir(chain_id) for chain_id in reversed(self._store.rw_chain(self.name))]

    @property
    def home(self) -> str:
        return os.path.dirname(self.merged)

    def mount(self, remap: object = None) -> str:
        marker = os.path.join(self.home, COPIED)
        if os.path.exists(marker):
            return self.merged
        try:
            shutil.rmtree(self.merged, ignore_errors=True)  # an interrupted copy starts again
            os.makedirs(self.merged)
            for layer in reversed(self.lower):  # bottom first: upper layers overwrite
                # copyfile, not copytree's copy2: CPython 3.13's copy2 calls CopyFile2,
                # which Wine 8.0 lacks (the process aborts: docs/windows.md)
                shutil.copytree(layer, self.merged, dirs_exist_ok=True, symlinks=True,
                                copy_function=shutil.copyfile)
            with open(marker, "w", encoding="ascii"):
                pass
        except OSError as exc:
            raise os_error("copy the image's layers into", self.merged, exc) from None
        return self.merged

    def unmount(self) -> None:
        """Nothing is mounted: the folder is a plain directory."""

    def graphdriver_data(self) -> dict[str, str]:
        return {"dir": self.merged}

    def size_rw(self) -> int:
        """What the folder holds beyond the image (0 before the first start)."""
        if not os.path.exists(os.path.join(self.home, COPIED)):
            return 0
        return max(0, dir_size(self.merged) - sum(dir_size(layer) for layer in self.lower))
