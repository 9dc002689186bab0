"""Probes for the kernel features tests rely on: skip with the reason only when the feature is absent.

Each probe takes its roots (/sys, /proc/self/mountinfo text) as arguments so
that ``tests/unit/test_probes.py`` runs it against fake trees both ways.
"""

from __future__ import annotations

import os
import platform

SECCOMP_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "armv7l": "SCMP_ARCH_ARM",
                "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64",
                "i686": "SCMP_ARCH_X86", "mips64": "SCMP_ARCH_MIPS64", "loongarch64": "SCMP_ARCH_LOONGARCH64"}


def blkio_weight_file(blkio_dir: str = "/sys/fs/cgroup/blkio") -> str | None:
    """The v1 weight file this kernel has (CFQ's ``blkio.weight`` or BFQ's), or None."""
    for name in ("blkio.weight", "blkio.bfq.weight"):
        if os.path.exists(os.path.join(blkio_dir, name)):
            return name
    return None


def hugepage_sizes(sys_root: str = "/sys") -> list[str]:
    """The huge page sizes the kernel offers, in cgroup file names' form (``2MB``, ``1GB``), smallest first."""
    try:
        entries = os.listdir(os.path.join(sys_root, "kernel/mm/hugepages"))
    except OSError:
        return []
    kbs = sorted(int(e[len("hugepages-"):-2]) for e in entries if e.startswith("hugepages-") and e.endswith("kB"))
    out = []
    for kb in kbs:
        if kb >= 1 << 20:
            out.append(f"{kb >> 20}GB")
        elif kb >= 1 << 10:
            out.append(f"{kb >> 10}MB")
        else:
            out.append(f"{kb}KB")
    return out


def swap_accounting(memory_dir: str = "/sys/fs/cgroup/memory") -> bool:
    """cgroup v1 ``memory.memsw.*`` (swap accounting, off unless the kernel was booted with it)."""
    return os.path.exists(os.path.join(memory_dir, "memory.memsw.limit_in_bytes"))


def absent_cpu(ncpu: int | None = None) -> int:
    """A CPU number this host does not have (for tests that expect a cpuset to be refused)."""
    return (ncpu if ncpu is not None else os.cpu_count() or 1) + 64


def seccomp_arch(machine: str | None = None) -> str | None:
    """libseccomp's name for this host's native architecture (None: one the tests do not know)."""
    return SECCOMP_ARCH.get(machine or platform.machine())


def cgroup2_mount(mountinfo: str | None = None) -> str | None:
    """Where a cgroup2 file system is mounted (the unified hierarchy, or v1 hosts' /sys/fs/cgroup/unified)."""
    if mountinfo is None:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mountinfo = f.read()
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return left.split()[4]
    return None


def cgroup_v2(root: str = "/sys/fs/cgroup") -> bool:
    """Whether the host runs the unified hierarchy (cgroup v2) at ``root``."""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def cgroup_dir(controller: str, path: str, root: str = "/sys/fs/cgroup") -> str:
    """The host directory of cgroup ``path`` for ``controller``: per controller on v1, one tree on v2."""
    return root + path if cgroup_v2(root) else os.path.join(root, controller) + path
