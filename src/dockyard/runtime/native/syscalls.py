"""The one thin facade over the kernel calls the runtime makes.

Every call that changes the container's world goes through a ``Syscalls``
object, so the start sequence in ``init.py`` reads as an ordered list of named
steps and a unit test can replace this object with a recording fake to check
the order security depends on (youki's ``Syscall`` trait).  Each failure raises
``OSError`` whose message names the operation and the path.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# clone(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount_setattr(2)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_NOSYMFOLLOW = 0x00200000

# netdevice(7) ioctls
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24

CLOSE_RANGE_CLOEXEC = 1 << 2

_SYSCALL_NR = {
    # name: (x86_64, aarch64 / generic)
    "pivot_root": (155, 41),
    "close_range": (436, 436),
    "setns": (308, 268),
    "unshare": (272, 97),
    "mount_setattr": (442, 442),
}


class Syscalls:
    """Real kernel calls through libc (ctypes is imported only when needed)."""

    def __init__(self) -> None:
        import ctypes  # ~8 ms: only the commands that change namespaces pay it

        self._ctypes = ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._generic = os.uname().machine != "x86_64"

    # -- helpers -----------------------------------------------------------------
    def _check(self, ret: int, op: str, path: str = "") -> int:
        if ret < 0:
            err = self._ctypes.get_errno()
            raise OSError(err, f"{op} {path}: {os.strerror(err)}".replace("  ", " "))
        return ret

    def _syscall(self, name: str, *args: Any) -> int:
        nr = _SYSCALL_NR[name][1 if self._generic else 0]
        return self._libc.syscall(nr, *args)

    @staticmethod
    def _b(value: str | None) -> bytes | None:
        return None if value is None else os.fsencode(value)

    # -- namespaces ----------------------------------------------------------------
    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), "unshare", hex(flags))

    def setns(self, fd: int, nstype: int, path: str = "") -> None:
        self._check(self._libc.setns(fd, nstype), "setns", path or str(fd))

    # -- mounts ----------------------------------------------------------------------
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        ret = self._libc.mount(self._b(source), self._b(target), self._b(fstype),
                               self._ctypes.c_ulong(flags), self._b(data))
        self._check(ret, f"mount {fstype or ''} {source or ''} on", target)

    def mount_setattr_recursive(self, target: str, attr_set: int, attr_clr: int) -> None:
        """mount_setattr(2) with AT_RECURSIVE: change flags of ``target`` and every mount below it
        (what the OCI ``rro``/``rnosuid``/... options ask for; Linux >= 5.12)."""
        ct = self._ctypes

        class MountAttr(ct.Structure):
            _fields_ = [("attr_set", ct.c_uint64), ("attr_clr", ct.c_uint64),
                        ("propagation", ct.c_uint64), ("userns_fd", ct.c_uint64)]

        attr = MountAttr(attr_set, attr_clr, 0, 0)
        ret = self._syscall("mount_setattr", ct.c_int(AT_FDCWD), self._b(target),
                            ct.c_uint(AT_RECURSIVE | AT_SYMLINK_NOFOLLOW), ct.byref(attr),
                            ct.c_size_t(ct.sizeof(attr)))
        self._check(ret, "mount_setattr (recursive)", target)

    def umount2(self, target: str, flags: int = 0) -> None:
        self._check(self._libc.umount2(self._b(target), flags), "umount", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._check(self._syscall("pivot_root", self._b(new_root), self._b(put_old)), "pivot_root", new_root)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    # -- files -------------------------------------------------------------------------
    def mkdir_all(self, path: str, mode: int = 0o755) -> None:
        os.makedirs(path, mode, exist_ok=True)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode, follow_symlinks=False) if not os.path.islink(path) else None

    def touch(self, path: str, mode: int = 0o644) -> None:
        """Create an empty file (a bind-mount target) if nothing is there."""
        if not os.path.lexists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, mode))

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid, follow_symlinks=False)

    def symlink(self, target: str, path: str) -> None:
        os.symlink(target, path)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def link_up(self, name: str) -> None:
        """Set IFF_UP on the interface ``name`` of this network namespace (SIOCSIFFLAGS)."""
        import fcntl
        import socket
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            ifreq = struct.pack("16sH14x", name.encode(), 0)
            try:
                flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq))[1]
                if not flags & IFF_UP:
                    fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", name.encode(), flags | IFF_UP))
            except OSError as exc:
                raise OSError(exc.errno, f"set link {name} up: {exc.strerror}") from None

    # -- identity --------------------------------------------------------------------------
    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), "sethostname", name)

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.setdomainname(raw, len(raw)), "setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        c = self._ctypes.c_ulong
        return self._check(self._libc.prctl(option, c(arg2), c(arg3), c(arg4), c(arg5)), "prctl", str(option))

    def setrlimit(self, resource_no: int, soft: int, hard: int) -> None:
        import resource

        resource.setrlimit(resource_no, (soft, hard))

    def setgroups(self, gids: list[int]) -> None:
        os.setgroups(gids)

    def setresgid(self, gid: int) -> None:
        os.setresgid(gid, gid, gid)

    def setresuid(self, uid: int) -> None:
        os.setresuid(uid, uid, uid)

    def umask(self, mask: int) -> None:
        os.umask(mask)

    def close_range_cloexec(self, first: int) -> None:
        """Mark every fd >= ``first`` close-on-exec (CVE-2024-21626 class)."""
        ret = self._syscall("close_range", self._ctypes.c_uint(first), self._ctypes.c_uint(0xFFFFFFFF),
                            self._ctypes.c_uint(CLOSE_RANGE_CLOEXEC))
        if ret < 0:  # kernel < 5.11: walk the fd table
            for name in os.listdir("/proc/self/fd"):
                fd = int(name)
                if fd >= first:
                    try:
                        os.set_inheritable(fd, False)
                    except OSError:
                        pass

    def reset_signals(self) -> None:
        """Default disposition for every signal the runtime's interpreter ignores.

        An ignored signal stays ignored across execve, and Python ignores
        SIGPIPE and SIGXFSZ (an engine may add SIGINT): without this the user
        program would inherit them (``yes | head`` would never end by SIGPIPE).
        Handled signals reset by themselves at execve.
        """
        import _signal  # not `signal`: it imports enum

        for signum in range(1, _signal.NSIG):
            try:
                if _signal.getsignal(signum) == _signal.SIG_IGN:
                    _signal.signal(signum, _signal.SIG_DFL)
            except (OSError, ValueError):  # SIGKILL, SIGSTOP, the C library's own
                pass

    # -- security modules (the other helper's libraries, called through the facade) --------
    def load_seccomp(self, program: Any) -> None:
        program.load()

    def drop_bounding(self, capsets: Any) -> None:
        """PR_CAPBSET_DROP for every capability outside ``capsets.bounding``.

        Done here with the facade's one libc handle: ``caps.drop_bounding`` opens
        libc per call, ~40 times (2–3 ms of the container's start).
        """
        from dockyard.runtime.native import caps

        for number in range(caps.last_cap() + 1):
            if number not in capsets.bounding:
                try:
                    self.prctl(PR_CAPBSET_DROP, number)
                except OSError as exc:
                    raise OSError(exc.errno, f"drop {caps.cap_name(number)} from the bounding set: "
                                             f"{os.strerror(exc.errno)}") from None

    def keep_caps(self, on: bool) -> None:
        self.prctl(PR_SET_KEEPCAPS, 1 if on else 0)

    def apply_caps(self, capsets: Any) -> None:
        from dockyard.runtime.native import caps

        caps.apply(capsets)

    def execve(self, path: str, args: list[str], env: dict[str, str]) -> None:
        os.execve(path, args, env)
