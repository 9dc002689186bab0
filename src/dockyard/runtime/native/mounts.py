"""The container's file system: spec mounts, /dev, pivot_root, masked and read-only paths.

Every mount destination is resolved *inside* the rootfs the way runc's
securejoin does: symlinks are followed with the rootfs as ``/``, and ``..``
never climbs above it, so a hostile image cannot redirect a mount onto the
host.  Mounts happen in a private mount namespace, so they disappear with it.
"""

from __future__ import annotations

import os
import stat

from dockyard.errors import InvalidParameter
from dockyard.runtime.native import spec_defaults
from dockyard.runtime.native import syscalls as sc
from dockyard.securejoin import secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from dockyard.runtime.native.syscalls import Syscalls

# option -> (clear?, flag)
_FLAGS = {
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC), "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "atime": (True, sc.MS_NOATIME), "noatime": (False, sc.MS_NOATIME),
    "diratime": (True, sc.MS_NODIRATIME), "nodiratime": (False, sc.MS_NODIRATIME),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW), "symfollow": (True, sc.MS_NOSYMFOLLOW),
}
PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# recursive options (runc's and crun's ``rro``, ``rnosuid``...): option -> (clear?, MOUNT_ATTR_*),
# applied with mount_setattr(AT_RECURSIVE) to the mount and every mount below it
RECURSIVE = {
    "rro": (False, sc.MOUNT_ATTR_RDONLY), "rrw": (True, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, sc.MOUNT_ATTR_NOSUID), "rsuid": (True, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (False, sc.MOUNT_ATTR_NODEV), "rdev": (True, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (False, sc.MOUNT_ATTR_NOEXEC), "rexec": (True, sc.MOUNT_ATTR_NOEXEC),
    "rnosymfollow": (False, sc.MOUNT_ATTR_NOSYMFOLLOW), "rsymfollow": (True, sc.MOUNT_ATTR_NOSYMFOLLOW),
}
_IGNORED = {"tmpcopyup", "defaults"}
# statvfs f_flag bits that a bind remount must keep (they share MS_* values)
_LOCKED = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME | sc.MS_RELATIME


def parse_options(options: list[str] | None) -> tuple[int, int, str]:
    """(mount flags, propagation flags, data string) from a spec mount's options."""
    flags = 0
    propagation = 0
    data: list[str] = []
    for opt in options or []:
        if opt in _FLAGS:
            clear, bit = _FLAGS[opt]
            flags = flags & ~bit if clear else flags | bit
        elif opt in PROPAGATION:
            propagation |= PROPAGATION[opt]
        elif opt in _IGNORED or opt in RECURSIVE:
            continue
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def recursive_attrs(options: list[str] | None) -> tuple[int, int]:
    """(attr_set, attr_clr) of the recursive options (``rro``...), the later option winning."""
    attr_set = attr_clr = 0
    for opt in options or []:
        if opt in RECURSIVE:
            clear, bit = RECURSIVE[opt]
            if clear:
                attr_set, attr_clr = attr_set & ~bit, attr_clr | bit
            else:
                attr_set, attr_clr = attr_set | bit, attr_clr & ~bit
    return attr_set, attr_clr


def locked_flags(path: str) -> int:
    """Per-mount flags a bind remount must repeat (else EPERM in a user namespace)."""
    try:
        return os.statvfs(path).f_flag & _LOCKED
    except OSError:
        return 0


def remount_readonly(sys: Syscalls, path: str, extra: int = 0) -> None:
    sys.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | extra | locked_flags(path))


class RootfsBuilder:
    """Builds the container's tree under ``rootfs`` inside a fresh mount namespace."""

    def __init__(self, sys: Syscalls, config: dict[str, Any], rootfs: str, bundle: str,
                 userns: bool, cgroup_ns: bool, cgroup_paths: dict[str, str],
                 enter_cgroup: Callable[[], None] | None = None) -> None:
        self.sys = sys
        self.config = config
        self.rootfs = rootfs
        self.bundle = bundle
        self.userns = userns
        self.cgroup_ns = cgroup_ns
        self.cgroup_paths = cgroup_paths
        # waits until the runtime has moved the init into its cgroup (the first cgroup v1
        # attach waits ~10 ms for an RCU grace period) and makes the cgroup namespace; the init
        # builds its tree meanwhile.  Called once: before the first cgroup mount when there is a
        # cgroup namespace (the mount must see it), else before the hooks that run in the
        # container's namespaces, else after finalize() (the latest point of this builder).
        self.enter_cgroup = enter_cgroup
        self.linux = config.get("linux") or {}

    # -- before pivot_root ---------------------------------------------------------
    def prepare(self) -> None:
        """Propagation, the rootfs bind, the spec mounts, /dev."""
        name = self.linux.get("rootfsPropagation") or "rslave"
        if name not in PROPAGATION:
            raise InvalidParameter(f"config.json: unknown rootfsPropagation {name!r}")
        # never let the container's mounts propagate back to the host
        self.sys.mount(None, "/", None, PROPAGATION[name] | sc.MS_REC)
        self.sys.mount(self.rootfs, self.rootfs, None, sc.MS_BIND | sc.MS_REC)
        dev_mounted = False
        for m in self.config.get("mounts") or []:
            self.mount_entry(m)
            if os.path.normpath(m["destination"]) == "/dev":
                dev_mounted = m.get("type") != "bind" and "bind" not in (m.get("options") or []) \
                    and "rbind" not in (m.get("options") or [])
        self.create_devices(dev_mounted or not any(
            os.path.normpath(m["destination"]) == "/dev" for m in self.config.get("mounts") or []))
        hooks = self.config.get("hooks") or {}
        if self.cgroup_ns or any(hooks.get(k) for k in ("prestart", "createRuntime", "createContainer")):
            self._enter_cgroup()

    def _enter_cgroup(self) -> None:
        if self.enter_cgroup is not None:
            callback, self.enter_cgroup = self.enter_cgroup, None
            callback()

    def mount_entry(self, m: dict[str, Any]) -> None:
        dest = secure_join(self.rootfs, m["destination"])
        kind = m.get("type") or ""
        flags, propagation, data = parse_options(m.get("options"))
        attr_set, attr_clr = recursive_attrs(m.get("options"))
        if kind in ("cgroup", "cgroup2") and self.cgroup_ns:
            self._enter_cgroup()  # without a cgroup ns the mounts bind host paths that exist already
        if kind == "bind" or flags & sc.MS_BIND:
            self._bind(m, dest, flags, data)
        elif kind == "cgroup":
            self._cgroup(dest, flags)
        elif kind == "cgroup2":
            self.sys.mkdir_all(dest)
            self._mount_or_bind("cgroup2", dest, "cgroup2", flags, data, "/sys/fs/cgroup")
        else:
            self.sys.mkdir_all(dest)
            if kind == "sysfs":
                self._mount_or_bind(m.get("source") or "sysfs", dest, kind, flags, data, "/sys")
            elif kind == "mqueue":
                self._mount_or_bind(m.get("source") or "mqueue", dest, kind, flags, data, "/dev/mqueue")
            elif kind == "tmpfs" and flags & sc.MS_RDONLY:
                # as runc: a writable tmpfs made read-only by a bind remount, so only this mount is
                # read-only (mountinfo's super options read rw, as under dockerd)
                self.sys.mount(m.get("source") or kind, dest, kind, flags & ~sc.MS_RDONLY, data or None)
                remount_readonly(self.sys, dest)
            else:
                self.sys.mount(m.get("source") or kind, dest, kind or None, flags, data or None)
        if propagation:
            self.sys.mount(None, dest, None, propagation)
        if attr_set or attr_clr:
            self.sys.mount_setattr_recursive(dest, attr_set, attr_clr)

    def _bind(self, m: dict[str, Any], dest: str, flags: int, data: str) -> None:
        source = m.get("source") or ""
        if not source.startswith("/"):
            source = os.path.join(self.bundle, source)
        if not os.path.exists(source):
            raise InvalidParameter(f"mount source {source} for {m['destination']} does not exist")
        if os.path.isdir(source):
            self.sys.mkdir_all(dest)
        else:
            self.sys.mkdir_all(os.path.dirname(dest))
            self.sys.touch(dest)
        self.sys.mount(source, dest, None, sc.MS_BIND | (flags & sc.MS_REC))
        extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        if extra:
            want = sc.MS_BIND | sc.MS_REMOUNT | extra
            try:
                self.sys.mount(None, dest, None, want)
            except PermissionError:  # user namespace: repeat the locked flags of the source
                self.sys.mount(None, dest, None, want | locked_flags(dest))

    def _mount_or_bind(self, source: str, dest: str, kind: str, flags: int, data: str, host: str) -> None:
        """Mount a kernel fs; where the kernel refuses (user ns without its own net/ipc ns) bind the host's."""
        try:
            self.sys.mount(source, dest, kind, flags, data or None)
        except PermissionError:
            if not self.userns:
                raise
            self.sys.mount(host, dest, None, sc.MS_BIND | sc.MS_REC)
            if flags & sc.MS_RDONLY:
                remount_readonly(self.sys, dest, sc.MS_REC)

    def _cgroup(self, dest: str, flags: int) -> None:
        """/sys/fs/cgroup: v2 as one mount, v1 as a tmpfs with one mount per hierarchy."""
        self.sys.mkdir_all(dest)
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            if self.cgroup_ns:
                self.sys.mount("cgroup2", dest, "cgroup2", flags)
            else:
                self._bind_cgroup("/sys/fs/cgroup", self.cgroup_paths.get(""), dest, flags)
            return
        self.sys.mount("tmpfs", dest, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
        for mountpoint, fstype, opts in _host_cgroup_mounts():
            name = os.path.basename(mountpoint)
            sub = os.path.join(dest, name)
            self.sys.mkdir_all(sub)
            if self.cgroup_ns:
                self.sys.mount("cgroup", sub, fstype, flags, None if fstype == "cgroup2" else opts)
            else:
                key = "" if fstype == "cgroup2" else name
                self._bind_cgroup(mountpoint, self.cgroup_paths.get(key), sub, flags)
        if flags & sc.MS_RDONLY:
            self.sys.mount(None, dest, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                           "mode=755")

    def _bind_cgroup(self, mountpoint: str, path: str | None, dest: str, flags: int) -> None:
        source = path if path and os.path.isdir(path) else mountpoint
        self.sys.mount(source, dest, None, sc.MS_BIND | sc.MS_REC)
        if flags & sc.MS_RDONLY:
            remount_readonly(self.sys, dest)

    def create_devices(self, make_nodes: bool) -> None:
        """Default devices plus linux.devices; bind host nodes where mknod is not allowed."""
        devices: list[dict[str, Any]] = [
            {"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
            for p, ma, mi in spec_defaults.DEFAULT_DEVICES
        ]
        custom = self.linux.get("devices") or []
        paths = {d.get("path") for d in custom}
        devices = [d for d in devices if d["path"] not in paths] + list(custom)
        if make_nodes:
            for d in devices:
                self._device(d)
        dev = secure_join(self.rootfs, "/dev")
        if not os.path.isdir(dev):
            return
        pts = os.path.join(dev, "pts")
        if os.path.ismount(pts):
            ptmx = os.path.join(dev, "ptmx")
            if os.path.lexists(ptmx):
                os.unlink(ptmx)
            self.sys.symlink("pts/ptmx", ptmx)
        links = list(spec_defaults.DEFAULT_SYMLINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        for target, link in links:
            path = secure_join(self.rootfs, link)
            if not os.path.lexists(path):
                self.sys.symlink(target, path)

    def _device(self, d: dict[str, Any]) -> None:
        path = secure_join(self.rootfs, d["path"])
        self.sys.mkdir_all(os.path.dirname(path))
        kind = d.get("type", "c")
        mode = (d.get("fileMode") if d.get("fileMode") is not None else 0o666) & 0o7777
        if kind == "p":
            mode |= stat.S_IFIFO
        elif kind == "b":
            mode |= stat.S_IFBLK
        elif kind in ("c", "u"):
            mode |= stat.S_IFCHR
        else:
            raise InvalidParameter(f"device {d['path']}: unknown type {kind!r}")
        if self.userns or os.path.lexists(path):
            # mknod is refused in a user namespace; an existing node is bind-covered
            host = d["path"]
            if not os.path.exists(host):
                return
            self.sys.touch(path)
            self.sys.mount(host, path, None, sc.MS_BIND)
            return
        self.sys.mknod(path, mode, os.makedev(d.get("major", 0), d.get("minor", 0)))
        self.sys.chmod(path, mode & 0o7777)  # mknod applies the umask
        self.sys.chown(path, d.get("uid") or 0, d.get("gid") or 0)

    # -- the switch ----------------------------------------------------------------------
    def pivot(self, no_pivot: bool) -> None:
        """Make rootfs ``/``: pivot_root(".", ".") then detach the old root (runc's trick)."""
        self.sys.chdir(self.rootfs)
        if no_pivot:
            self.sys.mount(self.rootfs, "/", None, sc.MS_MOVE)
            self.sys.chroot(".")
        else:
            self.sys.pivot_root(".", ".")
            self.sys.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
            self.sys.umount2(".", sc.MNT_DETACH)
        self.sys.chdir("/")

    # -- after pivot_root --------------------------------------------------------------
    def finalize(self) -> None:
        if (self.config.get("root") or {}).get("readonly"):
            remount_readonly(self.sys, "/")
        self._enter_cgroup()


def readonly_paths(sys: Syscalls, paths: list[str]) -> None:
    for p in paths:
        if not os.path.lexists(p):
            continue
        sys.mount(p, p, None, sc.MS_BIND | sc.MS_REC)
        remount_readonly(sys, p, sc.MS_REC)


def mask_paths(sys: Syscalls, paths: list[str]) -> None:
    for p in paths:
        if not os.path.lexists(p):
            continue
        if os.path.isdir(p) and not os.path.islink(p):
            sys.mount("tmpfs", p, "tmpfs", sc.MS_RDONLY)
        else:
            sys.mount("/dev/null", p, None, sc.MS_BIND)


def _host_cgroup_mounts() -> list[tuple[str, str, str]]:
    """(mountpoint, fstype, super options) of the cgroup hierarchies under /sys/fs/cgroup."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            rfields = right.split()
            if len(rfields) < 3 or rfields[0] not in ("cgroup", "cgroup2"):
                continue
            mountpoint = fields[4]
            if not mountpoint.startswith("/sys/fs/cgroup/"):
                continue
            opts = ",".join(o for o in rfields[2].split(",") if o not in ("rw", "ro"))
            out.append((mountpoint, rfields[0], opts))
    return out
