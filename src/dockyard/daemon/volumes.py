"""The volume service: named and anonymous volumes of the ``local`` driver, and their users.

Records live in the ``volumes`` table (one JSON document per volume); the
files in ``<data-root>/volumes`` (``volume/local.py``).  A volume is in use
while any container's mount points name it, whatever the container's state,
as in Docker; a container create in progress holds its volumes too, so a
``volume rm`` racing a ``run`` cannot pull the volume from under it.
Anonymous volumes carry Docker's ``com.docker.volume.anonymous`` label: that
is what ``rm -v``, ``--rm`` and a plain ``volume prune`` remove.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from dockyard import errors
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.filters import labels_match
from dockyard.daemon.names import new_id
from dockyard.image.layers import dir_size
from dockyard.state.db import Database, dumps, loads
from dockyard.volume import local

log = logging.getLogger("dockyard.volumes")

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
LIST_FILTERS = ("dangling", "name", "label", "label!", "driver")
PRUNE_FILTERS = ("label", "label!", "all")

# (container id, its mount points) for every container
MountLookup = Callable[[], Iterable[tuple[str, list[dict[str, Any]]]]]


def _bool_filter(key: str, values: list[str]) -> bool:
    value = values[-1].lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise errors.InvalidParameter(f"invalid filter '{key}={values[-1]}'")


def _created_at() -> str:
    """Docker's CreatedAt: local time, seconds, with the zone (``Z`` on a UTC host)."""
    offset = -time.altzone if time.daylight and time.localtime().tm_isdst else -time.timezone
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    if offset == 0:
        return stamp + "Z"
    sign = "+" if offset > 0 else "-"
    return f"{stamp}{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


class VolumeService:
    """Owns every volume record, its directory, and its mount while containers use it."""

    def __init__(self, cfg: DaemonConfig, db: Database, events: Any) -> None:
        self.db = db
        self.events = events
        remap = cfg.remap
        self.driver = local.LocalDriver(os.path.join(cfg.data_root, "volumes"),
                                        (remap.root_uid, remap.root_gid) if remap is not None else None)
        self._volumes: dict[str, dict[str, Any]] = {
            row["name"]: loads(row["data"]) for row in db.query("SELECT name, data FROM volumes")}
        self._pending: dict[str, int] = {}  # volume -> creates in progress holding it
        self._mounted: dict[str, set[str]] = {}  # volume with options -> running containers
        self.container_mounts: MountLookup = lambda: ()
        self.driver.gc(set(self._volumes))

    # -- records ------------------------------------------------------------------------
    def _view(self, v: dict[str, Any]) -> dict[str, Any]:
        return {"CreatedAt": v["CreatedAt"], "Driver": v["Driver"], "Labels": v.get("Labels") or None,
                "Mountpoint": self.driver.mountpoint(v["Name"]), "Name": v["Name"],
                "Options": v.get("Options") or None, "Scope": "local"}

    def get(self, name: str) -> dict[str, Any]:
        v = self._volumes.get(name)
        if v is None:
            raise errors.NotFound(f"get {name}: no such volume")
        return v

    def inspect(self, name: str) -> dict[str, Any]:
        return self._view(self.get(name))

    def mountpoint(self, name: str) -> str:
        return self.driver.mountpoint(name)

    def is_anonymous(self, name: str) -> bool:
        v = self._volumes.get(name)
        return v is not None and ANONYMOUS_LABEL in (v.get("Labels") or {})

    def create(self, name: str, driver: str = "", opts: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, *, anonymous: bool = False) -> dict[str, Any]:
        """``POST /volumes/create``: a new volume, or the existing one of that name."""
        driver = driver or "local"
        if not name:
            name = new_id()
        if driver != "local":  # dockerd's OpErr: "create NAME: ..."
            raise errors.NotFound(f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" '
                                  "not found")
        try:
            local.check_name(name)
        except errors.InvalidParameter as exc:
            raise errors.InvalidParameter(f"create {name}: {exc.message}") from None
        existing = self._volumes.get(name)
        if existing is not None:  # dockerd logs a create for every create that succeeds, a found one too
            self.events.emit("volume", "create", name, {"driver": existing.get("Driver") or "local"})
            return self._view(existing)
        opts = {str(k): str(v) for k, v in (opts or {}).items()}
        try:
            local.check_opts(opts)
        except errors.InvalidParameter as exc:
            raise errors.InvalidParameter(f"create {name}: {exc.message}") from None
        labels = dict(labels or {})
        if anonymous:
            labels[ANONYMOUS_LABEL] = ""
        record = {"Name": name, "Driver": driver, "CreatedAt": _created_at(), "Labels": labels,
                  "Options": opts}
        staged = self.driver.stage(opts)
        try:
            with self.db.tx() as cur:
                cur.execute("INSERT INTO volumes (name, data) VALUES (?, ?)", (name, dumps(record)))
                self.driver.commit(staged, name)
        except BaseException:
            self.driver.discard(staged)
            raise
        self._volumes[name] = record
        self.events.emit("volume", "create", name, {"driver": driver})
        return self._view(record)

    def users(self, name: str) -> list[str]:
        """IDs of the containers whose mount points name the volume."""
        return [cid for cid, mps in self.container_mounts()
                if any(mp.get("Type") == "volume" and mp.get("Name") == name for mp in mps)]

    def remove(self, name: str, force: bool = False, discard: Callable[[str], None] | None = None) -> None:
        """``DELETE /volumes/{name}``; refused while a container uses it, even with force (as Docker).

        ``discard`` gets the renamed-away data directory to delete (default: deleted
        here); :meth:`remove_async` deletes it on a worker thread."""
        if name not in self._volumes:
            if force:
                return
            raise errors.NotFound(f"get {name}: no such volume")
        users = self.users(name)
        if users or self._pending.get(name):
            raise errors.Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self._delete(name, discard)

    async def remove_async(self, name: str, force: bool = False) -> None:
        """:meth:`remove` with the data deleted on a worker thread, so a big volume holds no other client."""
        gone: list[str] = []
        self.remove(name, force, gone.append)
        await self.discard_async(gone)

    async def discard_async(self, retired: list[str]) -> None:
        """Delete retired volume directories on a worker thread (the caller waits, the event loop does not)."""
        if retired:
            await asyncio.get_running_loop().run_in_executor(None, lambda: [self.driver.discard(g) for g in retired])

    def _delete(self, name: str, discard: Callable[[str], None] | None = None) -> None:
        self.driver.unmount(name)
        with self.db.tx() as cur:
            cur.execute("DELETE FROM volumes WHERE name = ?", (name,))
            gone = self.driver.retire(name)
        del self._volumes[name]
        if gone:
            (discard or self.driver.discard)(gone)
        self.events.emit("volume", "destroy", name, {"driver": "local"})

    # -- list / prune / df ----------------------------------------------------------------
    def list(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        for key in filters:
            if key not in LIST_FILTERS:
                raise errors.InvalidParameter(f"invalid filter '{key}'")
        dangling = _bool_filter("dangling", filters["dangling"]) if filters.get("dangling") else None
        used = self._used_names() if dangling is not None else set()
        out = []
        for v in sorted(self._volumes.values(), key=lambda v: v["Name"]):
            if dangling is not None and (v["Name"] not in used) != dangling:
                continue
            if filters.get("name") and not any(n == v["Name"] or re.search(n, v["Name"]) for n in filters["name"]):
                continue
            if filters.get("driver") and not any(d == v["Driver"] or re.search(d, v["Driver"])
                                                 for d in filters["driver"]):
                continue
            if not labels_match(v.get("Labels") or {}, filters):
                continue
            out.append(self._view(v))
        return {"Volumes": out, "Warnings": None}

    def _used_names(self) -> set[str]:
        names = {mp.get("Name") for _, mps in self.container_mounts() for mp in mps if mp.get("Type") == "volume"}
        return {n for n in names if n} | {n for n, count in self._pending.items() if count}

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        """``POST /volumes/prune``: unused anonymous volumes, or every unused one with ``all``.

        Sizing and deleting walk whole trees: both run on a worker thread, so a big
        volume holds no other client; a volume a container took meanwhile is kept."""
        for key in filters:
            if key not in PRUNE_FILTERS:
                raise errors.InvalidParameter(f"invalid filter '{key}'")
        every = _bool_filter("all", filters["all"]) if filters.get("all") else False
        loop = asyncio.get_running_loop()
        deleted, reclaimed, retired = [], 0, []
        for name in self._prunable(every, filters):
            size = await loop.run_in_executor(None, dir_size, self.driver.mountpoint(name))
            if name not in self._volumes or name in self._used_names():
                continue
            self._delete(name, retired.append)
            deleted.append(name)
            reclaimed += size
        await self.discard_async(retired)
        self.events.emit("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}  # dockerd: [] when none

    def _prunable(self, every: bool, filters: dict[str, list[str]]) -> list[str]:
        used = self._used_names()
        names = []
        for name, v in sorted(self._volumes.items()):
            labels = v.get("Labels") or {}
            if name in used or (not every and ANONYMOUS_LABEL not in labels):
                continue
            if labels_match(labels, filters):
                names.append(name)
        return names

    def disk_usage(self) -> list[dict[str, Any]]:
        """The volumes of ``GET /system/df`` with UsageData (size on disk, containers using it)."""
        counts: dict[str, int] = {}
        for _, mps in self.container_mounts():
            for name in {mp.get("Name") for mp in mps if mp.get("Type") == "volume"}:
                counts[name] = counts.get(name, 0) + 1
        out = []
        for v in sorted(self._volumes.values(), key=lambda v: v["Name"]):
            item = self._view(v)
            item["UsageData"] = {"Size": dir_size(self.driver.mountpoint(v["Name"])),
                                 "RefCount": counts.get(v["Name"], 0)}
            out.append(item)
        return out

    # -- the containers' side ---------------------------------------------------------------
    def hold(self, names: Iterable[str]) -> None:
        """Keep volumes from removal while a container create that uses them runs."""
        for n in names:
            self._pending[n] = self._pending.get(n, 0) + 1

    def unhold(self, names: Iterable[str]) -> None:
        for n in names:
            left = self._pending.get(n, 0) - 1
            if left > 0:
                self._pending[n] = left
            else:
                self._pending.pop(n, None)

    def ensure(self, mp: dict[str, Any]) -> bool:
        """Give a volume mount point its volume (created if missing); True when it was created."""
        driver = mp.get("Driver") or "local"
        if mp["Name"] and mp["Name"] in self._volumes:
            created = False
            self.events.emit("volume", "create", mp["Name"], {"driver": self._volumes[mp["Name"]]["Driver"]})
        else:
            mp["Name"] = self.create(mp["Name"], driver, mp.get("DriverOpts"), mp.get("Labels"),
                                     anonymous=not mp["Name"])["Name"]
            created = True
        mp["Driver"] = self._volumes[mp["Name"]]["Driver"]
        mp["Source"] = self.driver.mountpoint(mp["Name"])
        return created

    def mount(self, cid: str, mps: list[dict[str, Any]]) -> None:
        """Before a container starts: mount its volumes that have mount options (undone on failure)."""
        done: list[str] = []
        try:
            for mp in mps:
                if mp.get("Type") != "volume":
                    continue
                v = self.get(mp["Name"])
                users = self._mounted.setdefault(mp["Name"], set())
                if (v.get("Options") or {}).get("type") and not users:
                    self.driver.mount(mp["Name"], v["Options"])
                users.add(cid)
                done.append(mp["Name"])
                if mp.get("Subpath"):
                    mp["Source"] = self._subpath(mp)
                self.events.emit("volume", "mount", mp["Name"], {
                    "container": cid, "destination": mp["Destination"], "driver": v["Driver"],
                    "propagation": mp.get("Propagation") or "", "read/write": str(bool(mp.get("RW"))).lower()})
        except BaseException:
            self.unmount(cid, [{"Type": "volume", "Name": n} for n in done])
            raise

    def _subpath(self, mp: dict[str, Any]) -> str:
        """``volume-subpath``: the path inside the volume (symlinks resolved inside it); it must exist."""
        from dockyard.securejoin import secure_join

        root = self.driver.mountpoint(mp["Name"])
        path = secure_join(root, mp["Subpath"])
        if not os.path.exists(path):
            raise errors.InvalidParameter(f"cannot access path {path}: no such file or directory "
                                          f"(volume-subpath {mp['Subpath']} of volume {mp['Name']})")
        return path

    def unmount(self, cid: str, mps: list[dict[str, Any]]) -> None:
        """After a container stopped: unmount the option volumes nobody else runs with."""
        for mp in mps:
            if mp.get("Type") != "volume" or mp.get("Name") not in self._volumes:
                continue
            users = self._mounted.get(mp["Name"], set())
            if cid not in users:
                continue
            users.discard(cid)
            self.events.emit("volume", "unmount", mp["Name"], {"container": cid, "driver": "local"})
            if not users:
                self._mounted.pop(mp["Name"], None)
                try:
                    self.driver.unmount(mp["Name"])
                except errors.DockyardError as exc:
                    log.warning("%s", exc)

    def adopt(self, cid: str, mps: list[dict[str, Any]]) -> None:
        """At daemon start-up: a running container's volumes count as mounted by it."""
        for mp in mps:
            if mp.get("Type") == "volume" and mp.get("Name") in self._volumes:
                self._mounted.setdefault(mp["Name"], set()).add(cid)

    def remove_anonymous(self, mps: list[dict[str, Any]], discard: Callable[[str], None] | None = None) -> None:
        """``rm -v`` / ``--rm``: the container's anonymous volumes nobody else uses; never named ones."""
        for mp in mps:
            name = mp.get("Name")
            if mp.get("Type") != "volume" or not self.is_anonymous(name or ""):
                continue
            try:
                self.remove(name or "", discard=discard)
            except errors.DockyardError as exc:
                log.info("keeping volume %s: %s", name, exc)
