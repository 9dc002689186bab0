"""Container mounts for the OCI spec: Docker's default set, ``-v`` Binds, ``--mount``, ``--tmpfs``.

Pure apart from the host probes passed in (does a bind source exist, create a
``-v`` source directory the way Docker does).  Named volumes belong to the
volume service (a later issue): until it exists a ``-v name:/path`` or
``--mount type=volume`` is refused with a clear message rather than silently
becoming an anonymous directory.
"""

from __future__ import annotations

import posixpath
from typing import Any, Callable

from dockyard.errors import InvalidParameter

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
PROPAGATIONS = ("shared", "slave", "private", "rshared", "rslave", "rprivate")


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


def _check_target(kind: str, target: str) -> str:
    if not target:
        raise InvalidParameter(f'invalid mount config for type "{kind}": field Target must not be empty')
    if not target.startswith("/"):
        raise InvalidParameter(
            f"invalid mount config for type \"{kind}\": invalid mount path: '{target}' "
            "mount path must be absolute")
    norm = posixpath.normpath(target)
    if norm == "/":
        raise InvalidParameter(f"invalid specification: destination can't be '/' in '{target}'")
    return norm


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


def parse_bind(spec: str, exists: Callable[[str], bool],
               makedirs: Callable[[str], None], ro_mode: ReadOnlyMode | None = None) -> dict[str, Any]:
    """One ``-v src:dst[:opts]`` entry; a missing host directory is created (as Docker does)."""
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    if not src.startswith("/"):
        raise InvalidParameter(
            f"named volumes are not supported yet: '{spec}' (use an absolute host path "
            "for a bind mount)")
    target = _check_target("bind", dst)
    readonly, propagation = False, ""
    for opt in opts:
        if opt in ("ro", "rw"):
            readonly = opt == "ro"
        elif opt in PROPAGATIONS:
            propagation = opt
        elif opt in ("z", "Z", "nocopy", "consistent", "cached", "delegated"):
            pass  # SELinux relabel / macOS hints: nothing to do here
        else:
            raise InvalidParameter(f"invalid mode: {opt}")
    src = posixpath.normpath(src)
    if not exists(src):
        makedirs(src)
    ro_option = (ro_mode or ReadOnlyMode()).option() if readonly else "ro"
    return {"destination": target, "type": "bind", "source": src,
            "options": _bind_options(readonly, propagation, ro_option=ro_option)}


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


def parse_mount(m: dict[str, Any], exists: Callable[[str], bool],
                ro_mode: ReadOnlyMode | None = None) -> dict[str, Any]:
    """One ``HostConfig.Mounts[]`` entry (``--mount``)."""
    kind = m.get("Type") or ""
    target = _check_target(kind, m.get("Target") or "")
    readonly = bool(m.get("ReadOnly"))
    if kind == "bind":
        src = m.get("Source") or ""
        if not src:
            raise InvalidParameter('invalid mount config for type "bind": field Source must not be empty')
        if not src.startswith("/"):
            raise InvalidParameter(
                f"invalid mount config for type \"bind\": invalid mount path: '{src}' "
                "mount path must be absolute")
        if not exists(src):
            raise InvalidParameter(
                f'invalid mount config for type "bind": bind source path does not exist: {src}')
        bo = m.get("BindOptions") or {}
        propagation = bo.get("Propagation") or ""
        if propagation and propagation not in PROPAGATIONS:
            raise InvalidParameter(f"invalid propagation mode: {propagation}")
        ro_option = _recursion(readonly, bo, ro_mode or ReadOnlyMode())
        return {"destination": target, "type": "bind", "source": posixpath.normpath(src),
                "options": _bind_options(readonly, propagation, not bo.get("NonRecursive"), ro_option)}
    if kind == "tmpfs":
        if m.get("Source"):
            raise InvalidParameter('invalid mount config for type "tmpfs": field Source must not be specified')
        to = m.get("TmpfsOptions") or {}
        opts = ["noexec", "nosuid", "nodev"]
        if to.get("SizeBytes"):
            opts.append(f"size={to['SizeBytes'] // 1024}k")
        if to.get("Mode"):
            opts.append(f"mode={to['Mode']:o}")
        if readonly:
            opts.append("ro")
        return {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts}
    if kind == "volume":
        raise InvalidParameter(
            f"named volumes are not supported yet (--mount type=volume,target={target})")
    raise InvalidParameter(f"mount type unknown: {kind!r}" if kind else "invalid mount config: missing Type")


def check_bind_options(hc: dict[str, Any]) -> None:
    """At create: refuse contradictory ``bind-recursive`` settings before anything is made."""
    for m in hc.get("Mounts") or []:
        if isinstance(m, dict) and m.get("Type") == "bind" and isinstance(m.get("BindOptions"), dict):
            _recursion(bool(m.get("ReadOnly")), m["BindOptions"], ReadOnlyMode(rro_supported=True))


def user_mounts(hc: dict[str, Any], exists: Callable[[str], bool],
                makedirs: Callable[[str], None], ro_mode: ReadOnlyMode | None = None) -> list[dict[str, Any]]:
    """Binds, Mounts and Tmpfs of a HostConfig, duplicates refused, parents before children."""
    out: list[dict[str, Any]] = []
    for spec in hc.get("Binds") or []:
        out.append(parse_bind(spec, exists, makedirs, ro_mode))
    for m in hc.get("Mounts") or []:
        out.append(parse_mount(m, exists, ro_mode))
    for dest, opts in (hc.get("Tmpfs") or {}).items():
        target = _check_target("tmpfs", dest)
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
