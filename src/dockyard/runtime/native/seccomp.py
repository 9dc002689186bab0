"""Seccomp filters from OCI ``linux.seccomp``, compiled by libseccomp.

:func:`compile_filter` runs in the runtime before anything is forked: it
validates the whole profile (actions, architectures, operators, flags) and
builds a libseccomp filter context, so a bad profile is one clear error and
no container process ever starts.  The container process then calls
:meth:`SeccompProgram.load` as late as possible (after no_new_privs, right
before exec, as runc does).

Semantics follow runc: a syscall name libseccomp cannot resolve on this
architecture is skipped (recorded in ``SeccompProgram.skipped``); a rule
whose action equals the default action is skipped; several conditions on
the same argument become separate rules (OR) instead of one (AND).  The
filter does not set no_new_privs itself (``CTL_NNP`` off): that is the
spec's ``process.noNewPrivileges`` for the runtime to honour.  Without
no_new_privs, loading a filter needs CAP_SYS_ADMIN, so the runtime must then
load it before dropping capabilities.

The binding is pyseccomp (ctypes over libseccomp.so.2), imported lazily and
without its ``find_library`` calls, which would cost tens of milliseconds of
``ldconfig``/``gcc`` subprocesses at every container start.
"""

from __future__ import annotations

import os
import sys

from dockyard.errors import InvalidParameter, SystemError_

EPERM = 1

_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
            "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")

_OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
              "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

# SCMP_ARCH_* -> libseccomp's AUDIT_ARCH_* token (EM_* | 64BIT 0x80000000 | LE 0x40000000).
_ARCHES = {
    "SCMP_ARCH_X86": 0x40000003,
    "SCMP_ARCH_X86_64": 0xC000003E,
    "SCMP_ARCH_X32": 0x4000003E,
    "SCMP_ARCH_ARM": 0x40000028,
    "SCMP_ARCH_AARCH64": 0xC00000B7,
    "SCMP_ARCH_MIPS": 0x00000008,
    "SCMP_ARCH_MIPS64": 0x80000008,
    "SCMP_ARCH_MIPS64N32": 0xA0000008,
    "SCMP_ARCH_MIPSEL": 0x40000008,
    "SCMP_ARCH_MIPSEL64": 0xC0000008,
    "SCMP_ARCH_MIPSEL64N32": 0xE0000008,
    "SCMP_ARCH_PPC": 0x00000014,
    "SCMP_ARCH_PPC64": 0x80000015,
    "SCMP_ARCH_PPC64LE": 0xC0000015,
    "SCMP_ARCH_S390": 0x00000016,
    "SCMP_ARCH_S390X": 0x80000016,
    "SCMP_ARCH_PARISC": 0x0000000F,
    "SCMP_ARCH_PARISC64": 0x8000000F,
    "SCMP_ARCH_RISCV64": 0xC00000F3,
}

# OCI filter flag -> libseccomp attribute (pyseccomp.Attr values).
_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 4, "SECCOMP_FILTER_FLAG_LOG": 6,
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 7}

_ATTR_CTL_NNP = 3
_NR_SCMP_ERROR = -1


def _pyseccomp():  # -> module
    """Import pyseccomp, answering its two find_library() calls directly."""
    mod = sys.modules.get("pyseccomp")
    if mod is not None:
        return mod
    import ctypes
    import types

    real = sys.modules.get("ctypes.util")
    if real is None:
        sonames = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}
        fake = types.ModuleType("ctypes.util")
        fake.find_library = sonames.get  # type: ignore[attr-defined]
        sys.modules["ctypes.util"] = fake
        ctypes.util = fake  # type: ignore[attr-defined]
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError) as exc:
        raise SystemError_(f"seccomp needs libseccomp (libseccomp2) and pyseccomp: {exc}") from None
    finally:
        if real is None:
            del sys.modules["ctypes.util"]
            del ctypes.util  # type: ignore[attr-defined]
    return pyseccomp


class SeccompProgram:
    """A validated, compiled filter; ``load()`` installs it in the calling process."""

    def __init__(self, filt: object, skipped: list[str], rules: int) -> None:
        self._filter = filt
        self.skipped = skipped  # syscall names unknown on this architecture
        self.rules = rules      # number of libseccomp rules added

    def load(self) -> None:
        """seccomp_load: install the filter (irreversible for this process)."""
        try:
            self._filter.load()  # type: ignore[attr-defined]
        except OSError as exc:
            raise SystemError_(f"load seccomp filter: {exc.strerror or exc}") from None

    def export_bpf(self, fd: int) -> None:
        """Write the generated BPF program to ``fd`` (for debugging and tests)."""
        with os.fdopen(os.dup(fd), "wb") as f:
            self._filter.export_bpf(f)  # type: ignore[attr-defined]


def _action(sc, name: object, errno_ret: object, where: str, default_errno: int = EPERM) -> int:
    if name not in _ACTIONS:
        raise InvalidParameter(f'unknown seccomp action "{name}" in {where}')
    if errno_ret is not None and (isinstance(errno_ret, bool) or not isinstance(errno_ret, int) or errno_ret < 0):
        raise InvalidParameter(f"errnoRet must be a non-negative integer in {where}")
    if errno_ret is not None and name not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        raise InvalidParameter(f"errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE ({where})")
    code = default_errno if errno_ret is None else errno_ret
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return sc.KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return sc.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return sc.TRAP
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(code)
    if name == "SCMP_ACT_TRACE":
        return sc.TRACE(code)
    if name == "SCMP_ACT_ALLOW":
        return sc.ALLOW
    if name == "SCMP_ACT_LOG":
        return sc.LOG
    raise InvalidParameter(
        f"seccomp action SCMP_ACT_NOTIFY ({where}) needs a seccomp agent (listenerPath), "
        "which dockyard-runtime does not support")


def _uint(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise InvalidParameter(f"{what} must be an unsigned 64-bit integer, not {value!r}")
    return value


def _conditions(sc, args: object, where: str) -> list[tuple[int, object]]:
    """[(index, pyseccomp.Arg)] for a rule's ``args``."""
    if args is None:
        return []
    if not isinstance(args, list):
        raise InvalidParameter(f"{where}.args must be a list")
    out = []
    for j, a in enumerate(args):
        w = f"{where}.args[{j}]"
        if not isinstance(a, dict):
            raise InvalidParameter(f"{w} must be an object")
        index = a.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 5:
            raise InvalidParameter(f"{w}.index must be between 0 and 5, not {index!r}")
        op = a.get("op")
        if op not in _OPERATORS:
            raise InvalidParameter(f'unknown seccomp operator "{op}" in {w}')
        value = _uint(a.get("value", 0), f"{w}.value")
        value_two = _uint(a.get("valueTwo", 0), f"{w}.valueTwo")
        out.append((index, sc.Arg(index, _OPERATORS[op], value, value_two)))
    return out


def cache_dir(runtime_root: str) -> str:
    """Where the runtime under ``--root`` keeps compiled filters (see ``seccomp_cache``)."""
    return os.path.join(runtime_root, ".seccomp-cache")


def compile_filter(linux_seccomp: dict | None, cache_dir: str | None = None) -> SeccompProgram | None:
    """Validate OCI ``linux.seccomp`` and compile it; ``None`` -> no filter.

    Raises InvalidParameter for an unknown action, architecture, operator or
    flag, or a malformed entry; unknown syscall names are skipped (runc).
    With ``cache_dir``, a profile compiled before is loaded from its cached
    BPF instead (see ``seccomp_cache``), and a new one is cached.
    """
    if linux_seccomp is None:
        return None
    if cache_dir is not None and isinstance(linux_seccomp, dict):
        from dockyard.runtime.native import seccomp_cache

        cached = seccomp_cache.lookup(cache_dir, linux_seccomp)
        if cached is not None:
            return cached  # type: ignore[return-value]
        program = compile_filter(linux_seccomp)
        if program is not None:
            seccomp_cache.store(cache_dir, linux_seccomp, program)
        return program
    if not isinstance(linux_seccomp, dict):
        raise InvalidParameter("linux.seccomp must be an object")
    s = linux_seccomp
    for key in ("listenerPath", "listenerMetadata"):
        if s.get(key):
            raise InvalidParameter(f"linux.seccomp.{key}: seccomp agents (SCMP_ACT_NOTIFY) are not supported")
    # Validate the cheap parts before loading libseccomp.
    if "defaultAction" not in s:
        raise InvalidParameter("linux.seccomp.defaultAction is required")
    arches = s.get("architectures") or []
    if not isinstance(arches, list):
        raise InvalidParameter("linux.seccomp.architectures must be a list")
    for a in arches:
        if a not in _ARCHES:
            raise InvalidParameter(f'unknown seccomp architecture "{a}" in linux.seccomp.architectures')
    flags = s.get("flags") or []
    if not isinstance(flags, list):
        raise InvalidParameter("linux.seccomp.flags must be a list")
    for fl in flags:
        if fl not in _FLAGS:
            raise InvalidParameter(f'unsupported seccomp flag "{fl}" in linux.seccomp.flags')
    syscalls = s.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise InvalidParameter("linux.seccomp.syscalls must be a list")

    sc = _pyseccomp()
    default = _action(sc, s["defaultAction"], None, "linux.seccomp.defaultAction",
                      default_errno=_default_errno(s))
    try:
        filt = sc.SyscallFilter(default)
        filt.set_attr(_ATTR_CTL_NNP, 0)
        for fl in flags:
            filt.set_attr(_FLAGS[fl], 1)
        for a in arches:
            try:
                filt.add_arch(_ARCHES[a])
            except OSError as exc:
                if exc.errno != 17:  # EEXIST: the native arch is always there
                    raise InvalidParameter(f"seccomp architecture {a} is not supported here: {exc.strerror}") from None
    except OSError as exc:
        raise SystemError_(f"create seccomp filter: {exc.strerror or exc}") from None

    skipped: list[str] = []
    rules = 0
    for i, entry in enumerate(syscalls):
        where = f"linux.seccomp.syscalls[{i}]"
        if not isinstance(entry, dict):
            raise InvalidParameter(f"{where} must be an object")
        names = entry.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise InvalidParameter(f"{where}.names must be a non-empty list of syscall names")
        action = _action(sc, entry.get("action"), entry.get("errnoRet"), where)
        conds = _conditions(sc, entry.get("args"), where)
        if action == default:
            continue  # libseccomp refuses a rule equal to the default; runc skips it
        indexes = [ix for ix, _ in conds]
        groups = [[c] for _, c in conds] if len(set(indexes)) < len(indexes) else [[c for _, c in conds]]
        for name in names:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if nr == _NR_SCMP_ERROR:
                skipped.append(name)
                continue
            for group in groups:
                try:
                    filt.add_rule(action, nr, *group)
                except OSError as exc:
                    raise InvalidParameter(
                        f"seccomp rule for {name} in {where} was refused by libseccomp: {exc.strerror}") from None
                rules += 1
    return SeccompProgram(filt, skipped, rules)


def _default_errno(s: dict) -> int:
    value = s.get("defaultErrnoRet")
    if value is None:
        return EPERM
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameter("linux.seccomp.defaultErrnoRet must be a non-negative integer")
    if s.get("defaultAction") not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        raise InvalidParameter("linux.seccomp.defaultErrnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
    return value
