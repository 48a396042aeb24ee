"""ELF64 little-endian x86-64 ET_EXEC writer used by `toolchain.link`.

Owns only the byte format: given the loadable file image (whose first page is reserved for
the ELF header and program headers), the PT_LOAD segments, the allocated output sections and
the symbol lists, it fills in the headers and appends .symtab, .strtab, .shstrtab and the
section header table after the loadable bytes.  It makes no layout decisions of its own.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PAGE = 0x1000

PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 0, 1, 2, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_UNDEF, SHN_ABS = 0, 0xFFF1

STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")


@dataclass
class Segment:
    vaddr: int
    paddr: int
    offset: int
    filesz: int
    memsz: int
    flags: int  # PF_* bits


@dataclass
class Section:
    """An allocated output section; `offset` is its file offset (meaningless for NOBITS)."""

    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    align: int


@dataclass
class Sym:
    name: str
    value: int
    size: int
    bind: int
    type: int
    section: str | None  # output section name; None means SHN_ABS


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


class _StrTab:
    def __init__(self) -> None:
        self.buf = bytearray(b"\0")
        self._seen: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        off = self._seen.get(s)
        if off is None:
            off = self._seen[s] = len(self.buf)
            self.buf += s.encode() + b"\0"
        return off


def write_exec(
    image: bytearray,
    *,
    entry: int,
    segments: list[Segment],
    sections: list[Section],
    local_syms: list[Sym],
    global_syms: list[Sym],
) -> bytes:
    """Return the complete ELF file.  `image` holds the bytes at file offsets [0, len(image))."""
    phoff = _EHDR.size
    hdr_end = phoff + _PHDR.size * len(segments)
    first = min((s.offset for s in segments if s.filesz), default=len(image))
    if hdr_end > min(first, PAGE) or len(image) < hdr_end:
        raise ValueError("ELF headers do not fit in the reserved first page")
    out = bytearray(image)

    shstr = _StrTab()
    strtab = _StrTab()
    shidx = {s.name: i + 1 for i, s in enumerate(sections)}

    symtab = bytearray(_SYM.size)  # index 0: the null symbol
    for sym in local_syms + global_syms:
        shndx = SHN_ABS if sym.section is None else shidx[sym.section]
        info = (sym.bind << 4) | sym.type
        symtab += _SYM.pack(strtab.add(sym.name), info, 0, shndx, sym.value, sym.size)

    shdrs = [_SHDR.pack(0, SHT_NULL, 0, 0, 0, 0, 0, 0, 0, 0)]
    for s in sections:
        shdrs.append(
            _SHDR.pack(shstr.add(s.name), s.type, s.flags, s.addr, s.offset, s.size, 0, 0,
                       s.align, 0)
        )

    def append(data: bytes, align: int) -> int:
        out.extend(bytes(_align(len(out), align) - len(out)))
        off = len(out)
        out.extend(data)
        return off

    symtab_idx = len(sections) + 1
    off = append(bytes(symtab), 8)
    shdrs.append(_SHDR.pack(shstr.add(".symtab"), SHT_SYMTAB, 0, 0, off, len(symtab),
                            symtab_idx + 1, 1 + len(local_syms), 8, _SYM.size))
    off = append(bytes(strtab.buf), 1)
    shdrs.append(_SHDR.pack(shstr.add(".strtab"), SHT_STRTAB, 0, 0, off, len(strtab.buf),
                            0, 0, 1, 0))
    name = shstr.add(".shstrtab")
    off = append(bytes(shstr.buf), 1)
    shdrs.append(_SHDR.pack(name, SHT_STRTAB, 0, 0, off, len(shstr.buf), 0, 0, 1, 0))
    shoff = append(b"".join(shdrs), 8)

    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELFCLASS64, LSB, EV_CURRENT, SYSV
    out[0:_EHDR.size] = _EHDR.pack(
        ident, 2, 62, 1, entry, phoff if segments else 0, shoff, 0,  # ET_EXEC, EM_X86_64
        _EHDR.size, _PHDR.size, len(segments), _SHDR.size, len(shdrs), len(shdrs) - 1,
    )
    for i, seg in enumerate(segments):
        _PHDR.pack_into(out, phoff + i * _PHDR.size, PT_LOAD, seg.flags, seg.offset, seg.vaddr,
                        seg.paddr, seg.filesz, seg.memsz, PAGE)
    return bytes(out)
