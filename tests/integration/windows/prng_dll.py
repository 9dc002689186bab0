"""A ``bcryptprimitives.dll`` for Wine 8, which has none.

Programs built with Rust >= 1.78 (``pydantic_core``) or Go >= 1.22 (the
``dockerfile`` wheel) import ``ProcessPrng`` from ``bcryptprimitives.dll`` at
start-up; Wine 8.0 does not ship that DLL (Wine 9 does), so they fail to load
("DLL load failed while importing _pydantic_core: Module not found", and
"fatal error: bcryptprimitives.dll not found" from the Go runtime).

This writes the smallest PE32+ DLL that has just an export table whose one
entry *forwards* ``ProcessPrng`` to ``advapi32.SystemFunction036``
(``RtlGenRandom``: same arguments, buffer and length; its BOOLEAN result is
what both callers test).  No code, no imports, no relocations: the loader
resolves the forwarder.  It goes beside ``python.exe`` (the DLL search order's
first place); on real Windows (8 and later) the system's own DLL is used.
"""

from __future__ import annotations

import pathlib
import struct

FORWARDS = {"ProcessPrng": "advapi32.SystemFunction036"}
DLL_NAME = "bcryptprimitives.dll"


def _export_section(rva: int) -> bytes:
    """The export directory and its tables, laid out from ``rva``."""
    names = sorted(FORWARDS)
    n = len(names)
    dir_size = 40
    funcs_at = rva + dir_size
    names_at = funcs_at + 4 * n
    ords_at = names_at + 4 * n
    strings_at = ords_at + 2 * n
    strings = bytearray()
    dll_name_rva = strings_at + len(strings)
    strings += DLL_NAME.encode() + b"\0"
    name_rvas, target_rvas = [], []
    for name in names:
        name_rvas.append(strings_at + len(strings))
        strings += name.encode() + b"\0"
        target_rvas.append(strings_at + len(strings))
        strings += FORWARDS[name].encode() + b"\0"
    directory = struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, dll_name_rva, 1, n, n, funcs_at, names_at, ords_at)
    body = (directory + struct.pack(f"<{n}I", *target_rvas) + struct.pack(f"<{n}I", *name_rvas)
            + struct.pack(f"<{n}H", *range(n)) + bytes(strings))
    return body


def build() -> bytes:
    section_rva, file_align, section_align = 0x1000, 0x200, 0x1000
    edata = _export_section(section_rva)
    raw_size = -(-len(edata) // file_align) * file_align
    image_size = section_rva + -(-len(edata) // section_align) * section_align
    dos = b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 240, 0x2022)  # x64, DLL, executable
    directories = [(0, 0)] * 16
    directories[0] = (section_rva, len(edata))  # the export table; every forwarder string lies inside it
    optional = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B, 14, 0, 0, raw_size, 0, 0, section_rva,  # PE32+, no code, no entry point
        0x6E400000, section_align, file_align,  # image base: relocatable (DYNAMIC_BASE) and nothing to fix
        6, 0, 0, 0, 6, 0, 0, image_size, file_align, 0,
        3, 0x0140,  # console subsystem; DYNAMIC_BASE | NX_COMPAT
        0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    ) + b"".join(struct.pack("<II", a, s) for a, s in directories)
    section = struct.pack("<8sIIIIIIHHI", b".edata", len(edata), section_rva, raw_size, file_align,
                          0, 0, 0, 0, 0x40000040)  # initialised data, readable
    headers = dos + coff + optional + section
    assert len(headers) <= file_align
    return headers.ljust(file_align, b"\0") + edata.ljust(raw_size, b"\0")


def write(directory: pathlib.Path) -> pathlib.Path:
    path = directory / DLL_NAME
    path.write_bytes(build())
    return path
