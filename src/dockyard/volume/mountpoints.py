"""A container's mount points from ``-v``, ``--mount``, VOLUME and ``--volumes-from`` (pure).

A mount point is a dict in Docker's ``MountPoint`` shape (what ``docker
inspect`` shows under ``Mounts``: Type, Name, Source, Destination, Driver,
Mode, RW, Propagation) plus what the daemon needs to set it up: ``CopyData``
(fill an empty volume from the image), ``CreateSource`` (``-v`` makes a
missing host directory, ``--mount`` refuses it), ``NonRecursive``,
``TmpfsOptions`` and ``DriverOpts`` (``volume-opt``).  A volume mount point
names its volume; an anonymous one has an empty ``Name`` until the daemon
creates the volume.  The rules and messages are moby's ``volume/mounts``
linux parser.
"""

from __future__ import annotations

import posixpath
from typing import Any, Callable

from dockyard.errors import InvalidParameter

PROPAGATIONS = ("shared", "slave", "private", "rshared", "rslave", "rprivate")
_LABEL_MODES = ("z", "Z")
_CONSISTENCY = ("consistent", "cached", "delegated")
PUBLIC_KEYS = ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")


def _valid_mode(mode: str) -> bool:
    """moby's ``ValidMountMode``: at most one of each kind, nothing unknown."""
    counts = {"rw": 0, "label": 0, "prop": 0, "copy": 0, "cons": 0}
    for opt in mode.split(","):
        if opt in ("ro", "rw"):
            counts["rw"] += 1
        elif opt in _LABEL_MODES:
            counts["label"] += 1
        elif opt in PROPAGATIONS:
            counts["prop"] += 1
        elif opt == "nocopy":
            counts["copy"] += 1
        elif opt in _CONSISTENCY:
            counts["cons"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def check_target(kind: str, target: str, spec: str | None = None) -> str:
    """A mount destination: absolute, not ``/``, normalized (moby's messages, with the -v spec if any)."""
    def bad(why: str) -> InvalidParameter:
        text = f'invalid mount config for type "{kind}": {why}'
        return InvalidParameter(f"invalid volume specification: '{spec}': {text}" if spec else text)

    if not target:
        raise bad("field Target must not be empty")
    if not target.startswith("/"):
        raise bad(f"invalid mount path: '{target}' mount path must be absolute")
    norm = posixpath.normpath(target)
    if norm == "/":
        raise bad("invalid specification: destination can't be '/'")
    return norm


def mount_point(kind: str, destination: str, **fields: Any) -> dict[str, Any]:
    mp: dict[str, Any] = {"Type": kind, "Name": "", "Source": "", "Destination": destination, "Driver": "",
                          "Mode": "", "RW": True, "Propagation": "", "CopyData": kind == "volume",
                          "CreateSource": False}
    mp.update(fields)
    return mp


def parse_bind(spec: str) -> dict[str, Any]:
    """One ``-v`` / ``Binds`` entry: ``/host:/ctr[:mode]``, ``name:/ctr[:mode]`` or ``/ctr``."""
    parts = spec.split(":")
    if len(parts) == 1:
        return mount_point("volume", check_target("volume", parts[0], spec))
    if len(parts) > 3 or not parts[0] or not parts[1] or (len(parts) == 2 and _valid_mode(parts[1])):
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if mode and not _valid_mode(mode):
        raise InvalidParameter(f"invalid mode: {mode}")
    opts = mode.split(",") if mode else []
    rw = "ro" not in opts
    propagation = next((o for o in opts if o in PROPAGATIONS), "")
    if src.startswith("/"):
        dest = check_target("bind", dst, spec)
        if "nocopy" in opts:  # moby: nocopy is a volume option
            raise InvalidParameter(f"invalid volume specification: '{spec}': invalid mount config for type "
                                   '"bind": field VolumeOptions must not be specified')
        return mount_point("bind", dest, Source=posixpath.normpath(src), Mode=mode, RW=rw,
                           Propagation=propagation or "rprivate", CopyData=False, CreateSource=True)
    if propagation:
        raise InvalidParameter(f"invalid volume specification: '{spec}': propagation is only valid for "
                               "bind mounts")
    dest = check_target("volume", dst, spec)
    return mount_point("volume", dest, Name=src, Driver="local", Mode=mode or "z", RW=rw,
                       CopyData="nocopy" not in opts)


def parse_mount(m: dict[str, Any], exists: Callable[[str], bool]) -> dict[str, Any]:
    """One ``--mount`` / ``HostConfig.Mounts`` entry (moby's ``validateMountConfig``)."""
    kind = m.get("Type") or ""

    def bad(why: str) -> InvalidParameter:
        return InvalidParameter(f'invalid mount config for type "{kind}": {why}')

    if kind in ("image", "cluster", "npipe"):
        raise bad(f"mount type {kind} is not supported by dockyard yet")
    if kind not in ("bind", "volume", "tmpfs"):
        raise bad("mount type unknown")
    dest = check_target(kind, m.get("Target") or "")
    rw = not m.get("ReadOnly")
    for key, allowed in (("BindOptions", "bind"), ("VolumeOptions", "volume"), ("TmpfsOptions", "tmpfs")):
        if m.get(key) and kind != allowed:
            raise bad(f"field {key} must not be specified")
    src = m.get("Source") or ""
    if kind == "bind":
        if not src:
            raise bad("field Source must not be empty")
        if not src.startswith("/"):
            raise bad(f"invalid mount path: '{src}' mount path must be absolute")
        bo = m.get("BindOptions") or {}
        if not bo.get("CreateMountpoint") and not exists(src):
            raise bad(f"bind source path does not exist: {src}")
        propagation = bo.get("Propagation") or ""
        if propagation and propagation not in PROPAGATIONS:
            raise bad(f"invalid propagation mode: {propagation}")
        return mount_point("bind", dest, Source=posixpath.normpath(src), RW=rw,
                           Propagation=propagation or "rprivate", CopyData=False,
                           CreateSource=bool(bo.get("CreateMountpoint")),
                           NonRecursive=bool(bo.get("NonRecursive")), BindOptions=dict(bo))
    if kind == "tmpfs":
        if src:
            raise bad("field Source must not be specified")
        to = dict(m.get("TmpfsOptions") or {})
        for key in to:
            if key not in ("SizeBytes", "Mode", "Options"):
                raise bad(f"tmpfs option {key} is not supported yet")
        if (to.get("SizeBytes") or 0) < 0:
            raise bad("invalid tmpfs size")
        for opt in to.get("Options") or []:
            if not isinstance(opt, list) or not 1 <= len(opt) <= 2 or not all(isinstance(o, str) for o in opt):
                raise bad(f"invalid tmpfs option {opt!r}: expected [key] or [key, value]")
        return mount_point("tmpfs", dest, RW=rw, CopyData=False, TmpfsOptions=to)
    vo = m.get("VolumeOptions") or {}
    driver_cfg = vo.get("DriverConfig") or {}
    driver = driver_cfg.get("Name") or "local"
    for key in vo:
        if key not in ("NoCopy", "Labels", "DriverConfig", "Subpath"):
            raise bad(f"volume option {key} is not supported yet")
    subpath = vo.get("Subpath") or ""
    if subpath and (subpath.startswith("/") or ".." in subpath.split("/")):
        raise bad("subpath must be a relative path within the volume")
    return mount_point("volume", dest, Name=src, Driver=driver, Mode="z", RW=rw,
                       CopyData=not vo.get("NoCopy") and not subpath, Subpath=subpath,
                       DriverOpts=dict(driver_cfg.get("Options") or {}), Labels=dict(vo.get("Labels") or {}))


def parse_volumes_from(entry: str) -> tuple[str, str]:
    """``other[:ro|:rw]`` of ``--volumes-from`` → (container, mode)."""
    ref, sep, mode = entry.partition(":")
    if not ref or (sep and mode not in ("ro", "rw")):
        raise InvalidParameter(f"invalid mode: {mode}" if ref else f"invalid volumes-from: '{entry}'")
    return ref, mode


def inherited(mp: dict[str, Any], mode: str) -> dict[str, Any]:
    """A mount point of another container, as ``--volumes-from other[:mode]`` gives it."""
    out = dict(mp)
    if mode:
        out["RW"] = mode == "rw"
        if out["Type"] == "bind":
            kept = [o for o in (out.get("Mode") or "").split(",") if o and o not in ("ro", "rw")]
            out["Mode"] = ",".join([mode, *kept])
    out["CopyData"] = False
    return out


def host_mount_points(hc: dict[str, Any], exists: Callable[[str], bool]) -> list[dict[str, Any]]:
    """The mount points of ``Binds`` and ``Mounts``, a destination used twice refused."""
    out = [parse_bind(b) for b in hc.get("Binds") or []]
    out += [parse_mount(m, exists) for m in hc.get("Mounts") or []]
    seen: set[str] = set()
    # --tmpfs paths count too: dockerd refuses ``--tmpfs /x -v /h:/x`` at create, not at start
    tmpfs = [posixpath.normpath(p) for p in hc.get("Tmpfs") or {} if isinstance(p, str) and p.startswith("/")]
    for dest in [mp["Destination"] for mp in out] + tmpfs:
        if dest in seen:
            raise InvalidParameter(f"Duplicate mount point: {dest}")
        seen.add(dest)
    return out


def public(mp: dict[str, Any]) -> dict[str, Any]:
    """The ``Mounts`` entry of ``docker inspect`` (Name and Driver only for volumes)."""
    out = {k: mp.get(k, "") for k in PUBLIC_KEYS}
    if mp["Type"] != "volume":
        del out["Name"], out["Driver"]
    return out
