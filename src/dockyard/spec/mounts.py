"""Container mounts for the OCI spec: Docker's default set, ``-v`` Binds, ``--mount``, ``--tmpfs``.

Pure apart from the host probes passed in (does a bind source exist, create a
``-v`` source directory the way Docker does).  Binds and Mounts are parsed
into mount points by ``volume/mountpoints.py``; the daemon gives each volume
its host directory before the spec is built.
"""

from __future__ import annotations

from typing import Any, Callable

from dockyard.errors import InvalidParameter

DEFAULT_SHM_SIZE = 64 * 1024 * 1024


def default_mounts(shm_size: int, privileged: bool, ipc_host: bool) -> list[dict[str, Any]]:
    """Docker's default mounts (moby oci/defaults.go), /dev/shm sized by ShmSize."""
    sys_ro = [] if privileged else ["ro"]
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", *sys_ro]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *sys_ro]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
    ]
    if ipc_host:
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                       "options": ["rbind", "rprivate"]})
    else:
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]})
    return mounts


class ReadOnlyMode:
    """How a read-only bind is made read-only (moby's ReadOnlyNonRecursive/ReadOnlyForceRecursive).

    ``rro_supported``: the kernel has mount_setattr(2), so the OCI ``rro`` option can make
    every mount below the bind read-only too.  ``default_non_recursive``: the client speaks
    API < 1.44, whose read-only binds were read-only at the top only.
    """

    def __init__(self, rro_supported: bool = False, default_non_recursive: bool = False) -> None:
        self.rro_supported = rro_supported
        self.default_non_recursive = default_non_recursive

    def option(self, non_recursive: bool = False, force_recursive: bool = False) -> str:
        """``ro`` or ``rro`` for one read-only bind."""
        if force_recursive:
            if not self.rro_supported:
                raise InvalidParameter("recursively read-only mounts are not supported on this kernel "
                                       "(mount_setattr(2) is missing): bind-recursive=readonly")
            return "rro"
        if non_recursive or self.default_non_recursive or not self.rro_supported:
            return "ro"
        return "rro"


def _bind_options(readonly: bool, propagation: str, recursive: bool = True, ro_option: str = "ro") -> list[str]:
    opts = ["rbind" if recursive else "bind", propagation or "rprivate"]
    if readonly:
        opts.append(ro_option)
    return opts


def tmpfs_options(opts: str) -> list[str]:
    """``--tmpfs /run:rw,size=64m`` options; Docker's defaults noexec,nosuid,nodev first."""
    base = ["noexec", "nosuid", "nodev"]
    given = [o for o in opts.split(",") if o] if opts else []
    flips = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}
    for o in given:
        if o in flips and flips[o] in base:
            base.remove(flips[o])
    return base + [o for o in given if o not in base]


def _recursion(readonly: bool, bo: dict[str, Any], ro_mode: ReadOnlyMode) -> str:
    """The read-only option of a ``--mount type=bind`` (``bind-recursive=...``), checked as dockerd does."""
    non_rec, force = bool(bo.get("ReadOnlyNonRecursive")), bool(bo.get("ReadOnlyForceRecursive"))
    for name, on in (("ReadOnlyNonRecursive", non_rec), ("ReadOnlyForceRecursive", force)):
        if on and not readonly:
            raise InvalidParameter(f'invalid mount config for type "bind": option \'{name}\' requires '
                                   "'ReadOnly' to be set")
    if force:
        if non_rec:
            raise InvalidParameter('invalid mount config for type "bind": options \'ReadOnlyNonRecursive\' '
                                   "and 'ReadOnlyForceRecursive' cannot be used together")
        if bo.get("NonRecursive"):
            raise InvalidParameter('invalid mount config for type "bind": option \'ReadOnlyForceRecursive\' '
                                   "cannot be used with 'NonRecursive'")
        if bo.get("Propagation") != "rprivate":  # as the docker CLI and dockerd: said explicitly
            raise InvalidParameter('invalid mount config for type "bind": option \'ReadOnlyForceRecursive\' '
                                   "requires 'BindOptions.Propagation' to be 'rprivate'")
    # a non-recursive bind has no mounts below it: plain ro (as moby)
    return ro_mode.option(non_recursive=non_rec or bool(bo.get("NonRecursive")), force_recursive=force)


def oci_mount(mp: dict[str, Any], exists: Callable[[str], bool], makedirs: Callable[[str], None],
              ro_mode: ReadOnlyMode | None = None) -> dict[str, Any]:
    """One mount point (``volume/mountpoints.py``) as an OCI spec mount.

    A ``-v`` bind source that does not exist is created here, at start, as
    Docker does; a volume's source is its directory, set by the daemon.
    """
    dest, readonly = mp["Destination"], not mp.get("RW", True)
    if mp["Type"] == "tmpfs":
        to = mp.get("TmpfsOptions") or {}
        opts = ["noexec", "nosuid", "nodev"]
        if to.get("SizeBytes"):
            opts.append(f"size={to['SizeBytes'] // 1024}k")
        if to.get("Mode"):
            opts.append(f"mode={to['Mode']:o}")
        for opt in to.get("Options") or []:  # [["exec"], ["nr_inodes", "100"]]: later ones win
            key = opt[0]
            for flag, opposite in (("exec", "noexec"), ("suid", "nosuid"), ("dev", "nodev")):
                if key in (flag, opposite):
                    opts = [o for o in opts if o not in (flag, opposite)]
            opts.append("=".join(opt))
        if readonly:
            opts.append("ro")
        return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}
    src = mp.get("Source") or ""
    if not src:
        raise InvalidParameter(f"volume {mp.get('Name') or '(anonymous)'} on {dest} has no host directory: "
                               "volumes are created by the daemon before the spec is built")
    if mp["Type"] == "bind" and mp.get("CreateSource") and not exists(src):
        makedirs(src)
    if mp["Type"] == "bind":
        from dockyard.spec.propagation import check_host_propagation

        check_host_propagation(src, mp.get("Propagation") or "")
    ro_mode = ro_mode or ReadOnlyMode()
    bo = mp.get("BindOptions")
    ro_option = "ro"
    if readonly:
        ro_option = _recursion(readonly, bo, ro_mode) if bo is not None else ro_mode.option()
    return {"destination": dest, "type": "bind", "source": src,
            "options": _bind_options(readonly, mp.get("Propagation") or "", not mp.get("NonRecursive"), ro_option)}


def check_bind_options(hc: dict[str, Any]) -> None:
    """At create: refuse contradictory ``bind-recursive`` settings before anything is made."""
    for m in hc.get("Mounts") or []:
        if isinstance(m, dict) and m.get("Type") == "bind" and isinstance(m.get("BindOptions"), dict):
            _recursion(bool(m.get("ReadOnly")), m["BindOptions"], ReadOnlyMode(rro_supported=True))


def user_mounts(hc: dict[str, Any], exists: Callable[[str], bool], makedirs: Callable[[str], None],
                ro_mode: ReadOnlyMode | None = None,
                mount_points: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Mount points (by default those of Binds and Mounts) and Tmpfs, parents before children."""
    from dockyard.volume.mountpoints import check_target, host_mount_points

    points = host_mount_points(hc, exists) if mount_points is None else mount_points
    out = [oci_mount(mp, exists, makedirs, ro_mode) for mp in points]
    for dest, opts in (hc.get("Tmpfs") or {}).items():
        target = check_target("tmpfs", dest)
        out.append({"destination": target, "type": "tmpfs", "source": "tmpfs",
                    "options": tmpfs_options(opts)})
    seen: set[str] = set()
    for m in out:
        if m["destination"] in seen:
            raise InvalidParameter(f"Duplicate mount point: {m['destination']}")
        seen.add(m["destination"])
    # mount parents before children: sort by depth, stable (Docker's sortMounts)
    out.sort(key=lambda m: m["destination"].rstrip("/").count("/"))
    return out


def merge_mounts(defaults: list[dict[str, Any]], user: list[dict[str, Any]],
                 etc: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Defaults first, minus those a user mount replaces; then user mounts; /etc files last
    unless the user mounted over them."""
    user_dests = {m["destination"] for m in user}
    kept = []
    for m in defaults:
        dest = m["destination"]
        if dest in user_dests:
            continue
        # a user mount of /dev replaces the whole default /dev tree
        if any(dest.startswith(u.rstrip("/") + "/") for u in user_dests if u == "/dev"):
            continue
        kept.append(m)
    return kept + user + [m for m in etc if m["destination"] not in user_dests]
