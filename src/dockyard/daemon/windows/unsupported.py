"""Image operations a Windows engine here does not do, answered with a 400 that says so.

The routes are the shared ones (``api/images.py``, ``api/distribution.py``);
behind them a Windows engine has no registry client for Windows images
(their base layers are foreign layers from Microsoft's registry, and Wine
could not run those binaries anyway) and no way to turn a container's folder
into a layer (``commit`` would need the diff of a copied folder against its
image).  A 400 naming the operation, not a 500 from a missing service.
"""

from __future__ import annotations

from typing import Any

from dockyard import errors
from dockyard.daemon.images import ImageService

WHY = "not supported by dockyard's Windows engine (docs/windows.md)"


def refuse(operation: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(f"{operation} is {WHY}; docker import and docker load bring images in")


class NoRegistry:
    """``backends.registry`` on Windows: every registry operation is refused."""

    async def pull(self, *args: Any, **kwargs: Any) -> None:
        raise refuse("pull")

    async def push(self, *args: Any, **kwargs: Any) -> None:
        raise refuse("push")

    async def login(self, *args: Any, **kwargs: Any) -> None:
        raise refuse("login")

    async def inspect_distribution(self, *args: Any, **kwargs: Any) -> None:
        raise refuse("a registry lookup")


class WindowsImageService(ImageService):
    """The shared image service, without ``commit``."""

    def commit(self, *args: Any, **kwargs: Any) -> str:
        raise refuse("commit")
