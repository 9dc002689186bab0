"""A container's mount points at create time: volumes-from, -v, --mount, VOLUME; copy-up.

moby's ``registerMountPoints`` order: the mount points of ``--volumes-from``
containers first, then ``Binds`` and ``Mounts`` (which win on the same
destination), then an anonymous volume for each ``Config.Volumes`` path (the
image's VOLUME and ``-v /path``) not mounted yet.  Volumes are created as
needed; every one this create made is removed again if the create fails.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from dockyard import errors
from dockyard.volume import mountpoints as mpmod


def _check_volume_driver(hc: dict[str, Any]) -> None:
    driver = hc.get("VolumeDriver") or "local"
    if driver != "local":
        raise errors.NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')


def plan_mount_points(containers: Any, config: dict[str, Any], hc: dict[str, Any]) -> list[dict[str, Any]]:
    """The mount points before any volume exists (pure apart from the lookups); errors first."""
    by_dest: dict[str, dict[str, Any]] = {}
    for entry in hc.get("VolumesFrom") or []:
        ref, mode = mpmod.parse_volumes_from(entry)
        try:
            other = containers.get(ref)
        except errors.NotFound as exc:  # dockerd: a 400 (a 404 would send the CLI pulling the image)
            raise errors.InvalidParameter(exc.message) from None
        for mp in other.MountPoints:
            by_dest[mp["Destination"]] = mpmod.inherited(mp, mode)
    for mp in mpmod.host_mount_points(hc, os.path.exists):
        by_dest[mp["Destination"]] = mp
    for dest in sorted(config.get("Volumes") or {}):
        mp = mpmod.mount_point("volume", mpmod.check_target("volume", dest), Driver="local")
        by_dest.setdefault(mp["Destination"], mp)
    if any(mp["Type"] == "volume" for mp in by_dest.values()):
        _check_volume_driver(hc)  # as moby: VolumeDriver matters only to a container with volumes
    return list(by_dest.values())


async def create_mount_points(containers: Any, volumes: Any, c: Any, rw: Any) -> None:
    """Give ``c`` its mount points: create the volumes, copy the image's content into empty ones.

    On failure the volumes made here are removed and ``c.MountPoints`` is empty.
    """
    from dockyard.volume.copyup import copy_up

    mps = plan_mount_points(containers, c.Config, c.HostConfig)
    created: list[str] = []
    held: list[str] = []
    try:
        for mp in mps:
            if mp["Type"] != "volume":
                continue
            if volumes.ensure(mp):
                created.append(mp["Name"])
            volumes.hold([mp["Name"]])
            held.append(mp["Name"])
        todo = [mp for mp in mps if mp["Type"] == "volume" and mp.get("CopyData")]
        if todo:
            loop = asyncio.get_running_loop()
            rw.mount()
            try:
                for mp in todo:
                    await loop.run_in_executor(None, copy_up, rw.merged, mp["Destination"], mp["Source"])
            finally:
                rw.unmount()
        for mp in mps:
            mp["CopyData"] = False  # done once, at create (moby's populateVolumes)
        c.MountPoints = mps
    except BaseException:
        volumes.unhold(held)
        held = []
        for name in created:
            try:
                volumes.remove(name, force=True)
            except errors.DockyardError:
                pass
        raise
    finally:
        volumes.unhold(held)


def write_dockerenv(upper: str, remap: Any = None) -> None:
    """The empty ``/.dockerenv`` of dockerd's init layer, in the container's own layer: scripts test
    for it to know they run in a container. Commit and ``docker diff`` leave it out, export has it."""
    path = os.path.join(upper, ".dockerenv")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
    try:
        os.fchmod(fd, 0o755)
        if remap is not None:
            os.fchown(fd, remap.root_uid, remap.root_gid)
    finally:
        os.close(fd)
