"""A cache of compiled seccomp programs, so most container starts skip libseccomp.

Compiling Docker's default profile costs the runtime about 20 ms per
container (importing the binding, then ~300 rules through libseccomp), yet
every container of an engine gets the same profile and so the same BPF.
Like crun, we keep the compiled BPF, keyed by a digest of the profile, and
on a hit load it with one ``seccomp(2)`` call: no libseccomp, no binding.

The key is the SHA-256 of ``repr(profile)``: for the dicts, lists, strings,
numbers and booleans of a JSON document the repr is unambiguous, so equal
keys mean equal profiles (a profile written in another key order is merely
a miss).  The cache lives under the runtime's ``--root`` (a tmpfs, cleared
at boot, so a libseccomp upgrade is picked up at the latest then); entries
are written to a temporary name and renamed, so a reader never sees half of
one.  Only profiles that compiled without error are stored.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemError_

SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
SECCOMP_SET_MODE_FILTER = 1
# OCI flag -> the kernel's SECCOMP_FILTER_FLAG_* bit
KERNEL_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
SOCK_FILTER_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k


def key_of(profile: dict) -> str:
    import _sha256  # the C module: hashlib would pull in OpenSSL (several ms)

    return _sha256.sha256(repr(profile).encode()).hexdigest()


def path_of(cache_dir: str, profile: dict) -> str:
    return os.path.join(cache_dir, key_of(profile) + ".bpf")


class CachedProgram:
    """A compiled filter read back from the cache; ``load()`` installs it."""

    def __init__(self, bpf: bytes, flags: int) -> None:
        if not bpf or len(bpf) % SOCK_FILTER_SIZE:
            raise SystemError_("seccomp cache entry is not a BPF program")
        self.bpf = bpf
        self.flags = flags
        self.skipped: list[str] = []

    def load(self) -> None:
        """seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)."""
        import ctypes

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buf = ctypes.create_string_buffer(self.bpf, len(self.bpf))
        prog = SockFprog(len(self.bpf) // SOCK_FILTER_SIZE, ctypes.addressof(buf))
        libc = ctypes.CDLL(None, use_errno=True)
        nr = SYS_SECCOMP.get(os.uname().machine)
        if nr is None:
            raise SystemError_(f"seccomp: unsupported machine {os.uname().machine}")
        if libc.syscall(nr, SECCOMP_SET_MODE_FILTER, self.flags, ctypes.byref(prog)) != 0:
            err = ctypes.get_errno()
            raise SystemError_(f"load seccomp filter: {os.strerror(err)}")


def flags_of(profile: dict) -> int:
    bits = 0
    for name in profile.get("flags") or []:
        bits |= KERNEL_FLAGS.get(name, 0)
    return bits


def lookup(cache_dir: str, profile: dict) -> CachedProgram | None:
    try:
        with open(path_of(cache_dir, profile), "rb") as f:
            bpf = f.read()
    except OSError:
        return None
    if not bpf or len(bpf) % SOCK_FILTER_SIZE:
        return None  # not a program (cannot come from store(), but never trust a file): recompile
    return CachedProgram(bpf, flags_of(profile))


def store(cache_dir: str, profile: dict, program: object) -> None:
    """Write ``program``'s BPF (a compiled SeccompProgram) into the cache; best effort."""
    path = path_of(cache_dir, profile)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            program.export_bpf(fd)  # type: ignore[attr-defined]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
