"""The exec-failure explanations of the native runtime, from bytes (runtime/native/execdiag.py)."""

from __future__ import annotations

import errno
import struct

from dockyard.runtime.native.execdiag import cause_from_header, elf_info


def _elf64(machine: int, interp: bytes | None) -> bytes:
    """A minimal little-endian ELF64 header with one program header (PT_INTERP or PT_LOAD)."""
    phoff, phentsize = 64, 56
    head = bytearray(b"\x7fELF\x02\x01\x01" + bytes(9))
    head += struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0, phoff, 0, 0, 64, phentsize, 1, 0, 0, 0)
    data_at = phoff + phentsize
    p_type = 3 if interp is not None else 1
    payload = (interp or b"") + b"\0"
    head += struct.pack("<IIQQQQQQ", p_type, 4, data_at, 0, 0, len(payload), len(payload), 1)
    return bytes(head + payload)


def never(_: str) -> bool:
    return False


def test_crlf_script() -> None:
    why = cause_from_header("/app.sh", b"#!/bin/sh\r\necho\r\n", errno.ENOENT, "x86_64", lambda p: True)
    assert why and "CRLF" in why and "'/bin/sh'" in why


def test_script_with_missing_interpreter() -> None:
    why = cause_from_header("/s", b"#!/usr/bin/python3 -u\n", errno.ENOENT, "x86_64", never)
    assert why == "/s is a script whose interpreter /usr/bin/python3 is not in the image"
    assert cause_from_header("/s", b"#!/bin/sh\n", errno.ENOENT, "x86_64", lambda p: True) is None


def test_elf_parsing() -> None:
    assert elf_info(_elf64(62, b"/lib64/ld-linux-x86-64.so.2")) == ("x86_64", "/lib64/ld-linux-x86-64.so.2")
    assert elf_info(_elf64(183, None)) == ("aarch64", None)
    assert elf_info(b"#!/bin/sh") is None
    assert elf_info(b"\x7fELF\x02\x01") is None  # truncated


def test_missing_elf_interpreter() -> None:
    why = cause_from_header("/b", _elf64(62, b"/lib/ld-musl-x86_64.so.1"), errno.ENOENT, "x86_64", never)
    assert why and "ELF interpreter /lib/ld-musl-x86_64.so.1 is not in the image" in why
    assert cause_from_header("/b", _elf64(62, b"/lib/ld.so"), errno.ENOENT, "x86_64", lambda p: True) is None


def test_foreign_architecture() -> None:
    why = cause_from_header("/b", _elf64(183, None), errno.ENOEXEC, "x86_64", never)
    assert why == "/b is an ELF binary for aarch64, and this host runs x86_64"
    assert cause_from_header("/b", b"just text", errno.ENOEXEC, "x86_64", never)
