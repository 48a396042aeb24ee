"""Build a minimal ELF64 x86-64 executable in memory (tests need no linker)."""

import struct

PF_X, PF_W, PF_R = 1, 2, 4


def make_elf(entry: int, segments: list[tuple[int, int, bytes, int, int]],
             machine: int = 62, elfclass: int = 2) -> bytes:
    """segments: (p_vaddr, p_paddr, file bytes, p_memsz, p_flags)."""
    phoff, phentsize = 64, 56
    data_off = phoff + phentsize * len(segments)
    phdrs, blobs = b"", b""
    for vaddr, paddr, data, memsz, flags in segments:
        off = data_off + len(blobs)
        phdrs += struct.pack("<IIQQQQQQ", 1, flags, off, vaddr, paddr, len(data), memsz, 0x1000)
        blobs += data
    ident = b"\x7fELF" + bytes([elfclass, 1, 1, 0]) + bytes(8)
    hdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, phoff, 0, 0, 64,
                              phentsize, len(segments), 64, 0, 0)
    return hdr + phdrs + blobs
