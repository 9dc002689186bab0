"""Why an ``execve`` of the container's program failed, in words a user can act on.

The kernel says ``no such file or directory`` both when the program is missing
and when a program that is there names an interpreter that is not: a shell
script with CRLF line ends (its ``#!`` line asks for ``/bin/sh\\r``), or a
dynamically linked binary whose ELF interpreter (``ld-linux``, ``ld-musl``) the
image lacks.  ``exec format error`` says nothing of which architecture the
binary is for.  Docker passes those texts on as they are; clients match on
them, so :func:`explain` keeps them and adds the cause.

Runs inside the container after pivot_root, so paths are the container's own.
The parsing is pure (:func:`cause_from_header`, tested with bytes); only
:func:`explain` opens files.
"""

from __future__ import annotations

import errno
import os
import struct

# e_machine values (<elf.h>) → the names `uname -m` prints.
ELF_MACHINES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm", 62: "x86_64",
                183: "aarch64", 243: "riscv64", 258: "loongarch64"}
_HOST_ALIASES = {"i686": "i386", "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64", "mips64": "mips"}
_PT_INTERP = 3


def elf_info(head: bytes) -> tuple[str, str | None] | None:
    """(machine name, ELF interpreter path or None) of an ELF image's first bytes; None if not ELF.

    ``head`` must reach the program headers and the interpreter string
    (4 KiB does for every binary a linker writes).
    """
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    is64 = head[4] == 2
    end = "<" if head[5] == 1 else ">"
    machine_no = struct.unpack_from(end + "H", head, 18)[0]
    machine = ELF_MACHINES.get(machine_no, f"ELF machine {machine_no}")
    try:
        if is64:
            phoff, = struct.unpack_from(end + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
        else:
            phoff, = struct.unpack_from(end + "I", head, 28)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
        for i in range(phnum):
            at = phoff + i * phentsize
            p_type, = struct.unpack_from(end + "I", head, at)
            if p_type != _PT_INTERP:
                continue
            if is64:
                offset, = struct.unpack_from(end + "Q", head, at + 8)
                size, = struct.unpack_from(end + "Q", head, at + 32)
            else:
                offset, = struct.unpack_from(end + "I", head, at + 4)
                size, = struct.unpack_from(end + "I", head, at + 16)
            raw = head[offset:offset + size]
            return machine, raw.rstrip(b"\0").decode("utf-8", "replace") or None
    except struct.error:
        pass
    return machine, None


def cause_from_header(path: str, head: bytes, err: int, host_machine: str,
                      exists: "callable[[str], bool]") -> str | None:  # type: ignore[valid-type]
    """The real cause of ``err`` from exec'ing ``path`` whose first bytes are ``head``."""
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0]
        parts = line.strip(b" \t").split(None, 1)
        interp = parts[0].decode("utf-8", "replace") if parts else ""
        if err == errno.ENOENT and (line.endswith(b"\r") or interp.endswith("\r")):
            return (f"{path} has Windows (CRLF) line endings: its first line asks for the interpreter "
                    f"{interp.rstrip(chr(13))!r} followed by a carriage return; convert the script to LF "
                    "line endings (dos2unix, or `sed -i 's/\\r$//'`)")
        if err == errno.ENOENT and interp and not exists(interp):
            return f"{path} is a script whose interpreter {interp} is not in the image"
        return None
    info = elf_info(head)
    if info is None:
        if err == errno.ENOEXEC:
            return f"{path} is neither an ELF binary nor a script with a #! line"
        return None
    machine, interp = info
    host = _HOST_ALIASES.get(host_machine, host_machine)
    if err == errno.ENOEXEC or machine != host:
        if machine != host:
            return f"{path} is an ELF binary for {machine}, and this host runs {host_machine}"
        return None
    if err == errno.ENOENT and interp and not exists(interp):
        return (f"{path} is dynamically linked, and its ELF interpreter {interp} is not in the image "
                "(a binary built for another distribution or libc?)")
    return None


def explain(path: str, err: int) -> str | None:
    """Read ``path`` and say why exec'ing it failed with ``err``; None when there is nothing to add."""
    if err not in (errno.ENOENT, errno.ENOEXEC):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(16384)
    except OSError:
        return None  # the program itself is missing: the kernel's text says it all
    return cause_from_header(path, head, err, os.uname().machine, os.path.exists)
